//! Uploads under way and the clip they record, and their rows.

use chrono::{DateTime, Utc};
use custodian_core::upload::UploadMetadata;
use custodian_core::{BureauId, ClipId, Sha256Digest};
use uuid::Uuid;

use super::corrupt;
use crate::catalogue::CatalogueError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub clip: ClipId,
    pub bureau: BureauId,
    pub object_key: String,
    pub started_at: DateTime<Utc>,
}

/// A resumable (tus) upload and how far it has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TusUpload {
    pub clip: ClipId,
    pub bureau: BureauId,
    pub length: u64,
    /// The Upload-Metadata header as the client sent it.
    pub metadata: String,
    pub object_key: String,
    /// The blob store's multipart upload id.
    pub multipart_id: String,
    /// Who opened it (`Caller::person`), for the per-token quota.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub progress: TusProgress,
}

/// What changes with each request: saved together, only if no other request moved the
/// offset meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TusProgress {
    pub offset: u64,
    pub parts: Vec<crate::blob::StoredPart>,
    /// `ResumableSha256::to_saved` over the bytes in `parts`.
    pub hash_state: String,
    /// Bytes after the last part.
    pub tail: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct NewClip {
    pub id: ClipId,
    pub meta: UploadMetadata,
    pub object_key: String,
    pub size_bytes: u64,
    pub sha256: Sha256Digest,
    pub received_at: DateTime<Utc>,
    /// Who uploaded it (`Caller::person`): the station that may add its GPS track.
    pub uploaded_by: String,
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct PendingRow {
    pub clip_id: Uuid,
    pub bureau_id: String,
    pub object_key: String,
    pub started_at: DateTime<Utc>,
}

impl TryFrom<PendingRow> for PendingUpload {
    type Error = CatalogueError;
    fn try_from(row: PendingRow) -> Result<Self, Self::Error> {
        Ok(PendingUpload {
            clip: ClipId::from_uuid(row.clip_id),
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| corrupt(row.clip_id, e))?,
            object_key: row.object_key,
            started_at: row.started_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct TusRow {
    pub clip_id: Uuid,
    pub bureau_id: String,
    pub upload_length: i64,
    pub upload_offset: i64,
    pub metadata: String,
    pub object_key: String,
    pub multipart_id: String,
    pub parts: String,
    pub hash_state: String,
    pub tail: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
}

impl TryFrom<TusRow> for TusUpload {
    type Error = CatalogueError;
    fn try_from(row: TusRow) -> Result<Self, Self::Error> {
        let id = row.clip_id;
        Ok(TusUpload {
            clip: ClipId::from_uuid(id),
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| corrupt(id, e))?,
            length: u64::try_from(row.upload_length).map_err(|e| corrupt(id, e))?,
            metadata: row.metadata,
            object_key: row.object_key,
            multipart_id: row.multipart_id,
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            progress: TusProgress {
                offset: u64::try_from(row.upload_offset).map_err(|e| corrupt(id, e))?,
                parts: serde_json::from_str(&row.parts).map_err(|e| corrupt(id, e))?,
                hash_state: row.hash_state,
                tail: row.tail,
            },
        })
    }
}
