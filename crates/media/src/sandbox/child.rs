//! The child's side: `custodian media-job` calls `serve` with the jobs it knows. It closes
//! what it inherited, reads its request, confines itself, and only then runs the job and
//! opens the file. It answers on stdout and exits; a crash is left for the worker to see.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{confine, Request, Response, WireError};
use crate::{Limits, MediaError, StopFlag};

/// The largest request read: parameters are a clip's overlay facts and its GPS track.
const MAX_REQUEST: u64 = 64 << 20;

/// What a job gets: its work directory, the original in it, the limits on the footage, the
/// stop flag at its time limit, and its parameters as sent.
pub struct JobInput<'a> {
    pub job: &'a str,
    pub dir: &'a Path,
    pub original: &'a Path,
    pub limits: &'a Limits,
    pub stop: &'a StopFlag,
    pub params: serde_json::Value,
}

/// Runs one job in this (child) process. `run` does the job by its name and answers its
/// result as JSON.
pub fn serve(run: impl FnOnce(JobInput<'_>) -> Result<serde_json::Value, MediaError>) -> ExitCode {
    confine::close_inherited_descriptors();
    // A worker killed outright (SIGKILL, OOM) cannot kill this process group: the child dies
    // with it instead of decoding on for nobody. The worker's thread that started it is a
    // runtime thread that lives as long as the worker.
    // SAFETY: prctl with these arguments only sets this process's parent-death signal.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    let request = match read_request() {
        Ok(request) => request,
        Err(e) => return answer(&Response::Failed(WireError::Sandbox(e))),
    };
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    if u32::try_from(parent).ok() != Some(request.worker_pid) {
        // The worker died before the death signal was set: nobody will read the answer.
        return ExitCode::FAILURE;
    }
    match confine::confine(&request.dir, &request.confinement) {
        Ok(confined) => {
            if confined.landlock_abi.is_none() {
                eprintln!(
                    "media-job: the kernel has no landlock; confined by seccomp and limits only"
                );
            }
        }
        Err(e) => {
            return answer(&Response::Failed(WireError::Sandbox(format!(
                "confining the job: {e}"
            ))))
        }
    }
    let stop = StopFlag::with_deadline(Instant::now() + Duration::from_millis(request.timeout_ms));
    if let Some(result) = test_hook(&request.original) {
        return answer(&Response::Failed(WireError::from(&result)));
    }
    let result = run(JobInput {
        job: &request.job,
        dir: &request.dir,
        original: &request.original,
        limits: &request.limits,
        stop: &stop,
        params: request.params,
    });
    match result {
        Ok(value) => answer(&Response::Done(value)),
        Err(e) => answer(&Response::Failed(WireError::from(&over_memory(e)))),
    }
}

/// FFmpeg answers an allocation refused by the address-space limit with ENOMEM rather than
/// a crash: that is the file going over the memory limit too.
fn over_memory(e: MediaError) -> MediaError {
    match &e {
        MediaError::Ffmpeg {
            source: ffmpeg_next::Error::Other { errno },
            ..
        } if *errno == libc::ENOMEM => MediaError::OverMemory,
        MediaError::Io { source, .. } if source.kind() == std::io::ErrorKind::OutOfMemory => {
            MediaError::OverMemory
        }
        _ => e,
    }
}

fn read_request() -> Result<Request, String> {
    let mut line = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_REQUEST)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the request: {e}"))?;
    serde_json::from_slice(&line).map_err(|e| format!("the request: {e}"))
}

fn answer(response: &Response) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, response)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("media-job: cannot answer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The first bytes of an original that make a debug build's child misbehave on purpose, for
/// the sandbox's tests: `CUSTODIAN-SANDBOX-TEST segv`, `... allocate`, `... spin`,
/// `... connect 127.0.0.1:PORT`, `... read /path`. Release builds never look.
pub const TEST_HOOK_MARKER: &str = "CUSTODIAN-SANDBOX-TEST ";

/// In a debug build, does what an original starting with `TEST_HOOK_MARKER` asks, inside the
/// sandbox, and answers what came of it (the attempts that the sandbox must refuse answer
/// whether it did).
fn test_hook(original: &Path) -> Option<MediaError> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let mut head = vec![0u8; 512];
    let read = std::fs::File::open(original)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let head = std::str::from_utf8(&head[..read]).ok()?;
    let command = head.strip_prefix(TEST_HOOK_MARKER)?.lines().next()?.trim();
    let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));
    let outcome = |what: &str, result: Result<String, std::io::Error>| match result {
        Ok(got) => MediaError::NotVideo(format!("test hook: {what} allowed: {got}")),
        Err(e) => MediaError::NotVideo(format!("test hook: {what} refused: {e}")),
    };
    Some(match verb {
        "segv" => {
            // Rust's own SIGSEGV handler (for stack overflows) ignores a raised signal: put
            // the default action back, which ends the process as a decoder's bad pointer does.
            // SAFETY: neither call has memory-safety preconditions.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
            MediaError::NotVideo("test hook: SIGSEGV did not end the job".into())
        }
        "allocate" => {
            // Touches every page, as a decoder filling a buffer does, until refused.
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                held.push(vec![1u8; 64 << 20]);
                if held.len() > 1024 {
                    break MediaError::NotVideo("test hook: 64 GiB allocated".into());
                }
            }
        }
        "spin" => {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
                if x == u64::MAX {
                    break MediaError::NotVideo("test hook: spun out".into());
                }
            }
        }
        "connect" => outcome(
            "connect",
            std::net::TcpStream::connect(argument).map(|s| format!("{:?}", s.peer_addr())),
        ),
        "read" => outcome("read", std::fs::read_to_string(argument)),
        other => MediaError::NotVideo(format!("test hook: unknown {other:?}")),
    })
}
