//! Who may do what. Every credential carries one role within one bureau; an action not
//! listed for a role is refused (deny by default).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::LocalId;

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
    /// Playing the footage itself: viewing copy, poster, subtitles. A region admin oversees
    /// the bureaus' records, deadlines and trails, not the pictures of the people filmed.
    WatchFootage,
    /// Classifying and describing any clip of the bureau (art. 17).
    Classify,
    /// Classifying and describing the clips one recorded oneself or one's team recorded
    /// (art. 17 puts the duty on the enforcement officers); see [`Role::may_classify`].
    ClassifyOwn,
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
    /// Importing the plan's enforcement tasks, and marking any task's recordings (art. 6,
    /// 25); a task's own officers mark theirs with `ClassifyOwn`.
    ManageTasks,
    /// Ordering a finding rectified within a limit, and accepting or reopening the answer
    /// (责令限期整改, art. 25: the unit's leadership); the responsible person answers.
    OrderRectification,
}

impl Action {
    /// What the action is, for a person reading a refusal ("an archivist may not upload").
    pub fn describe(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Read => "read the catalogue",
            Self::WatchFootage => "watch footage",
            Self::Classify => "classify footage",
            Self::ClassifyOwn => "classify the footage they or their team recorded",
            Self::ManageCases => "manage cases",
            Self::ManageDevices => "manage devices",
            Self::ManageRetention => "manage retention and legal holds",
            Self::ReadAudit => "read the audit trail",
            Self::Export => "export evidence",
            Self::RequestCopy => "ask for a copy for a party",
            Self::ApproveCopy => "decide copy requests",
            Self::SetConfidentiality => "set confidentiality",
            Self::ReadCredentials => "list the bureau's tokens and accounts",
            Self::ManageCredentials => "revoke, date or rotate tokens, or disable accounts",
            Self::ManageTasks => "manage enforcement tasks",
            Self::OrderRectification => "order or decide rectifications",
        }
    }
}

impl Role {
    /// The role with its indefinite article, as a sentence names it: "an archivist".
    pub fn with_article(self) -> String {
        let article = if self.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {}", self.as_str())
    }

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
            (Officer | Archivist | Leader | Auditor | Admin, WatchFootage) => true,
            (Officer | Admin, Upload) => true,
            (Archivist | Leader | Admin, Classify | ManageCases | ManageTasks) => true,
            (Officer, ClassifyOwn) => true,
            (Archivist | Admin, ManageDevices) => true,
            (Archivist | Leader | Admin, ManageRetention) => true,
            (Auditor | Admin | RegionAdmin, ReadAudit) => true,
            (Leader | Admin, Export) => true,
            (Officer | Archivist | Leader | Admin, RequestCopy) => true,
            (Leader, ApproveCopy) => true,
            (Leader | Admin, SetConfidentiality) => true,
            (Leader, OrderRectification) => true,
            (Admin | RegionAdmin, ReadCredentials) => true,
            (Admin, ManageCredentials) => true,
            _ => false,
        }
    }
}

/// The officer a credential speaks for, and their team: set on officers' users and tokens,
/// absent on collection stations' tokens and on staff, who act for no one officer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficerIdentity {
    pub officer: Option<LocalId>,
    pub team: Option<String>,
}

impl OfficerIdentity {
    pub fn is_empty(&self) -> bool {
        self.officer.is_none() && self.team.is_none()
    }
}

/// Who recorded a clip: the officer the upload named and the team its camera belonged to in
/// the device registry when it arrived (none if the camera was not registered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedBy<'a> {
    pub officer: &'a LocalId,
    pub team: Option<&'a str>,
}

impl Role {
    /// Whether a credential of this role, speaking for `me`, may classify and describe a clip
    /// (art. 17): staff who classify may do so for every clip of the bureau; an officer for
    /// the clips they recorded and those of their team, and a credential that speaks for no
    /// officer (a collection station) for none.
    pub fn may_classify(self, me: &OfficerIdentity, clip: RecordedBy<'_>) -> bool {
        if self.may(Action::Classify) {
            return true;
        }
        if !self.may(Action::ClassifyOwn) {
            return false;
        }
        let own = me.officer.as_ref() == Some(clip.officer);
        let team =
            matches!((me.team.as_deref(), clip.team), (Some(mine), Some(theirs)) if mine == theirs);
        own || team
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
    fn refusals_read_as_sentences() {
        assert_eq!(
            format!(
                "{} may not {}",
                Role::Archivist.with_article(),
                Action::Upload.describe()
            ),
            "an archivist may not upload"
        );
        assert_eq!(Role::Leader.with_article(), "a leader");
        assert_eq!(Role::Officer.with_article(), "an officer");
    }

    #[test]
    fn only_listed_roles_may_act() {
        assert!(Role::Officer.may(Action::Upload));
        assert!(!Role::Officer.may(Action::Classify));
        assert!(Role::Officer.may(Action::ClassifyOwn));
        assert!(!Role::Archivist.may(Action::ClassifyOwn));
        assert!(!Role::Auditor.may(Action::Upload));
        assert!(!Role::Auditor.may(Action::Classify));
        assert!(Role::Archivist.may(Action::Classify));
        assert!(!Role::Leader.may(Action::ManageDevices));
        for action in [
            Action::Upload,
            Action::Classify,
            Action::ClassifyOwn,
            Action::ManageCases,
            Action::ManageDevices,
            Action::ManageRetention,
            Action::Export,
            Action::RequestCopy,
            Action::ApproveCopy,
            Action::SetConfidentiality,
            Action::WatchFootage,
            Action::ManageCredentials,
            Action::OrderRectification,
        ] {
            assert!(!Role::RegionAdmin.may(action), "{action:?}");
        }
        // A rectification is ordered by the leadership, never by the one who answers it.
        for role in Role::ALL {
            assert_eq!(role.may(Action::OrderRectification), role == Role::Leader);
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

    #[test]
    fn officers_classify_their_own_and_their_teams_clips_only() {
        let officer = |id: &str| LocalId::parse("officer id", id).unwrap();
        let zhang = officer("031234");
        let li = officer("035678");
        let me = OfficerIdentity {
            officer: Some(zhang.clone()),
            team: Some("一中队".into()),
        };
        let recorded = |officer, team| RecordedBy { officer, team };
        // Their own clip, whatever camera; a teammate's clip on the team's camera.
        assert!(Role::Officer.may_classify(&me, recorded(&zhang, None)));
        assert!(Role::Officer.may_classify(&me, recorded(&li, Some("一中队"))));
        // Another team's clip, or a clip of an unregistered camera by someone else.
        assert!(!Role::Officer.may_classify(&me, recorded(&li, Some("二中队"))));
        assert!(!Role::Officer.may_classify(&me, recorded(&li, None)));
        // A credential that speaks for no officer (a collection station) classifies nothing,
        // and no team matches a clip without a team.
        let station = OfficerIdentity::default();
        assert!(station.is_empty());
        assert!(!Role::Officer.may_classify(&station, recorded(&zhang, None)));
        let teamless = OfficerIdentity {
            officer: None,
            team: Some("一中队".into()),
        };
        assert!(!Role::Officer.may_classify(&teamless, recorded(&li, None)));
        // Staff who classify do so for every clip; roles that do not, for none, even their
        // own.
        for role in [Role::Archivist, Role::Leader, Role::Admin] {
            assert!(role.may_classify(&station, recorded(&li, Some("二中队"))));
        }
        for role in [Role::Auditor, Role::RegionAdmin] {
            assert!(!role.may_classify(&me, recorded(&zhang, Some("一中队"))));
        }
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
