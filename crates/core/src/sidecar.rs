//! The record kept beside each original in the blob store (art. 19: records protected from
//! loss), so that a lost catalogue can be rebuilt from storage alone: who recorded it, with
//! which device, when, its receipt's SHA-256, its file name, how it was classified and which
//! cases hold it. Each sidecar is signed with the deployment's audit key, so a rebuild takes
//! nothing from the bucket that the deployment did not write. A purged original leaves a
//! tombstone that keeps its identity and hash but none of its description (kept no longer
//! than the law says).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Where sidecars live in the blob store: `records/<bureau>/<clip id>.json`.
pub const SIDECAR_PREFIX: &str = "records/";

/// What the signature covers, before the record's bytes.
const SIGNING_CONTEXT: &[u8] = b"custodian-original-record-v1\n";

/// The blob key of a clip's sidecar.
pub fn sidecar_key(bureau: &str, clip: &str) -> String {
    format!("{SIDECAR_PREFIX}{bureau}/{clip}.json")
}

/// Everything the catalogue knows of one original that a rebuild can put back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OriginalRecord {
    pub clip_id: String,
    pub bureau: String,
    pub bureau_name: String,
    pub object_key: String,
    pub size_bytes: u64,
    /// The receipt's SHA-256, lowercase hex.
    pub sha256: String,
    pub received_at: DateTime<Utc>,
    /// When written: a rebuild keeps the newest of two sidecars of one clip.
    pub written_at: DateTime<Utc>,
    /// Set when the original was purged under the retention rules: the rest is then empty.
    pub purged_at: Option<DateTime<Utc>>,
    pub upload: Option<RecordedUpload>,
    /// Every version of its classification, oldest first.
    pub classifications: Vec<RecordedClassification>,
    pub cases: Vec<RecordedCase>,
}

/// What the upload declared and the catalogue derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedUpload {
    pub device: String,
    pub officer: String,
    pub recorded_at: DateTime<Utc>,
    pub original_name: String,
    pub case_ref: Option<String>,
    pub place: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub returned_at: Option<DateTime<Utc>>,
    pub late_reason: Option<String>,
    pub uploaded_by: Option<String>,
    pub kind: Option<String>,
    pub document_type: Option<String>,
    pub confidentiality: String,
    pub long_term_reason: Option<String>,
    pub legal_hold: bool,
}

/// One version of the clip's classification (art. 17).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedClassification {
    pub category: String,
    pub description: String,
    pub place: Option<String>,
    pub important: bool,
    pub matter: Option<String>,
    pub party: Option<String>,
    pub canonical_name: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// A case that holds the clip, as it stood when the sidecar was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCase {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub state: String,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_on: Option<NaiveDate>,
    pub filing_due_at: Option<DateTime<Utc>>,
    pub filed_at: Option<DateTime<Utc>>,
    pub calendar_complete: bool,
    pub case_type: Option<String>,
    pub long_term: bool,
    pub linked_at: DateTime<Utc>,
    pub linked_by: String,
}

impl OriginalRecord {
    /// What is kept of a purged original: its identity and hash, nothing of what it showed.
    pub fn tombstone(&self, purged_at: DateTime<Utc>) -> Self {
        OriginalRecord {
            purged_at: Some(purged_at),
            upload: None,
            classifications: Vec::new(),
            cases: Vec::new(),
            ..self.clone()
        }
    }
}

/// A sidecar as stored: the record's exact bytes and the signature over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedSidecar {
    /// The record as JSON text, kept as text so the signed bytes are the stored bytes.
    pub record: String,
    /// ed25519 over the signing context and `record`, hex.
    pub signature: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SidecarError {
    #[error("the sidecar is not JSON of a signed record: {0}")]
    Malformed(String),
    #[error(
        "the sidecar's signature is not the deployment's: written by someone else, or changed"
    )]
    BadSignature,
    #[error("the sidecar at {key} describes clip {clip} of bureau {bureau}: moved or forged")]
    Misplaced {
        key: String,
        clip: String,
        bureau: String,
    },
}

fn message(record: &str) -> Vec<u8> {
    [SIGNING_CONTEXT, record.as_bytes()].concat()
}

/// The bytes to store for `record`.
pub fn seal(record: &OriginalRecord, key: &SigningKey) -> Vec<u8> {
    // A struct of strings, numbers and times always serialises.
    let text = serde_json::to_string(record).unwrap_or_default();
    let signature = key.sign(&message(&text));
    serde_json::to_vec_pretty(&SignedSidecar {
        record: text,
        signature: hex::encode(signature.to_bytes()),
    })
    .unwrap_or_default()
}

/// The record stored at `key`, if the deployment signed it and it names the place it is at.
pub fn open(
    key: &str,
    bytes: &[u8],
    public: &VerifyingKey,
) -> Result<OriginalRecord, SidecarError> {
    let sealed: SignedSidecar =
        serde_json::from_slice(bytes).map_err(|e| SidecarError::Malformed(e.to_string()))?;
    let signature: [u8; 64] = hex::decode(&sealed.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SidecarError::BadSignature)?;
    public
        .verify(&message(&sealed.record), &Signature::from_bytes(&signature))
        .map_err(|_| SidecarError::BadSignature)?;
    let record: OriginalRecord =
        serde_json::from_str(&sealed.record).map_err(|e| SidecarError::Malformed(e.to_string()))?;
    if sidecar_key(&record.bureau, &record.clip_id) != key {
        return Err(SidecarError::Misplaced {
            key: key.to_owned(),
            clip: record.clip_id,
            bureau: record.bureau,
        });
    }
    Ok(record)
}

/// What the first entry of an audit chain restarted after a rebuild says, for people.
pub fn restart_detail(
    lost_after: Option<(i64, DateTime<Utc>)>,
    originals: usize,
    at: DateTime<Utc>,
) -> String {
    let at = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    match lost_after {
        Some((seq, anchored_at)) => format!(
            "catalogue rebuilt from storage at {at} with {originals} originals; the trail before \
             this entry was lost with the catalogue: entries 1 to {seq} are vouched for by the \
             checkpoint anchored at {}, entries after {seq} and before this one are lost without trace",
            anchored_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        None => format!(
            "catalogue rebuilt from storage at {at} with {originals} originals; no anchored \
             checkpoint survived, so nothing of the trail before this entry can be vouched for"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record() -> OriginalRecord {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap();
        OriginalRecord {
            clip_id: "0190f6a8-0000-7000-8000-000000000001".into(),
            bureau: "b1".into(),
            bureau_name: "应急管理局".into(),
            object_key: "originals/b1/2026/03/01/0190f6a8-0000-7000-8000-000000000001.mp4".into(),
            size_bytes: 42,
            sha256: "ab".repeat(32),
            received_at: at,
            written_at: at,
            purged_at: None,
            upload: Some(RecordedUpload {
                device: "cam-1".into(),
                officer: "o-1".into(),
                recorded_at: at,
                original_name: "现场.mp4".into(),
                case_ref: None,
                place: Some("厂区".into()),
                latitude: Some(36.066_123_456_789),
                longitude: Some(120.382_1),
                returned_at: None,
                late_reason: None,
                uploaded_by: Some("station".into()),
                kind: Some("video".into()),
                document_type: None,
                confidentiality: "ordinary".into(),
                long_term_reason: None,
                legal_hold: false,
            }),
            classifications: Vec::new(),
            cases: Vec::new(),
        }
    }

    #[test]
    fn a_sealed_record_opens_only_unchanged_under_its_key_and_with_its_key() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let record = record();
        let at = sidecar_key(&record.bureau, &record.clip_id);
        let bytes = seal(&record, &key);
        assert_eq!(open(&at, &bytes, &key.verifying_key()), Ok(record.clone()));

        // Another deployment's key.
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert_eq!(open(&at, &bytes, &other), Err(SidecarError::BadSignature));

        // One character of the record changed (the officer).
        let changed = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("o-1", "o-2");
        assert_eq!(
            open(&at, changed.as_bytes(), &key.verifying_key()),
            Err(SidecarError::BadSignature)
        );

        // A genuine sidecar copied under another clip's key.
        assert!(matches!(
            open("records/b2/x.json", &bytes, &key.verifying_key()),
            Err(SidecarError::Misplaced { .. })
        ));
        assert!(matches!(
            open(&at, b"not json", &key.verifying_key()),
            Err(SidecarError::Malformed(_))
        ));
    }

    #[test]
    fn a_tombstone_keeps_identity_and_hash_and_nothing_it_showed() {
        let record = record();
        let purged = Utc.with_ymd_and_hms(2028, 3, 2, 0, 0, 0).unwrap();
        let tomb = record.tombstone(purged);
        assert_eq!(tomb.purged_at, Some(purged));
        assert_eq!((tomb.clip_id, tomb.sha256), (record.clip_id, record.sha256));
        assert!(tomb.upload.is_none() && tomb.classifications.is_empty() && tomb.cases.is_empty());
    }
}
