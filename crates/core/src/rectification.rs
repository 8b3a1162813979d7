//! Rectification within a time limit (责令限期整改, art. 25): a leader orders a finding of
//! supervision mended by a responsible person within a number of working days; the person
//! answers with what was done; the leader accepts the answer or reopens the order with a new
//! limit. The rules here are the order's checks and the moves its state may make; the
//! catalogue keeps every step, and the trail enters each one.

use serde::{Deserialize, Serialize};

/// The most working days a limit may give: a quarter.
pub const MAX_WORKING_DAYS: u32 = 60;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RectificationState {
    /// Waiting for the responsible person's answer, due by the limit.
    Ordered,
    /// Answered; waiting for the leader.
    Answered,
    /// Mended, as the leader accepted.
    Accepted,
}

/// What someone does to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RectificationStep {
    Order,
    Answer,
    Accept,
    Reopen,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RectificationError {
    #[error("an order that is {state} cannot be {step}")]
    WrongState {
        state: &'static str,
        step: &'static str,
    },
    #[error("{field}: {problem}")]
    Bad {
        field: &'static str,
        problem: String,
    },
}

impl RectificationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Answered => "answered",
            Self::Accepted => "accepted",
        }
    }

    /// The state `step` moves an order in this state to.
    pub fn after(self, step: RectificationStep) -> Result<Self, RectificationError> {
        use RectificationState::*;
        use RectificationStep::*;
        match (self, step) {
            (Ordered, Answer) => Ok(Answered),
            (Answered, Accept) => Ok(Accepted),
            (Answered, Reopen) => Ok(Ordered),
            _ => Err(RectificationError::WrongState {
                state: self.as_str(),
                step: step.past_tense(),
            }),
        }
    }
}

impl std::str::FromStr for RectificationState {
    type Err = RectificationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "ordered" => Ok(Self::Ordered),
            "answered" => Ok(Self::Answered),
            "accepted" => Ok(Self::Accepted),
            other => Err(RectificationError::Bad {
                field: "state",
                problem: format!("{other:?} is not ordered, answered or accepted"),
            }),
        }
    }
}

impl RectificationStep {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Answer => "answer",
            Self::Accept => "accept",
            Self::Reopen => "reopen",
        }
    }

    fn past_tense(self) -> &'static str {
        match self {
            Self::Order => "ordered",
            Self::Answer => "answered",
            Self::Accept => "accepted",
            Self::Reopen => "reopened",
        }
    }
}

impl std::str::FromStr for RectificationStep {
    type Err = RectificationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "order" => Ok(Self::Order),
            "answer" => Ok(Self::Answer),
            "accept" => Ok(Self::Accept),
            "reopen" => Ok(Self::Reopen),
            other => Err(RectificationError::Bad {
                field: "step",
                problem: format!("{other:?} is not a step"),
            }),
        }
    }
}

/// Checks a limit in working days.
pub fn check_limit(working_days: u32) -> Result<u32, RectificationError> {
    if (1..=MAX_WORKING_DAYS).contains(&working_days) {
        Ok(working_days)
    } else {
        Err(RectificationError::Bad {
            field: "within_working_days",
            problem: format!("{working_days} must be 1 to {MAX_WORKING_DAYS}"),
        })
    }
}

/// Checks a piece of text people write (what to mend, what was done, why reopened): trimmed,
/// not empty, at most `max` characters, no control characters but line breaks.
pub fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
) -> Result<String, RectificationError> {
    let text = text.trim();
    let bad = |problem: &str| RectificationError::Bad {
        field,
        problem: problem.to_owned(),
    };
    if text.is_empty() {
        return Err(bad("must not be empty"));
    }
    if text.chars().count() > max {
        return Err(bad(&format!("is longer than {max} characters")));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(bad("holds control characters"));
    }
    Ok(text.to_owned())
}

/// Whether an order is overdue at `now`: still waiting for its answer after its limit.
pub fn overdue(
    state: RectificationState,
    due_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    state == RectificationState::Ordered && now > due_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use RectificationState::*;
    use RectificationStep::*;

    #[test]
    fn an_order_is_answered_then_accepted_or_reopened_and_nothing_else() {
        assert_eq!(Ordered.after(Answer), Ok(Answered));
        assert_eq!(Answered.after(Accept), Ok(Accepted));
        assert_eq!(Answered.after(Reopen), Ok(Ordered));
        for (state, step) in [
            (Ordered, Accept),
            (Ordered, Reopen),
            (Ordered, Order),
            (Answered, Answer),
            (Accepted, Answer),
            (Accepted, Reopen),
            (Accepted, Accept),
        ] {
            assert!(
                matches!(
                    state.after(step),
                    Err(RectificationError::WrongState { .. })
                ),
                "{state:?} {step:?}"
            );
        }
        assert_eq!(
            Accepted.after(Reopen).unwrap_err().to_string(),
            "an order that is accepted cannot be reopened"
        );
        for state in [Ordered, Answered, Accepted] {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
    }

    #[test]
    fn limits_and_texts_are_checked() {
        assert_eq!(check_limit(5), Ok(5));
        assert!(check_limit(0).is_err() && check_limit(61).is_err());
        assert_eq!(
            check_text("answer", "  已补录并说明  ", 10),
            Ok("已补录并说明".into())
        );
        assert!(check_text("answer", "  ", 10).is_err());
        assert!(check_text("answer", "a\u{7}b", 10).is_err());
        assert!(check_text("answer", &"长".repeat(11), 10).is_err());
    }

    #[test]
    fn only_an_unanswered_order_past_its_limit_is_overdue() {
        let due = chrono::DateTime::parse_from_rfc3339("2026-10-09T15:59:59Z")
            .unwrap()
            .to_utc();
        let after = due + chrono::Duration::seconds(1);
        assert!(overdue(Ordered, due, after));
        assert!(!overdue(Ordered, due, due));
        assert!(!overdue(Answered, due, after) && !overdue(Accepted, due, after));
    }
}
