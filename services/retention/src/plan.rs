//! What the schedule will do in the coming days: which clips will be archived, moved to the
//! recycle bin and purged, and when. `custodian retention plan` prints it; the API serves a
//! bureau its own part.

use chrono::{DateTime, Duration, Months, Utc};
use custodian_core::retention::{decide, Retention as Decision, RetentionFacts, RetentionPolicy};
use custodian_core::{BureauId, ClipId};
use custodian_platform::catalogue::{CatalogueError, ClipRecord, RetentionRepo};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PlanEntry {
    #[schema(value_type = String, format = Uuid)]
    pub clip_id: ClipId,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    pub canonical_name: Option<String>,
    /// `archive`, `recycle` or `purge`.
    pub action: &'static str,
    pub due: DateTime<Utc>,
    pub reason: String,
    /// For filtering by who may see the clip; not shown.
    #[serde(skip)]
    #[schema(ignore)]
    pub confidentiality: custodian_core::roles::Confidentiality,
}

fn entry(clip: &ClipRecord, action: &'static str, due: DateTime<Utc>, reason: String) -> PlanEntry {
    PlanEntry {
        confidentiality: clip.confidentiality,
        clip_id: clip.id,
        bureau: clip.bureau.clone(),
        canonical_name: clip.canonical_name.clone(),
        action,
        due,
        reason,
    }
}

/// The plan for the `days` after `now`, for one bureau or all.
pub async fn plan(
    catalogue: &dyn RetentionRepo,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
    days: u32,
    bureau: Option<&BureauId>,
) -> Result<Vec<PlanEntry>, CatalogueError> {
    let horizon = now + Duration::days(i64::from(days));
    let recycle_for = Duration::days(i64::from(policy.recycle_days));
    let mine = |clip: &ClipRecord| bureau.is_none_or(|b| &clip.bureau == b);
    let mut entries = Vec::new();
    for clip in catalogue
        .archive_candidates(10_000)
        .await?
        .iter()
        .filter(|c| mine(c))
    {
        let reason = format!(
            "long-term: {}",
            clip.long_term_reason.as_deref().unwrap_or("?")
        );
        entries.push(entry(clip, "archive", now, reason));
    }
    if let Some(recorded_before) =
        horizon.checked_sub_months(Months::new(policy.ordinary_years() * 12))
    {
        for clip in catalogue
            .expiry_candidates(recorded_before, 100_000)
            .await?
            .iter()
            .filter(|c| mine(c))
        {
            let facts = RetentionFacts {
                recorded_at: clip.recorded_at,
                long_term: None,
                legal_hold: false,
                cases: catalogue.case_facts(clip.id).await?,
            };
            if let Decision::Expired { since } = decide(policy, &facts, horizon) {
                let due = since.max(now);
                entries.push(entry(
                    clip,
                    "recycle",
                    due,
                    format!("retention runs out on {since}"),
                ));
                if due + recycle_for <= horizon {
                    entries.push(entry(
                        clip,
                        "purge",
                        due + recycle_for,
                        "its time in the recycle bin ends".into(),
                    ));
                }
            }
        }
    }
    for clip in catalogue
        .purge_candidates(horizon, 100_000)
        .await?
        .iter()
        .filter(|c| mine(c))
    {
        let due = clip.recycle_until.unwrap_or(now).max(now);
        entries.push(entry(
            clip,
            "purge",
            due,
            "its time in the recycle bin ends".into(),
        ));
    }
    entries.sort_by_key(|entry| (entry.due, entry.clip_id));
    Ok(entries)
}
