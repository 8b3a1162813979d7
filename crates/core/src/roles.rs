//! Who may do what. Every credential carries one role within one bureau; an action not
//! listed for a role is refused (deny by default).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A collection station or an officer: uploads and reads the bureau's footage.
    Officer,
    /// Archive staff (档案管理员): classify, name, manage cases and devices.
    Archivist,
    /// A leader (领导): approves copies; may also classify and manage cases.
    Leader,
    /// Reads everything of the bureau, changes nothing.
    Auditor,
    /// Administers the bureau.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Upload,
    Read,
    Classify,
    ManageCases,
    ManageDevices,
    /// Long-term class, legal holds, restoring from the recycle bin.
    ManageRetention,
    /// Reading the audit trail.
    ReadAudit,
    /// Exporting evidence packages (art. 20).
    Export,
    /// Asking for a copy for a party (art. 23).
    RequestCopy,
    /// Approving or refusing a copy request (art. 23: a leader's approval).
    ApproveCopy,
    /// Setting a clip's confidentiality (art. 24).
    SetConfidentiality,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Officer,
        Role::Archivist,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Officer => "officer",
            Self::Archivist => "archivist",
            Self::Leader => "leader",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
        }
    }

    // A table reads better than one long `matches!`: a row per grant.
    #[allow(clippy::match_like_matches_macro)]
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match (self, action) {
            (_, Read) => true,
            (Officer | Admin, Upload) => true,
            (Archivist | Leader | Admin, Classify | ManageCases) => true,
            (Archivist | Admin, ManageDevices) => true,
            (Archivist | Leader | Admin, ManageRetention) => true,
            (Auditor | Admin, ReadAudit) => true,
            (Leader | Admin, Export) => true,
            (Officer | Archivist | Leader | Admin, RequestCopy) => true,
            (Leader, ApproveCopy) => true,
            (Leader | Admin, SetConfidentiality) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role {0:?} (officer, archivist, leader, auditor, admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_roles_may_act() {
        assert!(Role::Officer.may(Action::Upload));
        assert!(!Role::Officer.may(Action::Classify));
        assert!(!Role::Auditor.may(Action::Upload));
        assert!(!Role::Auditor.may(Action::Classify));
        assert!(Role::Archivist.may(Action::Classify));
        assert!(!Role::Leader.may(Action::ManageDevices));
        for role in Role::ALL {
            assert!(role.may(Action::Read));
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}

/// How confidential a clip is (art. 24). Who may see a clip at all depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Confidentiality {
    /// Every role of the bureau.
    Ordinary,
    /// Staff only: not the officers' and collection stations' tokens.
    Internal,
    /// Only the roles named for secret footage (by default leader, auditor, admin).
    Secret,
}

impl Confidentiality {
    pub const ALL: [Confidentiality; 3] = [Self::Ordinary, Self::Internal, Self::Secret];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordinary => "ordinary",
            Self::Internal => "internal",
            Self::Secret => "secret",
        }
    }

    /// The levels a role may see, given the roles named for secret footage.
    pub fn visible_to(role: Role, secret_roles: &[Role]) -> Vec<Confidentiality> {
        Self::ALL
            .into_iter()
            .filter(|level| match level {
                Self::Ordinary => true,
                Self::Internal => role != Role::Officer,
                Self::Secret => secret_roles.contains(&role),
            })
            .collect()
    }
}

impl FromStr for Confidentiality {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownRole(format!("confidentiality {s}")))
    }
}

/// The roles that see secret footage unless configured otherwise.
pub const DEFAULT_SECRET_ROLES: [Role; 3] = [Role::Leader, Role::Auditor, Role::Admin];

#[cfg(test)]
mod confidentiality_tests {
    use super::*;

    #[test]
    fn secret_footage_is_for_the_named_roles_only() {
        let visible = |role| Confidentiality::visible_to(role, &DEFAULT_SECRET_ROLES);
        assert_eq!(visible(Role::Officer), vec![Confidentiality::Ordinary]);
        assert_eq!(
            visible(Role::Archivist),
            vec![Confidentiality::Ordinary, Confidentiality::Internal]
        );
        assert_eq!(visible(Role::Leader), Confidentiality::ALL.to_vec());
        assert!(!Confidentiality::visible_to(Role::Leader, &[Role::Admin])
            .contains(&Confidentiality::Secret));
        assert_eq!(
            "secret".parse::<Confidentiality>().unwrap(),
            Confidentiality::Secret
        );
        assert!("top".parse::<Confidentiality>().is_err());
    }
}
