//! `custodian catalogue rebuild`: a lost catalogue made again from the blob store alone
//! (art. 19). Every original comes back under its id with its receipt's SHA-256, checked
//! against the bytes stored; what its signed sidecar carries (device, officer, times, file
//! name, classification, cases, retention flags) comes back with it. Each bureau's audit
//! trail restarts with an entry that links to the last checkpoint anchored in the store and
//! says what was lost; `custodian audit verify` then checks the new trail against the anchor.
//!
//! Lost by design, because no sidecar carries them: the state history,
//! the audit entries after the last anchor, tokens, people, teams, devices, copy requests,
//! enforcement tasks, and the media workers' outputs (the pipeline makes those again, since
//! every clip comes back as stored).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use custodian_core::audit::{checkpoint_signed, Checkpoint, NewAuditEntry};
use custodian_core::classification::Classification;
use custodian_core::sidecar::{OriginalRecord, RecordedCase, SIDECAR_PREFIX};
use custodian_core::upload::{Coordinates, UploadMetadata};
use custodian_core::{BureauId, ClipId, LocalId, Sha256Digest};
use custodian_platform::blob::BlobStore;
use custodian_platform::catalogue::{CaseRecord, Catalogue, NewClip, PendingUpload};
use tokio::io::AsyncReadExt;

use crate::cli::CatalogueLocation;

/// Who the rebuilt trail names as acting.
const ACTOR: &str = "custodian catalogue rebuild";
/// What an original without a sidecar is said to come from: nothing recorded its device or
/// officer.
const UNRECORDED: &str = "unrecorded";

#[derive(Debug, Clone, clap::Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
    /// The audit key's public half (hex), which signed the sidecars and anchors; otherwise
    /// read from the key file.
    #[arg(long = "public-key")]
    pub public_key: Option<String>,
    /// The audit signing key file (by default DATA/audit-signing.key).
    #[arg(long = "audit-key-file", env = "CUSTODIAN_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
}

/// What a rebuild put back, and what it could not.
#[derive(Debug, Default, serde::Serialize)]
pub struct RebuildReport {
    /// Originals catalogued again.
    pub originals: usize,
    /// Of those, how many with their sidecar.
    pub from_sidecars: usize,
    /// Originals with no usable sidecar: back with their id, bureau, day, hash and size only.
    pub without_sidecar: Vec<ClipId>,
    /// Originals whose bytes no longer match their signed record: catalogued with the
    /// receipt's hash and a critical finding, so the integrity check flags them.
    pub altered: Vec<ClipId>,
    /// Sidecars refused (not signed by this deployment, moved, unreadable), with why.
    pub refused_sidecars: Vec<(String, String)>,
    /// Sidecars of originals purged under the retention rules.
    pub purged: usize,
    /// Sidecars whose original is gone though it was never purged: footage lost.
    pub missing_originals: Vec<String>,
    /// Keys under `originals/` that name no clip.
    pub unrecognised_keys: Vec<String>,
    pub classified: usize,
    pub cases: usize,
    /// Per bureau: the anchored entry its trail restarts after (none: no anchor survived).
    pub audit: Vec<(String, Option<i64>)>,
}

pub async fn rebuild(args: &RebuildArgs) -> anyhow::Result<RebuildReport> {
    let key = crate::admin::verifying_key(
        &args.catalogue,
        args.public_key.as_deref(),
        args.audit_key_file.as_deref(),
    )?;
    let store = crate::admin::blob_store(&args.catalogue)?;
    let catalogue = crate::admin::open(&args.catalogue).await?;
    let clips = catalogue.clip_count().await?;
    if clips > 0 {
        anyhow::bail!(
            "the catalogue holds {clips} clips: a rebuild only fills an empty catalogue (move \
             the damaged database aside, or give a new --database-url)"
        );
    }
    let now = Utc::now();
    let mut report = RebuildReport::default();

    let records = read_sidecars(&*store, &key, &mut report).await?;
    let mut bureaus: BTreeMap<BureauId, String> = BTreeMap::new();
    let mut originals = Vec::new();
    for object_key in store
        .list("originals/")
        .await
        .context("listing the originals")?
    {
        let Some((bureau, day, clip)) = custodian_core::keys::parse_original_key(&object_key)
        else {
            report.unrecognised_keys.push(object_key);
            continue;
        };
        // A record counts for the original it names, and only while it describes one.
        let record = records
            .get(&clip.to_string())
            .filter(|r| r.object_key == object_key && r.upload.is_some());
        bureaus.entry(bureau.clone()).or_insert_with(|| {
            record.map_or_else(|| bureau.to_string(), |r| r.bureau_name.clone())
        });
        originals.push((object_key, bureau, day, clip, record));
    }
    let stored: BTreeSet<String> = originals.iter().map(|o| o.3.to_string()).collect();
    for record in records.values() {
        if record.purged_at.is_some() {
            report.purged += 1;
        } else if !stored.contains(&record.clip_id) {
            report.missing_originals.push(record.object_key.clone());
        }
    }
    for (bureau, name) in &bureaus {
        catalogue.ensure_bureau(bureau, name, now).await?;
    }

    // The newest state of each case, from the newest sidecar that holds it.
    let mut cases: BTreeMap<String, (DateTime<Utc>, RecordedCase)> = BTreeMap::new();
    for record in records.values() {
        for case in &record.cases {
            if cases
                .get(&case.id)
                .is_none_or(|(written, _)| *written < record.written_at)
            {
                cases.insert(case.id.clone(), (record.written_at, case.clone()));
            }
        }
    }
    let mut cases_made = BTreeSet::new();
    let mut restored: BTreeMap<BureauId, Vec<NewAuditEntry>> = BTreeMap::new();

    for (object_key, bureau, day, clip, record) in originals {
        let (size, sha256) = custodian_platform::blob::hash_stored(&*store, &object_key, None)
            .await
            .with_context(|| format!("reading {object_key}"))?;
        let new = match record {
            Some(record) => clip_from_record(record, clip, &bureau, &object_key)?,
            None => bare_clip(clip, &bureau, day, &object_key, size, sha256, now)?,
        };
        catalogue
            .begin_upload(&PendingUpload {
                clip,
                bureau: bureau.clone(),
                object_key: object_key.clone(),
                started_at: now,
            })
            .await?;
        catalogue.record_clip(&new).await?;
        report.originals += 1;
        let mut detail = format!("{} bytes, sha256 {}, key {object_key}", size, sha256);
        if new.sha256 != sha256 || new.size_bytes != size {
            catalogue
                .add_finding(
                    clip,
                    "checksum-mismatch",
                    "critical",
                    &format!(
                        "rebuilt from storage: the stored original has {size} bytes with SHA-256 {sha256}, its signed record says {} bytes with {}",
                        new.size_bytes, new.sha256
                    ),
                    now,
                )
                .await?;
            report.altered.push(clip);
            detail.push_str(&format!(
                "; altered: the receipt said sha256 {}",
                new.sha256
            ));
        }
        match record {
            Some(record) => {
                report.from_sidecars += 1;
                detail.push_str(&format!(
                    "; from its record written at {}",
                    record.written_at
                ));
                restore_record(
                    &*catalogue,
                    record,
                    clip,
                    &bureau,
                    &cases,
                    &mut cases_made,
                    &mut report,
                    now,
                )
                .await?;
            }
            None => {
                report.without_sidecar.push(clip);
                detail.push_str("; no record beside it: device, officer, times and name unknown");
            }
        }
        restored.entry(bureau).or_default().push(NewAuditEntry {
            at: now,
            actor: ACTOR.into(),
            action: "ingest.restored".into(),
            target: Some(clip.to_string()),
            detail,
        });
    }
    report.cases = cases_made.len();

    // Each bureau's trail restarts where its last anchor left it.
    let anchors = crate::admin::anchored_checkpoints(&*store).await?;
    let mut trail_bureaus: BTreeSet<String> = restored.keys().map(|b| b.to_string()).collect();
    trail_bureaus.extend(anchors.iter().map(|a| a.bureau.clone()));
    for bureau in trail_bureaus {
        let last_anchor: Option<&Checkpoint> = anchors
            .iter()
            .filter(|a| a.bureau == bureau && checkpoint_signed(a, &key))
            .max_by_key(|a| a.seq);
        let entries = BureauId::parse(&bureau)
            .ok()
            .and_then(|b| restored.remove(&b))
            .unwrap_or_default();
        let restart = custodian_core::audit::restart(
            &bureau,
            last_anchor,
            NewAuditEntry {
                at: now,
                actor: ACTOR.into(),
                action: String::new(),
                target: None,
                detail: custodian_core::sidecar::restart_detail(
                    last_anchor.map(|a| (a.seq, a.at)),
                    entries.len(),
                    now,
                ),
            },
        );
        if !catalogue.restart_audit(&restart).await? {
            anyhow::bail!("bureau {bureau} already has an audit trail in this catalogue");
        }
        for entry in entries {
            catalogue.append_audit(&bureau, entry).await?;
        }
        report.audit.push((bureau, last_anchor.map(|a| a.seq)));
    }
    Ok(report)
}

/// Every sidecar signed by this deployment, by clip id (the newest where two name one clip).
async fn read_sidecars(
    store: &dyn BlobStore,
    key: &ed25519_dalek::VerifyingKey,
    report: &mut RebuildReport,
) -> anyhow::Result<BTreeMap<String, OriginalRecord>> {
    let mut records: BTreeMap<String, OriginalRecord> = BTreeMap::new();
    for sidecar in store
        .list(SIDECAR_PREFIX)
        .await
        .context("listing the originals' records")?
    {
        let mut bytes = Vec::new();
        store
            .open(&sidecar)
            .await?
            .read_to_end(&mut bytes)
            .await
            .with_context(|| format!("reading {sidecar}"))?;
        match custodian_core::sidecar::open(&sidecar, &bytes, key) {
            Ok(record) => {
                if records
                    .get(&record.clip_id)
                    .is_none_or(|held| held.written_at < record.written_at)
                {
                    records.insert(record.clip_id.clone(), record);
                }
            }
            Err(e) => report.refused_sidecars.push((sidecar, e.to_string())),
        }
    }
    Ok(records)
}

fn clip_from_record(
    record: &OriginalRecord,
    clip: ClipId,
    bureau: &BureauId,
    object_key: &str,
) -> anyhow::Result<NewClip> {
    let upload = record
        .upload
        .as_ref()
        .context("a purged original's record")?;
    let context = || format!("the record of clip {clip}");
    Ok(NewClip {
        id: clip,
        meta: UploadMetadata {
            bureau: bureau.clone(),
            device: LocalId::parse("device", &upload.device).with_context(context)?,
            officer: LocalId::parse("officer", &upload.officer).with_context(context)?,
            recorded_at: upload.recorded_at,
            original_name: upload.original_name.clone(),
            case_ref: upload.case_ref.clone(),
            place: upload.place.clone(),
            coordinates: upload
                .latitude
                .zip(upload.longitude)
                .map(|(latitude, longitude)| Coordinates {
                    latitude,
                    longitude,
                }),
            returned_at: upload.returned_at,
            late_reason: upload.late_reason.clone(),
        },
        object_key: object_key.to_owned(),
        size_bytes: record.size_bytes,
        sha256: record
            .sha256
            .parse::<Sha256Digest>()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(context)?,
        received_at: record.received_at,
        uploaded_by: upload
            .uploaded_by
            .clone()
            .unwrap_or_else(|| ACTOR.to_owned()),
    })
}

/// An original with nothing beside it: what its key and bytes say, and no more.
fn bare_clip(
    clip: ClipId,
    bureau: &BureauId,
    day: chrono::NaiveDate,
    object_key: &str,
    size: u64,
    sha256: Sha256Digest,
    now: DateTime<Utc>,
) -> anyhow::Result<NewClip> {
    Ok(NewClip {
        id: clip,
        meta: UploadMetadata {
            bureau: bureau.clone(),
            device: LocalId::parse("device", UNRECORDED)?,
            officer: LocalId::parse("officer", UNRECORDED)?,
            recorded_at: day.and_time(chrono::NaiveTime::MIN).and_utc(),
            original_name: object_key
                .rsplit('/')
                .next()
                .unwrap_or(object_key)
                .to_owned(),
            case_ref: None,
            place: None,
            coordinates: None,
            returned_at: None,
            late_reason: None,
        },
        object_key: object_key.to_owned(),
        size_bytes: size,
        sha256,
        received_at: now,
        uploaded_by: ACTOR.to_owned(),
    })
}

/// Puts back what a clip's record carries beyond its upload.
#[allow(clippy::too_many_arguments)]
async fn restore_record(
    catalogue: &dyn Catalogue,
    record: &OriginalRecord,
    clip: ClipId,
    bureau: &BureauId,
    cases: &BTreeMap<String, (DateTime<Utc>, RecordedCase)>,
    cases_made: &mut BTreeSet<String>,
    report: &mut RebuildReport,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let context = || format!("the record of clip {clip}");
    // Every version, oldest first: the first time and the history come back as they were.
    for classified in &record.classifications {
        let classification = Classification {
            category: classified.category.clone(),
            description: classified.description.clone(),
            place: classified.place.clone(),
            important: classified.important,
            matter: classified.matter.clone(),
            party: classified.party.clone(),
        };
        catalogue
            .classify(
                bureau,
                clip,
                &classification,
                &classified.canonical_name,
                &classified.by,
                classified.at,
            )
            .await?;
    }
    if !record.classifications.is_empty() {
        report.classified += 1;
    }
    let Some(upload) = &record.upload else {
        return Ok(());
    };
    if let Some(document_type) = &upload.document_type {
        catalogue
            .set_document_type(bureau, clip, document_type)
            .await?;
    }
    let confidentiality: custodian_core::roles::Confidentiality = upload
        .confidentiality
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(context)?;
    if confidentiality != custodian_core::roles::Confidentiality::Ordinary {
        catalogue
            .set_confidentiality(bureau, clip, confidentiality)
            .await?;
    }
    let long_term = upload
        .long_term_reason
        .as_deref()
        .map(str::parse::<custodian_core::retention::LongTermReason>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(context)?;
    if long_term.is_some() || upload.legal_hold {
        catalogue
            .set_retention(
                bureau,
                clip,
                long_term.as_ref(),
                upload.legal_hold,
                ACTOR,
                now,
            )
            .await?;
    }
    for linked in &record.cases {
        let case = cases.get(&linked.id).map_or(linked, |(_, newest)| newest);
        let id: uuid::Uuid = case.id.parse().with_context(context)?;
        if cases_made.insert(case.id.clone()) {
            catalogue
                .create_case(&CaseRecord {
                    id,
                    bureau: bureau.clone(),
                    reference: case.reference.clone(),
                    title: case.title.clone(),
                    state: case
                        .state
                        .parse()
                        .map_err(|e| anyhow::anyhow!("{e}"))
                        .with_context(context)?,
                    opened_at: case.opened_at,
                    closed_at: case.closed_at,
                    closed_on: case.closed_on,
                    filing_due_at: case.filing_due_at,
                    filed_at: case.filed_at,
                    calendar_complete: case.calendar_complete,
                    case_type: case.case_type.clone(),
                })
                .await?;
            if case.long_term {
                catalogue.set_case_long_term(bureau, id, true).await?;
            }
        }
        catalogue
            .link_clips(id, &[clip], &linked.linked_by, linked.linked_at)
            .await?;
    }
    Ok(())
}
