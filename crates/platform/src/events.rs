//! Building and publishing the events of a clip's life from catalogue records, so that every
//! role that announces a clip says the same thing about it.

use bytes::Bytes;
use custodian_core::events::Topic;
use custodian_proto::v1::ClipStored;
use custodian_proto::Message;

use crate::bus::{Bus, BusError, HandleError};
use crate::catalogue::{ClipRecord, ClipRepo};

pub fn clip_stored(clip: &ClipRecord) -> ClipStored {
    ClipStored {
        clip_id: clip.id.to_string(),
        bureau_id: clip.bureau.to_string(),
        device_id: clip.device.to_string(),
        officer_id: clip.officer.to_string(),
        recorded_at: clip.recorded_at.to_rfc3339(),
        object_key: clip.object_key.clone(),
        size_bytes: clip.size_bytes,
        sha256: clip.sha256.to_hex(),
        original_name: clip.original_name.clone(),
        case_ref: clip.case_ref.clone(),
    }
}

/// Announces a stored clip. `round` 0 is ingest's announcement; the reconciler uses later
/// rounds so the bus does not drop its re-publication as a duplicate.
pub async fn publish_stored(bus: &dyn Bus, clip: &ClipRecord, round: u32) -> Result<(), BusError> {
    let payload = Bytes::from(clip_stored(clip).encode_to_vec());
    bus.publish(
        Topic::ClipStored,
        &Topic::ClipStored.message_id(clip.id, round),
        payload,
    )
    .await
}

/// The clip a `clip.stored` delivery is about, as the catalogue has it now. A message that
/// does not decode is refused for good; a clip not in the catalogue yet is worth waiting for.
pub async fn stored_clip(
    catalogue: &dyn ClipRepo,
    payload: Bytes,
) -> Result<ClipRecord, HandleError> {
    let event = ClipStored::decode(payload)
        .map_err(|e| HandleError::Permanent(format!("undecodable clip.stored: {e}")))?;
    let id: custodian_core::ClipId = event
        .clip_id
        .parse()
        .map_err(|e| HandleError::Permanent(format!("clip.stored: {e}")))?;
    catalogue
        .clip_for_worker(id)
        .await?
        .ok_or_else(|| HandleError::Transient(format!("clip {id} is not in the catalogue yet")))
}
