//! The events of a clip's life and the subjects they travel on. A deployment chooses the
//! subject prefix (`custodian` in production; tests use a prefix of their own so their
//! streams never overlap); the rest of the subject is fixed here.

use crate::ClipId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    ClipStored,
    ClipTranscoded,
    ClipFingerprinted,
    ClipCatalogued,
    /// A leader approved a party's copy request: its watermarked copy is to be made.
    CopyApproved,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::ClipStored,
        Topic::ClipTranscoded,
        Topic::ClipFingerprinted,
        Topic::ClipCatalogued,
        Topic::CopyApproved,
    ];

    /// The subject after the prefix, e.g. `v1.clip.stored`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::ClipStored => "v1.clip.stored",
            Self::ClipTranscoded => "v1.clip.transcoded",
            Self::ClipFingerprinted => "v1.clip.fingerprinted",
            Self::ClipCatalogued => "v1.clip.catalogued",
            Self::CopyApproved => "v1.copy.approved",
        }
    }

    pub fn subject(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.suffix())
    }

    /// A message id for a copy request's event: one per request and round, like
    /// [`Topic::message_id`] for clips.
    pub fn copy_message_id(self, request: uuid::Uuid, round: u32) -> String {
        let name = self.suffix().rsplit('.').next().unwrap_or("event");
        if round == 0 {
            format!("copy-{request}.{name}")
        } else {
            format!("copy-{request}.{name}.r{round}")
        }
    }

    /// Where messages on this topic go when they could not be handled.
    pub fn dead_letter_subject(self, prefix: &str) -> String {
        format!(
            "{prefix}.v1.dead.{}",
            self.suffix().trim_start_matches("v1.")
        )
    }

    pub fn from_subject(prefix: &str, subject: &str) -> Option<Topic> {
        let suffix = subject.strip_prefix(prefix)?.strip_prefix('.')?;
        Self::ALL.into_iter().find(|topic| topic.suffix() == suffix)
    }

    /// A message id for the bus's duplicate detection: one event per clip and topic, so a
    /// retried publish inside the duplicate window is dropped. `round` lets the reconciler
    /// publish again on purpose once a clip is known to be stuck.
    pub fn message_id(self, clip: ClipId, round: u32) -> String {
        let name = self.suffix().rsplit('.').next().unwrap_or("event");
        if round == 0 {
            format!("{clip}.{name}")
        } else {
            format!("{clip}.{name}.r{round}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_under_a_prefix() {
        for topic in Topic::ALL {
            let subject = topic.subject("t-1a2b");
            assert_eq!(Topic::from_subject("t-1a2b", &subject), Some(topic));
            assert_eq!(Topic::from_subject("custodian", &subject), None);
        }
        assert_eq!(
            Topic::ClipStored.subject("custodian"),
            "custodian.v1.clip.stored"
        );
        assert_eq!(
            Topic::ClipStored.dead_letter_subject("custodian"),
            "custodian.v1.dead.clip.stored"
        );
        assert_eq!(
            Topic::CopyApproved.dead_letter_subject("custodian"),
            "custodian.v1.dead.copy.approved"
        );
    }

    #[test]
    fn message_ids_repeat_only_within_a_round() {
        let clip = ClipId::from_parts(1, [1; 10]);
        assert_eq!(
            Topic::ClipStored.message_id(clip, 0),
            Topic::ClipStored.message_id(clip, 0)
        );
        assert_ne!(
            Topic::ClipStored.message_id(clip, 0),
            Topic::ClipStored.message_id(clip, 1)
        );
        assert_ne!(
            Topic::ClipStored.message_id(clip, 0),
            Topic::ClipCatalogued.message_id(clip, 0)
        );
    }
}
