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
    /// A region's administrator: reads the records, audit trails and reports of every bureau
    /// of the region (naming the bureau per request), changes nothing anywhere.
    #[serde(rename = "region-admin")]
    RegionAdmin,
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
    /// Listing the bureau's API tokens and people's accounts (never their secrets).
    ReadCredentials,
    /// Revoking, rotating and dating tokens; disabling and enabling people's accounts.
    ManageCredentials,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Officer,
        Role::Archivist,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
        Role::RegionAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Officer => "officer",
            Self::Archivist => "archivist",
            Self::Leader => "leader",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
            Self::RegionAdmin => "region-admin",
        }
    }

    /// Whether the role may act on other bureaus than its own (read only, by [`Role::may`]).
    pub fn spans_bureaus(self) -> bool {
        self == Self::RegionAdmin
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
            (Auditor | Admin | RegionAdmin, ReadAudit) => true,
            (Leader | Admin, Export) => true,
            (Officer | Archivist | Leader | Admin, RequestCopy) => true,
            (Leader, ApproveCopy) => true,
            (Leader | Admin, SetConfidentiality) => true,
            (Admin | RegionAdmin, ReadCredentials) => true,
            (Admin, ManageCredentials) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("unknown role {0:?} (officer, archivist, leader, auditor, admin, region-admin)")]
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
        for action in [
            Action::Upload,
            Action::Classify,
            Action::ManageCases,
            Action::ManageDevices,
            Action::ManageRetention,
            Action::Export,
            Action::RequestCopy,
            Action::ApproveCopy,
            Action::SetConfidentiality,
            Action::ManageCredentials,
        ] {
            assert!(!Role::RegionAdmin.may(action), "{action:?}");
        }
        assert!(Role::RegionAdmin.may(Action::ReadAudit));
        assert!(Role::RegionAdmin.may(Action::ReadCredentials));
        // Only a bureau's admin manages who may get in, and sees who may.
        for role in Role::ALL {
            assert_eq!(role.may(Action::ManageCredentials), role == Role::Admin);
            assert_eq!(
                role.may(Action::ReadCredentials),
                matches!(role, Role::Admin | Role::RegionAdmin)
            );
        }
        assert!(Role::RegionAdmin.spans_bureaus() && !Role::Admin.spans_bureaus());
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

/// The roles a deployment names for secret footage (art. 24), checked: known roles, at least
/// one, none twice, and never officers (who do not even see internal footage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRoles(Vec<Role>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRolesError {
    #[error("names no role; at least one role must see secret footage")]
    Empty,
    #[error(transparent)]
    Unknown(#[from] UnknownRole),
    #[error("names {0} twice")]
    Repeated(Role),
    #[error("names officer, who may not see internal footage, let alone secret")]
    Officer,
}

impl SecretRoles {
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, SecretRolesError> {
        let mut roles = Vec::new();
        for name in names {
            let role: Role = name.as_ref().trim().parse()?;
            if role == Role::Officer {
                return Err(SecretRolesError::Officer);
            }
            if roles.contains(&role) {
                return Err(SecretRolesError::Repeated(role));
            }
            roles.push(role);
        }
        if roles.is_empty() {
            return Err(SecretRolesError::Empty);
        }
        Ok(Self(roles))
    }

    pub fn roles(&self) -> &[Role] {
        &self.0
    }
}

impl Default for SecretRoles {
    fn default() -> Self {
        Self(DEFAULT_SECRET_ROLES.to_vec())
    }
}

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
        assert_eq!(
            SecretRoles::parse(&["leader", " admin"]).unwrap().roles(),
            &[Role::Leader, Role::Admin]
        );
        assert_eq!(SecretRoles::default().roles(), &DEFAULT_SECRET_ROLES);
        assert_eq!(
            SecretRoles::parse::<&str>(&[]),
            Err(SecretRolesError::Empty)
        );
        assert!(matches!(
            SecretRoles::parse(&["leader", "chief"]),
            Err(SecretRolesError::Unknown(_))
        ));
        assert_eq!(
            SecretRoles::parse(&["admin", "admin"]),
            Err(SecretRolesError::Repeated(Role::Admin))
        );
        assert_eq!(
            SecretRoles::parse(&["officer"]),
            Err(SecretRolesError::Officer)
        );
        assert!("top".parse::<Confidentiality>().is_err());
    }
}
