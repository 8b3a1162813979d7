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
