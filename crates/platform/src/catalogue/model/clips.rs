//! Clips and what is known about them, and their rows.

use chrono::{DateTime, Utc};
use custodian_core::records::RecordKind;
use custodian_core::{BureauId, ClipId, ClipState, LocalId, Sha256Digest};
use serde::Serialize;
use uuid::Uuid;

use super::corrupt;
use crate::catalogue::CatalogueError;

/// One version of a GPS track uploaded beside a clip; versions are never replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrackVersion {
    pub version: i64,
    #[serde(skip)]
    #[schema(ignore)]
    pub object_key: String,
    /// The track file's SHA-256 (hex), as copies made with it record it.
    pub sha256: String,
    pub size_bytes: i64,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ClipRecord {
    #[schema(value_type = String, format = Uuid)]
    pub id: ClipId,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    #[schema(value_type = String)]
    pub device: LocalId,
    #[schema(value_type = String)]
    pub officer: LocalId,
    pub recorded_at: DateTime<Utc>,
    pub original_name: String,
    pub case_ref: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub object_key: String,
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the original.
    #[schema(value_type = String)]
    pub sha256: Sha256Digest,
    pub state: ClipState,
    pub state_changed_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub failure_reason: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub publish_round: u32,
    pub canonical_name: Option<String>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub place: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub important: bool,
    pub classified_at: Option<DateTime<Utc>>,
    pub classified_by: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub schedule: Option<ClipSchedule>,
    /// Why it is kept long-term (art. 21), as `code` or `other:TEXT`.
    pub long_term_reason: Option<String>,
    pub legal_hold: bool,
    pub archived_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    #[schema(ignore)]
    pub archive_key: Option<String>,
    /// Until when the archive copy is locked against deletion (absent: the archive store
    /// cannot lock objects).
    pub archive_locked_until: Option<DateTime<Utc>>,
    /// In the recycle bin until then.
    pub recycle_until: Option<DateTime<Utc>>,
    /// When the original and its copies were removed; the record stays as a tombstone.
    pub purged_at: Option<DateTime<Utc>>,
    /// When the scrub last re-hashed the original and found it intact.
    pub verified_at: Option<DateTime<Utc>>,
    pub confidentiality: custodian_core::roles::Confidentiality,
    /// Who uploaded it (`Caller::person`); absent on clips from before it was kept.
    #[serde(skip)]
    #[schema(ignore)]
    pub uploaded_by: Option<String>,
    /// Where `latitude`/`longitude` came from: `declared` by the upload, or `file` (the
    /// recording's own ISO 6709 location tag, found by the media workers).
    pub location_source: Option<String>,
    /// The team the camera belonged to in the device registry when the clip arrived (art.
    /// 15); its officers may classify the clip (art. 17).
    pub team: Option<String>,
    /// Whether the camera was in the device registry when the clip arrived: false flags an
    /// upload from an unregistered device; absent for clips that arrived before this was
    /// recorded.
    pub device_registered: Option<bool>,
    /// The enforcement matter (执法事项, art. 12 (3)), named when classifying.
    pub matter: Option<String>,
    /// The party (当事人, art. 12 (3)), named when classifying.
    pub party: Option<String>,
    /// When the officer returned to the office, as the upload said (art. 16 counts the upload
    /// deadlines from it); absent when the upload did not say.
    pub returned_at: Option<DateTime<Utc>>,
    /// The special circumstance (特殊情况) the upload gave for arriving more than 24 hours
    /// after the return.
    pub late_reason: Option<String>,
    /// What the record is (art. 5): video, audio, photo or document; absent until the media
    /// workers have looked at the file.
    pub kind: Option<RecordKind>,
    /// A document's type (送达回证, 询问笔录, ...), from the configured list.
    pub document_type: Option<String>,
}

/// Something found wrong with a clip (a checksum mismatch, a missing object, ...).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub severity: String,
    pub detail: String,
    /// Where in the clip, in seconds from its first frame (continuity findings).
    pub position_seconds: Option<f64>,
    /// How long the gap or jump is, in seconds (continuity findings).
    pub size_seconds: Option<f64>,
}

/// A finding as a worker reports it; the worker's name is its `source`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFinding {
    pub kind: String,
    pub severity: String,
    pub detail: String,
    pub position_seconds: Option<f64>,
    pub size_seconds: Option<f64>,
}

/// What probing the original says, as either media worker saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MediaFacts {
    pub container: Option<String>,
    pub duration_seconds: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub frame_rate: Option<f64>,
    /// The display rotation as ffprobe states it: counter-clockwise degrees (0, 90, 180, 270).
    pub rotation: Option<u32>,
    /// The file's own creation time tag.
    pub creation_time: Option<DateTime<Utc>>,
    /// What dates the viewing copy's frames: `file_clock` (the creation time agreed with the
    /// declared time) or `declared` (no file clock, or one set aside; see the findings).
    pub time_source: Option<String>,
    /// Where the file says it was recorded (its ISO 6709 `location` tag), in WGS 84 degrees.
    pub file_latitude: Option<f64>,
    pub file_longitude: Option<f64>,
    /// What the file turned out to be.
    pub kind: Option<RecordKind>,
    pub audio_channels: Option<u32>,
    pub audio_sample_rate: Option<u32>,
    /// A document's pages.
    pub page_count: Option<u32>,
    /// The text of a document, for search; kept with the record, not in its media facts.
    #[serde(skip)]
    #[schema(ignore)]
    pub content_text: Option<String>,
    /// The sound's Chromaprint fingerprint, for `/similar`; never shown.
    #[serde(skip)]
    #[schema(ignore)]
    pub sound_fingerprint: Option<Vec<u32>>,
}

/// The viewing copy and its companions, under keys derived from the clip id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    pub view_key: String,
    pub subtitles_key: String,
    pub poster_key: String,
    pub view_size_bytes: u64,
    /// The SHA-256 of the GPS track version the copy was made with, if any.
    pub track_sha256: Option<String>,
}

/// Everything the media workers recorded about a clip.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ClipMedia {
    #[serde(flatten)]
    pub facts: MediaFacts,
    #[serde(skip)]
    #[schema(ignore)]
    pub rendition: Option<Rendition>,
    pub view_size_bytes: Option<u64>,
    /// The SHA-256 of the GPS track version the viewing copy was made with, if any.
    pub track_sha256: Option<String>,
    pub transcoded_at: Option<DateTime<Utc>>,
    pub fingerprinted_at: Option<DateTime<Utc>>,
    /// Seconds of the clip with a perceptual hash.
    pub fingerprint_seconds: usize,
}

/// When a clip's deadlines fall due, fixed when it is catalogued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipSchedule {
    pub upload_due: DateTime<Utc>,
    pub upload_hard_due: DateTime<Utc>,
    pub classify_due: DateTime<Utc>,
    pub calendar_complete: bool,
}

/// A classification as it was made, for the clip's history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ClassificationEntry {
    pub at: DateTime<Utc>,
    pub by: String,
    pub category: String,
    pub description: String,
    pub place: Option<String>,
    pub important: bool,
    pub canonical_name: String,
    pub matter: Option<String>,
    pub party: Option<String>,
}

/// A rectangle of latitude and longitude, for "clips recorded here".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Transition {
    pub from: Option<ClipState>,
    pub to: ClipState,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// What a list of clips may be narrowed by. `before` is the cursor: the id of the last clip
/// of the previous page.
#[derive(Debug, Clone, Default)]
pub struct ClipFilter {
    pub device: Option<String>,
    pub officer: Option<String>,
    pub state: Option<ClipState>,
    pub case_ref: Option<String>,
    pub recorded_from: Option<DateTime<Utc>>,
    pub recorded_to: Option<DateTime<Utc>>,
    pub category: Option<String>,
    /// Clips linked to this case.
    pub case_id: Option<Uuid>,
    pub within: Option<BoundingBox>,
    /// Text in names, descriptions, places and original file names.
    pub text: Option<String>,
    pub important: Option<bool>,
    pub classified: Option<bool>,
    /// Only clips whose classification was due before this time and is not done.
    pub classification_overdue_at: Option<DateTime<Utc>>,
    /// Only clips with a finding of this severity (e.g. `critical`).
    pub finding_severity: Option<String>,
    /// Only clips of these confidentiality levels (those the caller may see); `None`: all.
    pub visible: Option<Vec<custodian_core::roles::Confidentiality>>,
    /// Only clips whose camera was (true) or was not (false) registered when they arrived.
    pub device_registered: Option<bool>,
    /// Only records of this kind.
    pub kind: Option<RecordKind>,
    /// Only documents of this type.
    pub document_type: Option<String>,
    pub before: Option<ClipId>,
}

pub(in crate::catalogue) const CLIP_COLUMNS: &str = "id, bureau_id, device_id, officer_id, recorded_at, original_name, case_ref, object_key, \
     size_bytes, sha256, state, state_changed_at, received_at, failure_reason, publish_round, canonical_name, category, \
     description, place, latitude, longitude, important, classified_at, classified_by, upload_due_at, upload_hard_due_at, \
     classify_due_at, calendar_complete, long_term_reason, legal_hold, archived_at, archive_key, archive_locked_until, \
     recycle_until, purged_at, verified_at, confidentiality, location_source, team, device_registered, matter, party, \
     returned_at, late_reason, uploaded_by, kind, document_type";

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct ClipRow {
    id: Uuid,
    bureau_id: String,
    device_id: String,
    officer_id: String,
    recorded_at: DateTime<Utc>,
    original_name: String,
    case_ref: Option<String>,
    object_key: String,
    size_bytes: i64,
    sha256: String,
    state: String,
    state_changed_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    failure_reason: Option<String>,
    publish_round: i32,
    canonical_name: Option<String>,
    category: Option<String>,
    description: Option<String>,
    place: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    important: bool,
    classified_at: Option<DateTime<Utc>>,
    classified_by: Option<String>,
    upload_due_at: Option<DateTime<Utc>>,
    upload_hard_due_at: Option<DateTime<Utc>>,
    classify_due_at: Option<DateTime<Utc>>,
    calendar_complete: bool,
    long_term_reason: Option<String>,
    legal_hold: bool,
    archived_at: Option<DateTime<Utc>>,
    archive_key: Option<String>,
    archive_locked_until: Option<DateTime<Utc>>,
    recycle_until: Option<DateTime<Utc>>,
    purged_at: Option<DateTime<Utc>>,
    verified_at: Option<DateTime<Utc>>,
    confidentiality: String,
    location_source: Option<String>,
    team: Option<String>,
    device_registered: Option<bool>,
    matter: Option<String>,
    party: Option<String>,
    returned_at: Option<DateTime<Utc>>,
    late_reason: Option<String>,
    uploaded_by: Option<String>,
    kind: Option<String>,
    document_type: Option<String>,
}

impl TryFrom<ClipRow> for ClipRecord {
    type Error = CatalogueError;
    fn try_from(row: ClipRow) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(ClipRecord {
            id: ClipId::from_uuid(id),
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| corrupt(id, e))?,
            device: LocalId::parse("device id", &row.device_id).map_err(|e| corrupt(id, e))?,
            officer: LocalId::parse("officer id", &row.officer_id).map_err(|e| corrupt(id, e))?,
            recorded_at: row.recorded_at,
            original_name: row.original_name,
            case_ref: row.case_ref,
            object_key: row.object_key,
            size_bytes: u64::try_from(row.size_bytes).map_err(|e| corrupt(id, e))?,
            sha256: row.sha256.parse().map_err(|e| corrupt(id, e))?,
            state: row.state.parse().map_err(|e| corrupt(id, e))?,
            state_changed_at: row.state_changed_at,
            received_at: row.received_at,
            failure_reason: row.failure_reason,
            publish_round: u32::try_from(row.publish_round).map_err(|e| corrupt(id, e))?,
            canonical_name: row.canonical_name,
            category: row.category,
            description: row.description,
            place: row.place,
            latitude: row.latitude,
            longitude: row.longitude,
            important: row.important,
            classified_at: row.classified_at,
            classified_by: row.classified_by,
            schedule: match (
                row.upload_due_at,
                row.upload_hard_due_at,
                row.classify_due_at,
            ) {
                (Some(upload_due), Some(upload_hard_due), Some(classify_due)) => {
                    Some(ClipSchedule {
                        upload_due,
                        upload_hard_due,
                        classify_due,
                        calendar_complete: row.calendar_complete,
                    })
                }
                _ => None,
            },
            long_term_reason: row.long_term_reason,
            legal_hold: row.legal_hold,
            archived_at: row.archived_at,
            archive_key: row.archive_key,
            archive_locked_until: row.archive_locked_until,
            recycle_until: row.recycle_until,
            purged_at: row.purged_at,
            verified_at: row.verified_at,
            confidentiality: row.confidentiality.parse().map_err(|e| corrupt(id, e))?,
            location_source: row.location_source,
            team: row.team,
            device_registered: row.device_registered,
            matter: row.matter,
            party: row.party,
            returned_at: row.returned_at,
            late_reason: row.late_reason,
            uploaded_by: row.uploaded_by,
            kind: row
                .kind
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| corrupt(id, e))?,
            document_type: row.document_type,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct TransitionRow {
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct ClassificationRow {
    pub at: DateTime<Utc>,
    pub by_whom: String,
    pub category: String,
    pub description: String,
    pub place: Option<String>,
    pub important: bool,
    pub canonical_name: String,
    pub matter: Option<String>,
    pub party: Option<String>,
}

impl From<ClassificationRow> for ClassificationEntry {
    fn from(row: ClassificationRow) -> Self {
        Self {
            at: row.at,
            by: row.by_whom,
            category: row.category,
            description: row.description,
            place: row.place,
            important: row.important,
            canonical_name: row.canonical_name,
            matter: row.matter,
            party: row.party,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct FindingRow {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub severity: String,
    pub detail: String,
    pub position_seconds: Option<f64>,
    pub size_seconds: Option<f64>,
}

impl From<FindingRow> for Finding {
    fn from(row: FindingRow) -> Self {
        Self {
            at: row.at,
            kind: row.kind,
            severity: row.severity,
            detail: row.detail,
            position_seconds: row.position_seconds,
            size_seconds: row.size_seconds,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct MediaRow {
    pub container: Option<String>,
    pub duration_seconds: Option<f64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub frame_rate: Option<f64>,
    pub rotation: Option<i32>,
    pub creation_time: Option<DateTime<Utc>>,
    pub time_source: Option<String>,
    pub file_latitude: Option<f64>,
    pub file_longitude: Option<f64>,
    pub audio_channels: Option<i32>,
    pub audio_sample_rate: Option<i32>,
    pub page_count: Option<i32>,
    pub view_key: Option<String>,
    pub subtitles_key: Option<String>,
    pub poster_key: Option<String>,
    pub view_size_bytes: Option<i64>,
    pub transcoded_at: Option<DateTime<Utc>>,
    pub fingerprint: Option<Vec<u8>>,
    pub fingerprinted_at: Option<DateTime<Utc>>,
    pub track_sha256: Option<String>,
}

impl From<MediaRow> for ClipMedia {
    fn from(row: MediaRow) -> Self {
        let rendition = match (row.view_key, row.subtitles_key, row.poster_key) {
            (Some(view_key), Some(subtitles_key), Some(poster_key)) => Some(Rendition {
                view_key,
                subtitles_key,
                poster_key,
                view_size_bytes: row.view_size_bytes.unwrap_or(0).max(0) as u64,
                track_sha256: row.track_sha256.clone(),
            }),
            _ => None,
        };
        Self {
            facts: MediaFacts {
                container: row.container,
                duration_seconds: row.duration_seconds,
                width: row.width.map(|w| w.max(0) as u32),
                height: row.height.map(|h| h.max(0) as u32),
                video_codec: row.video_codec,
                audio_codec: row.audio_codec,
                frame_rate: row.frame_rate,
                rotation: row.rotation.map(|r| r.max(0) as u32),
                creation_time: row.creation_time,
                time_source: row.time_source,
                file_latitude: row.file_latitude,
                file_longitude: row.file_longitude,
                kind: None,
                audio_channels: row.audio_channels.map(|c| c.max(0) as u32),
                audio_sample_rate: row.audio_sample_rate.map(|r| r.max(0) as u32),
                page_count: row.page_count.map(|p| p.max(0) as u32),
                content_text: None,
                sound_fingerprint: None,
            },
            rendition,
            view_size_bytes: row.view_size_bytes.map(|b| b.max(0) as u64),
            track_sha256: row.track_sha256,
            transcoded_at: row.transcoded_at,
            fingerprinted_at: row.fingerprinted_at,
            fingerprint_seconds: row.fingerprint.map_or(0, |f| f.len() / 8),
        }
    }
}

/// A sound fingerprint as stored: 4 bytes big-endian per item.
pub fn encode_sound_fingerprint(items: &[u32]) -> Vec<u8> {
    items.iter().flat_map(|item| item.to_be_bytes()).collect()
}

pub fn decode_sound_fingerprint(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A fingerprint as stored: 8 bytes big-endian per second.
pub fn encode_fingerprint(hashes: &[u64]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.to_be_bytes()).collect()
}

pub fn decode_fingerprint(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from_be_bytes(word)
        })
        .collect()
}
