//! Evidence export (art. 20): one tar per case or selection of clips, holding the originals,
//! an explanatory note (说明), the public key, and a manifest signed with the deployment's key
//! listing every file's SHA-256 with the clips' metadata, findings and custody trail. Each
//! original is hashed again as it is packed; one that no longer matches its recorded hash
//! stops the export rather than leave in a package that would claim it intact.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custodian_core::audit::NewAuditEntry;
use custodian_core::export::{
    sign_manifest, Manifest, PackagedFile, FORMAT, MANIFEST, NOTE, PUBLIC_KEY, SIGNATURE,
};
use custodian_core::records::RecordKind;
use custodian_core::roles::Action;
use custodian_core::{ClipId, Sha256Digest};
use custodian_platform::catalogue::ClipRecord;
use custodian_platform::http::{clip_in_bureau, ApiError, Caller};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Custody;

/// The most clips one package may hold.
pub const MAX_CLIPS: usize = 500;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ExportRequest {
    /// Every clip of this case ...
    #[schema(format = Uuid)]
    pub case_id: Option<String>,
    /// ... and/or these clips.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>, max_items = 500)]
    pub clip_ids: Vec<String>,
    /// Added to the explanatory note (说明): why, for whom.
    pub note: Option<String>,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", message)
}

/// Reads into the tar while hashing what passes, so the hash is of the bytes packed.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

fn note_text(
    caller: &Caller,
    case: Option<&custodian_platform::catalogue::CaseRecord>,
    clips: &[ClipRecord],
    extra: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut note = String::new();
    note.push_str("证据材料说明 / Explanatory note\n\n");
    note.push_str(&format!("执法单位 Bureau: {}\n", caller.bureau));
    if let Some(case) = case {
        note.push_str(&format!("案件 Case: {} {}\n", case.reference, case.title));
    }
    note.push_str(&format!(
        "导出时间 Exported at: {}\n导出人 Exported by: {}\n",
        at.to_rfc3339(),
        caller.name()
    ));
    note.push_str(&table_of_contents(clips));
    note.push_str(&format!("\n记录 Records: {}\n\n", clips.len()));
    for clip in clips {
        note.push_str(&format!(
            "- {} (original {}), device {}, officer {}, recorded {}, {} bytes, SHA-256 {}\n",
            clip.canonical_name.as_deref().unwrap_or("-"),
            clip.original_name,
            clip.device,
            clip.officer,
            clip.recorded_at.to_rfc3339(),
            clip.size_bytes,
            clip.sha256
        ));
        // Art. 12 (3): what the record shows of time, place, matter, party and officers.
        for (label, value) in [
            ("地点 Place", clip.place.as_deref()),
            ("执法事项 Matter", clip.matter.as_deref()),
            ("当事人 Party", clip.party.as_deref()),
            ("分类 Category", clip.category.as_deref()),
            ("内容 Description", clip.description.as_deref()),
        ] {
            if let Some(value) = value {
                // A description may run over lines; they stay indented under their clip.
                let value = value.replace('\n', "\n    ");
                note.push_str(&format!("  {label}: {value}\n"));
            }
        }
    }
    if let Some(extra) = extra {
        note.push_str(&format!("\n{extra}\n"));
    }
    note.push_str("\nThe originals are byte for byte as recorded; manifest.json lists every file with its SHA-256 and is signed (manifest.sig, ed25519) by the key in public-key.txt.\n");
    note
}

/// The case file's table of contents (卷内目录, art. 18 and 20): one line per record, in the
/// order of the enforcement stages and then of time, with its kind, document type, local
/// time and SHA-256.
fn table_of_contents(clips: &[ClipRecord]) -> String {
    let rules = custodian_core::records::RecordRules::default();
    let mut items: Vec<&ClipRecord> = clips.iter().collect();
    let stage = |clip: &ClipRecord| {
        rules.stage_of(
            clip.kind.unwrap_or(RecordKind::Video),
            clip.document_type.as_deref(),
        )
    };
    items.sort_by_key(|a| (stage(a), a.recorded_at));
    let mut toc = String::from("卷内目录 Table of contents\n序号 No. | 阶段 Stage | 种类 Kind | 文书类型 Document type | 时间 Time (UTC+8) | SHA-256\n");
    for (number, clip) in items.iter().enumerate() {
        let kind = match clip.kind {
            Some(RecordKind::Audio) => "录音 audio",
            Some(RecordKind::Photo) => "照片 photo",
            Some(RecordKind::Document) => "文书 document",
            Some(RecordKind::Video) | None => "录像 video",
        };
        toc.push_str(&format!(
            "{} | {} | {kind} | {} | {} | {}\n",
            number + 1,
            stage(clip).label_zh(),
            clip.document_type.as_deref().unwrap_or("-"),
            clip.recorded_at
                .with_timezone(&custodian_core::deadlines::china_time())
                .format("%Y-%m-%d %H:%M:%S"),
            clip.sha256
        ));
    }
    toc
}

#[utoipa::path(post, path = "/v1/exports", tag = "custody", request_body = ExportRequest,
    responses((status = 200, description = "the evidence package (tar)", content_type = "application/x-tar"),
              (status = 400, description = "no clips, too many, or ids that do not parse", body = custodian_platform::http::ErrorBody),
              (status = 403, description = "only leaders and admins export", body = custodian_platform::http::ErrorBody),
              (status = 404, description = "a case or clip not in the caller's bureau", body = custodian_platform::http::ErrorBody),
              (status = 409, description = "a clip's files were purged, or an original no longer matches its hash", body = custodian_platform::http::ErrorBody)),
    security(("bearer" = [])))]
pub async fn export(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Json(request): Json<ExportRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::Export)?;
    let catalogue = &custody.ports.catalogue;
    let mut ids = BTreeSet::new();
    let case = match &request.case_id {
        Some(text) => {
            let id = uuid::Uuid::parse_str(text)
                .map_err(|_| bad_request(format!("case id {text:?} is not a UUID")))?;
            let case = catalogue.case(&caller.bureau, id).await?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no-such-case",
                    format!("no case {id} in bureau {}", caller.bureau),
                )
            })?;
            ids.extend(catalogue.case_clip_ids(id).await?);
            Some(case)
        }
        None => None,
    };
    for text in &request.clip_ids {
        ids.insert(
            text.parse::<ClipId>()
                .map_err(|e| bad_request(e.to_string()))?,
        );
    }
    if ids.is_empty() || ids.len() > MAX_CLIPS {
        return Err(bad_request(format!(
            "an export holds 1 to {MAX_CLIPS} clips; this one would hold {}",
            ids.len()
        )));
    }
    let mut clips = Vec::new();
    for id in ids {
        let clip = clip_in_bureau(&**catalogue, &caller, id).await?;
        if clip.purged_at.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "purged",
                format!("clip {id} expired and its files were purged"),
            ));
        }
        clips.push(clip);
    }

    let now = custody.ports.clock.now();
    let package_id = uuid::Uuid::now_v7().to_string();
    let note = note_text(&caller, case.as_ref(), &clips, request.note.as_deref(), now);
    let public_key = custody.public_key_hex();
    let mut clip_views = Vec::new();
    let mut trail = Vec::new();
    for clip in &clips {
        let mut view = serde_json::to_value(clip).map_err(|e| ApiError::internal(e.to_string()))?;
        view["findings"] = serde_json::to_value(catalogue.findings(clip.id).await?)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        view["history"] = serde_json::to_value(catalogue.transitions(clip.id).await?)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        view["file"] = serde_json::json!(format!("originals/{}", file_name(clip)));
        clip_views.push(view);
        trail.extend(
            catalogue
                .audit_by_target(caller.bureau.as_str(), &clip.id.to_string())
                .await?,
        );
    }
    trail.sort_by_key(|e| e.seq);

    for clip in &clips {
        let entry = NewAuditEntry {
            at: now,
            actor: caller.name(),
            action: "export".into(),
            target: Some(clip.id.to_string()),
            detail: format!("in evidence package {package_id}"),
        };
        catalogue
            .append_audit(caller.bureau.as_str(), entry)
            .await?;
    }
    // The package is streamed as it is packed: nothing of it waits on disk or in memory.
    // The originals go first and the signed manifest last, so a package cut short (an
    // original that no longer matches its hash, a store that fails) has no signature, the
    // response ends in an error, and `export verify` refuses what arrived.
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let packing = Packing {
        custody: custody.clone(),
        caller: caller.clone(),
        package_id: package_id.clone(),
        case,
        clips,
        clip_views,
        trail,
        note,
        public_key,
        now,
    };
    let failures = sender.clone();
    tokio::spawn(async move {
        if let Err(e) = packing.pack(ChunkWriter::new(sender)).await {
            tracing::warn!(error = %e, "evidence package cut short");
            let _ = failures.send(Err(std::io::Error::other(e))).await;
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"evidence-{package_id}.tar\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Everything a package holds but the originals' bytes, gathered before the answer starts.
struct Packing {
    custody: Arc<Custody>,
    caller: Caller,
    package_id: String,
    case: Option<custodian_platform::catalogue::CaseRecord>,
    clips: Vec<ClipRecord>,
    clip_views: Vec<serde_json::Value>,
    trail: Vec<custodian_core::audit::AuditEntry>,
    note: String,
    public_key: String,
    now: chrono::DateTime<chrono::Utc>,
}

impl Packing {
    /// Writes the tar into `writer`: each original hashed as it is packed, then the note, the
    /// public key, the manifest and its signature.
    async fn pack(self, writer: ChunkWriter) -> Result<(), String> {
        let catalogue = &self.custody.ports.catalogue;
        let mut tar = tar::Builder::new(writer);
        let mut listed = Vec::new();
        for clip in &self.clips {
            let reader = self
                .custody
                .ports
                .blob
                .open(&clip.object_key)
                .await
                .map_err(|e| format!("opening original {}: {e}", clip.object_key))?;
            let path = format!("originals/{}", file_name(clip));
            let size = clip.size_bytes;
            let handle = tokio::runtime::Handle::current();
            let (tar_back, sha256) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                let mut hashing = HashingReader {
                    inner: tokio_util::io::SyncIoBridge::new_with_handle(reader, handle),
                    hasher: Sha256::new(),
                };
                let mut header = tar::Header::new_gnu();
                header.set_size(size);
                header.set_mode(0o444);
                header.set_cksum();
                tar.append_data(&mut header, &path, &mut hashing)?;
                Ok((
                    tar,
                    Sha256Digest::from_bytes(hashing.hasher.finalize().into()),
                ))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("packing original {}: {e}", clip.object_key))?;
            tar = tar_back;
            if sha256 != clip.sha256 {
                let detail = format!(
                    "original {} hashes to {sha256} while packing; recorded {}",
                    clip.object_key, clip.sha256
                );
                catalogue
                    .add_finding(clip.id, "checksum-mismatch", "critical", &detail, self.now)
                    .await
                    .map_err(|e| e.to_string())?;
                let entry = NewAuditEntry {
                    at: self.now,
                    actor: self.caller.name(),
                    action: "export".into(),
                    target: Some(clip.id.to_string()),
                    detail: format!("evidence package {} cut short: {detail}", self.package_id),
                };
                catalogue
                    .append_audit(self.caller.bureau.as_str(), entry)
                    .await
                    .map_err(|e| e.to_string())?;
                return Err(detail);
            }
            listed.push(PackagedFile {
                path: format!("originals/{}", file_name(clip)),
                size,
                sha256: sha256.to_hex(),
            });
        }
        for (path, bytes) in [
            (NOTE, self.note.as_bytes()),
            (PUBLIC_KEY, self.public_key.as_bytes()),
        ] {
            listed.push(PackagedFile {
                path: path.to_owned(),
                size: bytes.len() as u64,
                sha256: Sha256Digest::of(bytes).to_hex(),
            });
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            package_id: self.package_id.clone(),
            bureau: self.caller.bureau.to_string(),
            created_at: self.now,
            created_by: self.caller.name(),
            case: self
                .case
                .as_ref()
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| e.to_string())?,
            clips: self.clip_views,
            custody_trail: self.trail,
            files: listed,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        let signature = sign_manifest(&self.custody.key, &manifest_bytes);
        let (note, public_key) = (self.note, self.public_key);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for (path, bytes) in [
                (NOTE, note.as_bytes()),
                (PUBLIC_KEY, public_key.as_bytes()),
                (MANIFEST, manifest_bytes.as_slice()),
                (SIGNATURE, signature.as_bytes()),
            ] {
                append_bytes(&mut tar, path, bytes)?;
            }
            tar.into_inner()?.flush()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("finishing the package: {e}"))
    }
}

/// The tar's bytes, handed to the response in chunks of at most 256 KiB. Blocking: used from
/// the packing's blocking tasks; fails once the client has gone.
struct ChunkWriter {
    sender: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    const CHUNK: usize = 256 << 10;

    fn new(sender: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>) -> Self {
        Self {
            sender,
            buffer: Vec::with_capacity(Self::CHUNK),
        }
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= Self::CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::take(&mut self.buffer));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

fn file_name(clip: &ClipRecord) -> String {
    clip.object_key
        .rsplit('/')
        .next()
        .unwrap_or("original")
        .to_owned()
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o444);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes)
}
