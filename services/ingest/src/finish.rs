//! The end every upload shares, plain or resumable: once the original is stored and verified,
//! record the clip, enter it in the bureau's audit trail, announce `clip.stored`, and answer
//! the receipt. Whatever fails here leaves the caller to discard what was stored.

use chrono::{DateTime, Utc};
use custodian_core::upload::UploadMetadata;
use custodian_core::{ClipId, Sha256Digest};
use custodian_platform::blob::WrittenObject;
use custodian_platform::catalogue::NewClip;
use custodian_platform::events::publish_stored;
use custodian_platform::http::Caller;
use serde::Serialize;

use crate::upload::IngestError;
use crate::Ingest;

/// What the client keeps as proof that its original arrived intact.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    #[schema(value_type = String, format = Uuid)]
    pub clip_id: ClipId,
    pub bureau: String,
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the bytes received.
    #[schema(value_type = String)]
    pub sha256: Sha256Digest,
    pub received_at: DateTime<Utc>,
    pub state: &'static str,
}

/// Records a stored, verified original as a clip and announces it.
pub(crate) async fn record_stored(
    ingest: &Ingest,
    caller: &Caller,
    clip: ClipId,
    meta: UploadMetadata,
    written: WrittenObject,
) -> Result<Receipt, IngestError> {
    let received_at = ingest.ports.clock.now();
    let record = record(ingest, caller, clip, meta, written, received_at).await?;
    if record.device_registered == Some(false) {
        // Kept all the same: footage is evidence whichever camera took it; the flag on the
        // record and the counter make the unregistered camera visible (art. 15).
        ingest.metrics.unregistered_devices.inc();
        tracing::warn!(clip_id = %clip, bureau = %record.bureau, device = %record.device, "clip from a device not in the registry");
    }
    let entry = custodian_core::audit::NewAuditEntry {
        at: received_at,
        actor: caller.name(),
        action: "ingest.stored".into(),
        target: Some(clip.to_string()),
        detail: format!(
            "{} bytes, sha256 {}, key {}",
            record.size_bytes, record.sha256, record.object_key
        ),
    };
    if let Err(e) = ingest
        .audit
        .append_audit(record.bureau.as_str(), entry)
        .await
    {
        tracing::error!(clip_id = %clip, error = %e, "stored clip not recorded in the audit trail");
    }
    if let Err(e) = publish_stored(&*ingest.ports.bus, &record, 0).await {
        // The clip is recorded and durable; the catalog's reconciler re-announces clips that
        // stay stored, so a lost announcement only delays processing.
        tracing::warn!(clip_id = %clip, error = %e, "clip.stored not published; the reconciler will retry");
    }
    tracing::info!(clip_id = %clip, bureau = %record.bureau, size = record.size_bytes, sha256 = %record.sha256, "original stored");
    Ok(Receipt {
        clip_id: clip,
        bureau: record.bureau.to_string(),
        size_bytes: record.size_bytes,
        sha256: record.sha256,
        received_at: record.received_at,
        state: record.state.as_str(),
    })
}

async fn record(
    ingest: &Ingest,
    caller: &Caller,
    clip: ClipId,
    meta: UploadMetadata,
    written: WrittenObject,
    received_at: DateTime<Utc>,
) -> Result<custodian_platform::catalogue::ClipRecord, IngestError> {
    let new = NewClip {
        id: clip,
        meta,
        object_key: written.key,
        size_bytes: written.size,
        sha256: written.sha256,
        received_at,
        uploaded_by: caller.person.clone(),
    };
    Ok(ingest.uploads.record_clip(&new).await?)
}

/// Removes what a failed upload may have left. If the catalogue or the store is down now, the
/// pending row stays and the janitor finishes the job later.
pub(crate) async fn discard(ingest: &Ingest, clip: ClipId, key: &str) {
    match ingest.ports.blob.delete(key).await {
        Ok(()) => {
            if let Err(e) = ingest.uploads.forget_upload(clip).await {
                tracing::warn!(clip_id = %clip, error = %e, "pending upload left for the janitor");
            }
        }
        Err(e) => {
            tracing::warn!(clip_id = %clip, key, error = %e, "object of a failed upload left for the janitor")
        }
    }
}
