//! What the two media roles share around one FFmpeg job: the clip's original copied into a
//! work directory of its own, the job run there in a sandboxed child process, what the
//! file said in catalogue terms, how a failure settles the clip (retried while that may
//! help, else marked failed with its reason and counted; the original stays as received), and
//! the claim that keeps two workers of one role from working on the same clip at once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use custodian_core::ClipState;
use custodian_platform::blob::{copy_to_file, BlobError};
use custodian_platform::bus::HandleError;
use custodian_platform::catalogue::{CatalogueError, ClipRecord, Lease, MediaFacts};
use custodian_platform::config::MediaJobArgs;
use custodian_platform::Ports;
use prometheus::IntCounterVec;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::sandbox::{Confinement, Sandbox};
use crate::{Limits, MediaError, MediaInfo};

/// Why a media job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Storage(#[from] BlobError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
}

impl JobFailure {
    pub fn retry_may_help(&self) -> bool {
        match self {
            Self::Media(e) => !e.is_permanent(),
            Self::Storage(e) => e.is_transient(),
            Self::Catalogue(e) => e.is_transient(),
        }
    }

    /// The blob store is down: nothing is wrong with the clip, and its job is worth doing
    /// once the store is back, however many deliveries that takes.
    fn is_outage(&self) -> bool {
        matches!(self, Self::Storage(BlobError::Unavailable { .. }))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Media(e) => e.kind(),
            Self::Storage(_) => "storage",
            Self::Catalogue(_) => "catalogue",
        }
    }
}

impl From<&MediaJobArgs> for Limits {
    fn from(args: &MediaJobArgs) -> Self {
        Self {
            max_duration_seconds: args.max_duration.as_secs_f64(),
            max_width: args.max_resolution.0,
            max_height: args.max_resolution.1,
        }
    }
}

impl From<&MediaJobArgs> for Confinement {
    fn from(args: &MediaJobArgs) -> Self {
        Self {
            memory_bytes: args.memory_limit,
            cpu_seconds: args.cpu_limit().as_secs().max(1),
            ..Confinement::default()
        }
    }
}

impl MediaInfo {
    /// What probing said, as the catalogue keeps it.
    pub fn facts(&self) -> MediaFacts {
        let video = self.video.as_ref();
        MediaFacts {
            container: Some(self.container.clone()),
            duration_seconds: self.duration_seconds,
            width: video.map(|v| v.width),
            height: video.map(|v| v.height),
            video_codec: video.map(|v| v.codec.clone()),
            audio_codec: self.audio.as_ref().map(|a| a.codec.clone()),
            frame_rate: video.and_then(|v| v.frame_rate),
            rotation: video.map(|v| v.rotation),
            creation_time: self.creation_time,
            // Decided with the declared time, by the worker that records the facts.
            time_source: None,
            file_latitude: self.coordinates().map(|c| c.latitude),
            file_longitude: self.coordinates().map(|c| c.longitude),
            kind: Some(self.kind),
            audio_channels: self.audio.as_ref().map(|a| u32::from(a.channels)),
            audio_sample_rate: self.audio.as_ref().map(|a| a.sample_rate),
            page_count: None,
            content_text: None,
            sound_fingerprint: None,
        }
    }
}

/// Every job directory's name starts so: `custodian-<job>-<pid>-<random>`. The pid tells whose
/// it is, so a process can sweep what a killed one left without touching a live one's.
const JOB_DIR_PREFIX: &str = "custodian-";

/// Removes the job directories under `root` that processes no longer running left behind (a
/// worker killed mid-job cannot remove its own; the original copied there can be gigabytes).
/// Answers how many were removed. Directories of live processes, and anything not named as a
/// job directory, are left alone.
pub fn sweep_stale_job_dirs(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let own = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(job_dir_pid) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if pid == own || alive || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(dir = %entry.path().display(), error = %e, "stale job directory not removed")
            }
        }
    }
    removed
}

/// The pid in a job directory's name, if `name` is one.
fn job_dir_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(JOB_DIR_PREFIX)?;
    let mut fields = rest.splitn(3, '-');
    let job = fields.next()?;
    let pid = fields.next()?.parse().ok()?;
    let random = fields.next()?;
    (["transcode", "fingerprint", "copy"].contains(&job) && !random.is_empty()).then_some(pid)
}

/// One job's work directory (removed when dropped) with the clip's original in it, the
/// job's time limit, and the sandbox its FFmpeg work runs in: dropping the workspace's job
/// kills the child doing it.
pub struct Workspace {
    dir: tempfile::TempDir,
    original: PathBuf,
    limits: Limits,
    deadline: Instant,
    sandbox: Sandbox,
}

impl Workspace {
    /// Copies `clip`'s original into a new directory under the configured work directory.
    pub async fn prepare(
        ports: &Ports,
        args: &MediaJobArgs,
        clip: &ClipRecord,
        prefix: &str,
    ) -> Result<Self, JobFailure> {
        let sandbox = Sandbox::new(args.job_exe.clone(), Confinement::from(args))?;
        let root = args.work_dir();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{JOB_DIR_PREFIX}{prefix}-{}-", std::process::id()))
            .tempdir_in(&root)
            .map_err(|source| BlobError::Io {
                path: root.display().to_string(),
                source,
            })?;
        let original = dir.path().join("original");
        copy_to_file(&*ports.blob, &clip.object_key, &original).await?;
        Ok(Self {
            dir,
            original,
            limits: Limits::from(args),
            deadline: Instant::now() + args.job_timeout,
            sandbox,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the original is a PDF document: Poppler's tools read it, not FFmpeg.
    pub fn holds_pdf(&self) -> bool {
        crate::sniff_file(&self.original) == Some(custodian_core::media::container::Looks::Pdf)
    }

    /// A PDF's pages and text, read by Poppler's confined tools within what is left of the
    /// time limit.
    pub async fn inspect_document(&self) -> Result<crate::DocumentFacts, JobFailure> {
        let (original, dir, left) = self.blocking_args();
        blocking(move || crate::inspect_pdf(&original, &dir, left)).await
    }

    /// A PDF's first page as a JPEG at `output`, at most `max_side` pixels on its longer side.
    pub async fn document_thumbnail(&self, output: &Path, max_side: u32) -> Result<(), JobFailure> {
        let (original, output, left) = (
            self.original.clone(),
            output.to_owned(),
            self.deadline.saturating_duration_since(Instant::now()),
        );
        blocking(move || crate::first_page_thumbnail(&original, &output, max_side, left)).await
    }

    fn blocking_args(&self) -> (PathBuf, PathBuf, Duration) {
        (
            self.original.clone(),
            self.dir.path().to_owned(),
            self.deadline.saturating_duration_since(Instant::now()),
        )
    }

    /// Runs `job` (a name the `media-job` child knows) with `params` on the original, in a
    /// sandboxed child confined to this directory, within what is left of the time limit.
    pub async fn run<P: Serialize, T: DeserializeOwned>(
        &self,
        job: &str,
        params: &P,
    ) -> Result<T, JobFailure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        self.sandbox
            .run(
                job,
                self.dir.path(),
                &self.original,
                &self.limits,
                left.max(Duration::from_millis(1)),
                params,
            )
            .await
            .map_err(JobFailure::from)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MediaError> + Send + 'static,
) -> Result<T, JobFailure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| MediaError::Sandbox(format!("the document job panicked: {e}")))?
        .map_err(JobFailure::from)
}

/// Claims `step` (`"transcode"`, `"fingerprint"`) of `clip` for this worker, so that two
/// workers handed the same clip at once (a redelivery, or the reconciler's fresh announcement
/// while a long job still runs) do not both make its outputs. `None`: another worker holds it.
/// The claim lasts while the returned guard lives and its catalogue connection does: a worker
/// that crashes gives it up with its connection, and its own delivery, never acknowledged,
/// comes back from the bus to whoever is free. So a worker refused the claim may drop its
/// delivery: the holder's delivery stands for the work.
pub async fn claim(
    ports: &Ports,
    step: &str,
    subject: impl std::fmt::Display,
) -> Result<Option<Box<dyn Lease>>, HandleError> {
    Ok(ports
        .catalogue
        .try_lease(&format!("media:{step}:{subject}"))
        .await?)
}

/// Whether `claim` is still held; checked before a job records what it made, so a worker whose
/// catalogue connection broke mid-job (and whose claim may have passed on) records nothing.
pub async fn still_held(
    claim: &mut Box<dyn Lease>,
    subject: impl std::fmt::Display,
) -> Result<(), HandleError> {
    if claim.held().await {
        Ok(())
    } else {
        Err(HandleError::Transient(format!(
            "the claim on {subject} was lost mid-job; the job will be done again"
        )))
    }
}

/// How a failed job ends. While a retry may help and deliveries remain, the bus tries again;
/// otherwise the clip is marked failed with the reason, the failure counted by `role` and
/// kind, and the message goes to the dead-letter subject. An outage of the blob store never
/// fails the clip: after the last delivery the message goes to the dead-letter subject, the
/// clip stays `stored`, and the reconciler announces it again.
pub async fn settle_failure(
    ports: &Ports,
    failures: &IntCounterVec,
    role: &str,
    clip: &ClipRecord,
    failure: JobFailure,
    last_attempt: bool,
) -> HandleError {
    if failure.retry_may_help() && (!last_attempt || failure.is_outage()) {
        return HandleError::Transient(failure.to_string());
    }
    // The reason is the file's, not the worker's: whichever worker fails first, a clip has
    // one reason, and both workers open files the same way, so they find the same one.
    let reason = failure.to_string();
    failures.with_label_values(&[role, failure.kind()]).inc();
    tracing::warn!(clip_id = %clip.id, role, %reason, "clip failed");
    // A clip already moved on (catalogued and being remade with a track) stays as it is.
    if let Err(e) = ports
        .catalogue
        .transition(
            clip.id,
            ClipState::Stored,
            ClipState::Failed,
            ports.clock.now(),
            Some(&reason),
        )
        .await
    {
        return HandleError::from(e);
    }
    HandleError::Permanent(failure.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_job_directories_of_dead_processes_are_swept() {
        let root = tempfile::tempdir().unwrap();
        // No pid reaches pid_max, so no process runs under it.
        let dead: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let own = std::process::id();
        let make = |name: &str| {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("original"), b"bytes").unwrap();
        };
        make(&format!("custodian-transcode-{dead}-a1b2c3"));
        make(&format!("custodian-copy-{dead}-zz9"));
        make(&format!("custodian-fingerprint-{own}-q1w2e3"));
        make(&format!("custodian-unknown-{dead}-a1b2c3"));
        make(&format!("transcode-{dead}-a1b2c3"));
        make("someone-elses");
        std::fs::write(
            root.path().join(format!("custodian-copy-{dead}-file")),
            b"x",
        )
        .unwrap();

        assert_eq!(sweep_stale_job_dirs(root.path()), 2);
        let mut left: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                format!("custodian-copy-{dead}-file"),
                format!("custodian-fingerprint-{own}-q1w2e3"),
                format!("custodian-unknown-{dead}-a1b2c3"),
                "someone-elses".to_owned(),
                format!("transcode-{dead}-a1b2c3"),
            ]
        );
        assert_eq!(sweep_stale_job_dirs(&root.path().join("missing")), 0);
    }
}
