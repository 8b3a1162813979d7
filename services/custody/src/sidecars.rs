//! Writes each original's signed record beside it in the blob store (the sidecar of
//! `custodian_core::sidecar`), so that a lost catalogue can be rebuilt from storage. The
//! catalogue's triggers queue a clip whenever something its sidecar carries changes; this
//! drains the queue. A sidecar write that fails leaves the clip queued for the next pass.

use bytes::Bytes;
use custodian_core::sidecar::{
    seal, sidecar_key, OriginalRecord, RecordedCase, RecordedClassification, RecordedUpload,
};
use custodian_platform::blob::store_derived_bytes;
use custodian_platform::catalogue::{ClassificationEntry, ClipRecord, LinkedCase};

use crate::{Custody, CustodyError};

/// How many queued clips one pass takes.
const BATCH: i64 = 200;

impl Custody {
    /// Writes the sidecars of queued clips; returns how many were written. Stops at the first
    /// blob store failure (an outage fails every write alike).
    pub async fn write_sidecars_once(&self) -> Result<usize, CustodyError> {
        let catalogue = &self.ports.catalogue;
        let mut written = 0;
        // A pass's clips are mostly of a few bureaus: each name is read once.
        let mut bureau_names: std::collections::HashMap<String, String> = Default::default();
        for (clip, generation) in catalogue.sidecars_due(BATCH).await? {
            let Some(record) = catalogue.clip_for_worker(clip).await? else {
                catalogue.sidecar_written(clip, generation).await?;
                continue;
            };
            let cases = catalogue.clip_cases(clip).await?;
            let classifications = catalogue.classifications(clip).await?;
            let bureau_name = match bureau_names.get(record.bureau.as_str()) {
                Some(name) => name.clone(),
                None => {
                    let name = catalogue
                        .bureau_name(&record.bureau)
                        .await?
                        .unwrap_or_else(|| record.bureau.to_string());
                    bureau_names.insert(record.bureau.to_string(), name.clone());
                    name
                }
            };
            let now = self.ports.clock.now();
            let sidecar = original_record(&record, bureau_name, &classifications, &cases, now);
            let sidecar = match record.purged_at {
                Some(purged) => sidecar.tombstone(purged),
                None => sidecar,
            };
            let key = sidecar_key(&sidecar.bureau, &sidecar.clip_id);
            store_derived_bytes(
                &*self.ports.blob,
                &key,
                Bytes::from(seal(&sidecar, &self.key)),
            )
            .await
            .map_err(|source| CustodyError::Sidecar {
                key: key.clone(),
                source,
            })?;
            catalogue.sidecar_written(clip, generation).await?;
            self.sidecars.inc();
            written += 1;
        }
        Ok(written)
    }
}

/// What the sidecar of `clip` says, as the catalogue has it now.
fn original_record(
    clip: &ClipRecord,
    bureau_name: String,
    classifications: &[ClassificationEntry],
    cases: &[LinkedCase],
    now: chrono::DateTime<chrono::Utc>,
) -> OriginalRecord {
    OriginalRecord {
        clip_id: clip.id.to_string(),
        bureau: clip.bureau.to_string(),
        bureau_name,
        object_key: clip.object_key.clone(),
        size_bytes: clip.size_bytes,
        sha256: clip.sha256.to_hex(),
        received_at: clip.received_at,
        written_at: now,
        purged_at: None,
        upload: Some(RecordedUpload {
            device: clip.device.to_string(),
            officer: clip.officer.to_string(),
            recorded_at: clip.recorded_at,
            original_name: clip.original_name.clone(),
            case_ref: clip.case_ref.clone(),
            place: clip.place.clone(),
            latitude: clip.latitude,
            longitude: clip.longitude,
            returned_at: clip.returned_at,
            late_reason: clip.late_reason.clone(),
            uploaded_by: clip.uploaded_by.clone(),
            kind: clip.kind.map(|kind| kind.as_str().to_owned()),
            document_type: clip.document_type.clone(),
            confidentiality: clip.confidentiality.as_str().to_owned(),
            long_term_reason: clip.long_term_reason.clone(),
            legal_hold: clip.legal_hold,
        }),
        classifications: classifications
            .iter()
            .map(|entry| RecordedClassification {
                category: entry.category.clone(),
                description: entry.description.clone(),
                place: entry.place.clone(),
                important: entry.important,
                matter: entry.matter.clone(),
                party: entry.party.clone(),
                canonical_name: entry.canonical_name.clone(),
                by: entry.by.clone(),
                at: entry.at,
            })
            .collect(),
        cases: cases
            .iter()
            .map(|linked| RecordedCase {
                id: linked.case.id.to_string(),
                reference: linked.case.reference.clone(),
                title: linked.case.title.clone(),
                state: linked.case.state.as_str().to_owned(),
                opened_at: linked.case.opened_at,
                closed_at: linked.case.closed_at,
                closed_on: linked.case.closed_on,
                filing_due_at: linked.case.filing_due_at,
                filed_at: linked.case.filed_at,
                calendar_complete: linked.case.calendar_complete,
                case_type: linked.case.case_type.clone(),
                long_term: linked.long_term,
                linked_at: linked.linked_at,
                linked_by: linked.linked_by.clone(),
            })
            .collect(),
    }
}
