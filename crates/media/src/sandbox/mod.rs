//! Every media job in a child process of its own. FFmpeg's demuxers and decoders read
//! untrusted uploads and have a long history of memory-safety bugs; in the server's process a
//! crafted file could stop ingest, the API and the audit trail together, or run code beside
//! the signing key. So the worker (`Sandbox::run`) starts `custodian media-job`, writes it one
//! request (a JSON line on its stdin: the job, its work directory, its limits and its
//! parameters) and reads one response (a JSON line on its stdout). The child (`child::serve`)
//! confines itself before it opens the file (`confine`): no inherited descriptors, resource
//! limits, landlock to its work directory, a seccomp filter without sockets, and runs the job
//! with ffmpeg-next as before.
//!
//! A child that dies by a signal or over a limit is a result, not an error of the worker: the
//! file made FFmpeg crash, and will on every worker, so it is a permanent failure
//! (`MediaError::Crashed`, `OverMemory`, `OverCpu`, `OverFileSize`).

pub mod child;
mod confine;

pub(crate) use confine::ToolConfinement;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Limits, MediaError};

/// The hidden subcommand of the `custodian` binary that runs one job.
pub const SUBCOMMAND: &str = "media-job";

/// What the child may use. Generous for real footage (a 6-hour 4K clip transcodes within
/// them); what goes past them is a hostile or broken file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// RLIMIT_AS: the address space, in bytes (thread stacks and malloc arenas count).
    pub memory_bytes: u64,
    /// RLIMIT_CPU: seconds of CPU time, all threads together.
    pub cpu_seconds: u64,
    /// RLIMIT_FSIZE: the largest file the job may write, in bytes.
    pub file_size_bytes: u64,
    /// RLIMIT_NOFILE: descriptors open at once.
    pub open_files: u64,
}

impl Default for Confinement {
    fn default() -> Self {
        Self {
            memory_bytes: 8 << 30,
            cpu_seconds: 4 * 3600,
            file_size_bytes: 64 << 30,
            open_files: 256,
        }
    }
}

/// One job, as the worker sends it to the child.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// Which job (`child::serve`'s caller knows them by name).
    pub job: String,
    /// The job's work directory: the only one the child may read and write.
    pub dir: PathBuf,
    /// The original, inside `dir`.
    pub original: PathBuf,
    pub limits: Limits,
    /// The job's own time limit, after which FFmpeg stops and the job answers `Stopped`.
    pub timeout_ms: u64,
    pub confinement: Confinement,
    /// The job's parameters, typed by the job.
    pub params: serde_json::Value,
    /// The worker's process id: a child whose parent is no longer it was orphaned before it
    /// could ask to die with it, and stops.
    pub worker_pid: u32,
}

/// The child's one answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Done(serde_json::Value),
    Failed(WireError),
}

/// A `MediaError` as it crosses the process boundary: the permanent kinds keep their kind
/// and text (the clip's failure reason), the rest keep their text and stay transient.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireError {
    NotVideo(String),
    Undecodable(String),
    OverLimit(String),
    Stopped { seconds: f64 },
    OverMemory,
    OverCpu,
    OverFileSize,
    Sandbox(String),
    Transient { kind: String, message: String },
}

impl From<&MediaError> for WireError {
    fn from(e: &MediaError) -> Self {
        match e {
            MediaError::NotVideo(m) => Self::NotVideo(m.clone()),
            MediaError::Undecodable(m) => Self::Undecodable(m.clone()),
            MediaError::OverLimit(m) => Self::OverLimit(m.clone()),
            MediaError::Stopped(d) => Self::Stopped {
                seconds: d.as_secs_f64(),
            },
            // A crash is seen by the parent, never reported by the child itself.
            MediaError::Crashed(m) => Self::Undecodable(format!("the decoder crashed ({m})")),
            MediaError::OverMemory => Self::OverMemory,
            MediaError::OverCpu => Self::OverCpu,
            MediaError::OverFileSize => Self::OverFileSize,
            MediaError::Sandbox(m) => Self::Sandbox(m.clone()),
            other => Self::Transient {
                kind: other.kind().to_owned(),
                message: other.to_string(),
            },
        }
    }
}

impl From<WireError> for MediaError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NotVideo(m) => Self::NotVideo(m),
            WireError::Undecodable(m) => Self::Undecodable(m),
            WireError::OverLimit(m) => Self::OverLimit(m),
            WireError::Stopped { seconds } => {
                Self::Stopped(Duration::try_from_secs_f64(seconds).unwrap_or_default())
            }
            WireError::OverMemory => Self::OverMemory,
            WireError::OverCpu => Self::OverCpu,
            WireError::OverFileSize => Self::OverFileSize,
            WireError::Sandbox(m) => Self::Sandbox(m),
            WireError::Transient { kind, message } => Self::Reported {
                // Metrics labels are a closed set; a kind this side does not know is "other".
                kind: match kind.as_str() {
                    "ffmpeg" => "ffmpeg",
                    "io" => "io",
                    "stopped" => "stopped",
                    _ => "other",
                },
                message,
            },
        }
    }
}

/// The largest response read from a child: a 6-hour clip's per-second hashes and frame
/// times are a few megabytes of JSON.
const MAX_RESPONSE: u64 = 256 << 20;
/// How much of a child's stderr is kept (its last bytes), for the log and to tell an
/// allocation failure from another abort.
const STDERR_TAIL: usize = 16 << 10;
/// Past the job's own time limit, how long the child has to notice it and answer before its
/// process group is killed.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Starts jobs in confined children: the executable to run (`custodian`, which has the
/// hidden `media-job` subcommand) and the limits each child gets.
#[derive(Debug, Clone)]
pub struct Sandbox {
    exe: PathBuf,
    confinement: Confinement,
}

impl Sandbox {
    /// Runs jobs with `exe media-job`; `None` is `custodian`: this process's own executable,
    /// or, when the workers run inside another program (a test harness), the `custodian`
    /// beside it or one directory up (where cargo puts test programs, in `deps/`).
    pub fn new(exe: Option<PathBuf>, confinement: Confinement) -> Result<Self, MediaError> {
        let exe = match exe {
            Some(exe) => exe,
            None => default_exe()?,
        };
        Ok(Self { exe, confinement })
    }

    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// Runs `job` with `params` on `original` in `dir` in a confined child, and answers its
    /// typed result. Dropping the future kills the child's process group.
    pub async fn run<P: Serialize, T: DeserializeOwned>(
        &self,
        job: &str,
        dir: &Path,
        original: &Path,
        limits: &Limits,
        timeout: Duration,
        params: &P,
    ) -> Result<T, MediaError> {
        let protocol = |e: &dyn std::fmt::Display| MediaError::Sandbox(format!("{job}: {e}"));
        // The child starts in `dir`: relative paths would name something else there.
        let absolute = |path: &Path| {
            std::path::absolute(path).map_err(|e| protocol(&format!("{}: {e}", path.display())))
        };
        let (dir, original) = (absolute(dir)?, absolute(original)?);
        let request = Request {
            job: job.to_owned(),
            dir: dir.clone(),
            original: original.clone(),
            limits: *limits,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            confinement: self.confinement,
            params: serde_json::to_value(params).map_err(|e| protocol(&e))?,
            worker_pid: std::process::id(),
        };
        let mut line = serde_json::to_vec(&request).map_err(|e| protocol(&e))?;
        line.push(b'\n');

        let started = Instant::now();
        let mut command = tokio::process::Command::new(&self.exe);
        command
            .arg(SUBCOMMAND)
            .current_dir(&dir)
            // Nothing of the worker's environment (credentials in CUSTODIAN_* variables)
            // reaches the child: only what FFmpeg and fontconfig read.
            .env_clear()
            .envs(child_environment(&dir))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so the whole of it can be killed, and so a terminal's
            // Ctrl-C reaches the worker, which then stops its jobs, rather than the child.
            .process_group(0)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| protocol(&format!("cannot start {}: {e}", self.exe.display())))?;
        let mut child = GroupKilledOnDrop(child);
        let (Some(mut stdin), Some(stdout), Some(stderr)) = (
            child.0.stdin.take(),
            child.0.stdout.take(),
            child.0.stderr.take(),
        ) else {
            return Err(protocol(&"the child's pipes were not made"));
        };

        let exchange = async {
            // A child that died before reading its request is seen by its exit status.
            let wrote = async {
                let _ = stdin.write_all(&line).await;
                drop(stdin);
            };
            let read = async {
                let mut out = Vec::new();
                let _ = stdout.take(MAX_RESPONSE).read_to_end(&mut out).await;
                out
            };
            let (_, out, err, status) =
                tokio::join!(wrote, read, stderr_tail(stderr), child.0.wait());
            (out, err, status)
        };
        let outcome = tokio::time::timeout(timeout + KILL_GRACE, exchange).await;
        let Ok((out, err, status)) = outcome else {
            // It did not stop by itself (a decoder loop that never checks the stop flag):
            // the whole group goes, and the job is over its time limit like any other.
            child.kill_group();
            let _ = child.0.wait().await;
            tracing::warn!(job, elapsed = ?started.elapsed(), "media job killed at its time limit");
            return Err(MediaError::Stopped(started.elapsed()));
        };
        let status = status.map_err(|e| protocol(&format!("waiting for the child: {e}")))?;
        let stderr = String::from_utf8_lossy(&err);
        if !stderr.trim().is_empty() {
            tracing::debug!(job, stderr = %stderr.trim(), "media job's stderr");
        }
        if let Some(signal) = status.signal() {
            let failure = signal_failure(signal, &stderr);
            tracing::warn!(job, signal = signal_name(signal), %failure, "media job died");
            return Err(failure);
        }
        let response = out
            .split(|b| *b == b'\n')
            .rev()
            .find(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(serde_json::from_slice::<Response>);
        match response {
            Some(Ok(Response::Done(value))) => {
                serde_json::from_value(value).map_err(|e| protocol(&format!("its answer: {e}")))
            }
            Some(Ok(Response::Failed(e))) => Err(e.into()),
            // No answer: a panic (exit 101) or an exit the job did not choose. The file
            // made the job end abnormally, as a crash does.
            Some(Err(_)) | None if status.code() == Some(101) => {
                Err(MediaError::Crashed("panic".into()))
            }
            Some(Err(e)) => Err(protocol(&format!("its answer: {e}"))),
            None => Err(MediaError::Crashed(format!("exit status {status}"))),
        }
    }
}

fn default_exe() -> Result<PathBuf, MediaError> {
    let own = std::env::current_exe().map_err(|e| {
        MediaError::Sandbox(format!("cannot name this executable for media jobs: {e}"))
    })?;
    if own.file_name().is_some_and(|name| name == "custodian") {
        return Ok(own);
    }
    own.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("custodian"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            MediaError::Sandbox(format!(
                "{} is not custodian and no custodian is beside it: set --media-job-exe",
                own.display()
            ))
        })
}

/// The variables a job's child gets: a home and caches inside its work directory, a UTF-8
/// locale, and the operator's fontconfig settings if any (fonts are configuration, not
/// secrets).
fn child_environment(dir: &Path) -> Vec<(String, std::ffi::OsString)> {
    let mut env = vec![
        ("HOME".to_owned(), dir.as_os_str().to_owned()),
        (
            "XDG_CACHE_HOME".to_owned(),
            dir.join(".cache").into_os_string(),
        ),
        ("LC_ALL".to_owned(), "C.UTF-8".into()),
        ("PATH".to_owned(), "/usr/bin:/bin".into()),
    ];
    for name in ["FONTCONFIG_FILE", "FONTCONFIG_PATH", "RUST_BACKTRACE"] {
        if let Some(value) = std::env::var_os(name) {
            env.push((name.to_owned(), value));
        }
    }
    env
}

/// A child whose process group is killed when it is dropped unfinished (the worker gave up
/// on the job, or is shutting down), so no decoder outlives the job that started it.
struct GroupKilledOnDrop(tokio::process::Child);

impl GroupKilledOnDrop {
    fn kill_group(&mut self) {
        // `id()` is `None` once the child is reaped; until then the pid (and so the group id,
        // which is the pid) cannot name another process.
        if let Some(pid) = self.0.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKilledOnDrop {
    fn drop(&mut self) {
        self.kill_group();
    }
}

async fn stderr_tail(mut stderr: tokio::process::ChildStderr) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => return tail,
            Ok(n) => {
                tail.extend_from_slice(&buffer[..n]);
                if tail.len() > STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
        }
    }
}

/// What a child's death by `signal` says about the file.
fn signal_failure(signal: i32, stderr: &str) -> MediaError {
    match signal {
        libc::SIGXCPU => MediaError::OverCpu,
        libc::SIGXFSZ => MediaError::OverFileSize,
        // Rust's allocation-failure handler says so on stderr, then aborts.
        libc::SIGABRT if stderr.contains("memory allocation of") => MediaError::OverMemory,
        other => MediaError::Crashed(signal_name(other)),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGSYS => "SIGSYS".into(),
        libc::SIGTRAP => "SIGTRAP".into(),
        libc::SIGXCPU => "SIGXCPU".into(),
        libc::SIGXFSZ => "SIGXFSZ".into(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deaths_by_signal_are_named_for_the_clip() {
        assert_eq!(
            signal_failure(libc::SIGSEGV, "").to_string(),
            "the decoder crashed (SIGSEGV)"
        );
        assert_eq!(
            signal_failure(libc::SIGABRT, "memory allocation of 1048576 bytes failed\n")
                .to_string(),
            "over the memory limit"
        );
        assert_eq!(
            signal_failure(libc::SIGABRT, "assertion failed").to_string(),
            "the decoder crashed (SIGABRT)"
        );
        assert!(matches!(
            signal_failure(libc::SIGXCPU, ""),
            MediaError::OverCpu
        ));
        assert!(signal_failure(libc::SIGBUS, "").is_permanent());
    }

    #[test]
    fn errors_cross_the_boundary_with_their_kind_and_text() {
        let sent = MediaError::NotVideo("a PDF document".into());
        let back = MediaError::from(WireError::from(&sent));
        assert!(back.is_permanent());
        assert_eq!(back.to_string(), sent.to_string());
        let sent = MediaError::Io {
            path: "/w/view.mp4".into(),
            source: std::io::Error::other("disk full"),
        };
        let back = MediaError::from(WireError::from(&sent));
        assert!(!back.is_permanent());
        assert_eq!(back.kind(), "io");
        assert_eq!(back.to_string(), sent.to_string());
        let back = MediaError::from(WireError::from(&MediaError::Stopped(
            Duration::from_millis(2500),
        )));
        assert!(matches!(back, MediaError::Stopped(d) if d == Duration::from_millis(2500)));
    }
}
