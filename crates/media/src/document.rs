//! PDF documents (statements, warrants, scanned forms filed beside the footage): how many
//! pages, whether they are encrypted, their text, and a thumbnail of the first page.
//!
//! The work is Poppler's command-line tools (`pdfinfo`, `pdftotext`, `pdftoppm`, Debian's
//! `poppler-utils`) in child processes. A PDF is untrusted input parsed by a large C++
//! library, so it is never parsed in the worker's process: each tool runs with an empty
//! environment, in the job's work directory, in a process group of its own that is killed
//! whole at the time limit, and under resource limits, so a hostile file costs one failed
//! document. It is confined as the media jobs' child is (`sandbox::ToolConfinement`):
//! landlock lets it read the original and the system's files and write its working
//! directory only, and seccomp refuses it sockets and new processes.
//!
//! Every function here blocks until its tools finish (run it on a blocking thread).

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use custodian_core::media::container::{self, Looks};
use serde::{Deserialize, Serialize};

use crate::sandbox::ToolConfinement;
use crate::MediaError;

/// The most extracted text kept, in bytes; the rest of a longer document's text is dropped
/// (at a character boundary). A megabyte is some 500 pages of dense prose: enough to search
/// a statement by, small enough to keep in the catalogue.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// The largest thumbnail side `first_page_thumbnail` renders; a larger request is lowered
/// to it (an 8192-pixel JPEG is far past any page preview, and near the tools' memory
/// limit).
pub const MAX_THUMBNAIL_SIDE: u32 = 8192;

/// What `inspect_pdf` found in a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentFacts {
    pub pages: u32,
    /// The document's text in reading order (pages separated by form feeds), trimmed, at
    /// most `MAX_TEXT_BYTES`.
    pub text: String,
    /// Encrypted with an owner password only (copy or print restrictions): it opens and is
    /// read like any other. One that needs a user password to open is refused instead.
    pub encrypted: bool,
    /// Whether the text has anything but whitespace: false for a scan without OCR.
    pub has_text: bool,
}

/// Reads the page count, encryption and text of the PDF at `original`, within
/// `time_limit` for the whole of it. `work_dir` is the tools' working directory.
///
/// A file that is not a PDF, is damaged, or needs a password is `MediaError::Unreadable`
/// (permanent); running over the time limit is `MediaError::Stopped`; Poppler's tools not
/// being installed is `MediaError::Sandbox`.
pub fn inspect_pdf(
    original: &Path,
    work_dir: &Path,
    time_limit: Duration,
) -> Result<DocumentFacts, MediaError> {
    let clock = Clock::start(time_limit);
    let original = pdf_to_read(original)?;
    let work_dir = directory(work_dir)?;

    let info = run(
        "pdfinfo",
        &[
            "-enc".as_ref(),
            "UTF-8".as_ref(),
            "--".as_ref(),
            original.as_os_str(),
        ],
        &work_dir,
        &original,
        &clock,
        // The fields this reads are pdfinfo's last lines; the ones before them come from the
        // file and can be as long as it likes.
        Capture::Last(64 << 10),
    )?;
    if !info.status.success() {
        return Err(refusal(&info, &original));
    }
    let (pages, encrypted) = parse_info(&String::from_utf8_lossy(&info.stdout))
        .ok_or_else(|| unreadable("the PDF is damaged: pdfinfo did not report its pages"))?;
    if pages == 0 {
        return Err(unreadable("the PDF is damaged: it has no pages"));
    }

    let extracted = run(
        "pdftotext",
        &[
            "-enc".as_ref(),
            "UTF-8".as_ref(),
            "-q".as_ref(),
            "--".as_ref(),
            original.as_os_str(),
            // Standard output.
            "-".as_ref(),
        ],
        &work_dir,
        &original,
        &clock,
        // One byte more than is kept, to know whether the text was cut.
        Capture::FirstThenStop(MAX_TEXT_BYTES + 1),
    )?;
    if !extracted.cut && !extracted.status.success() {
        // pdfinfo opened the file, so this is a damaged part only text extraction reaches.
        return Err(refusal(&extracted, &original));
    }
    let text = extracted_text(&extracted.stdout);
    let has_text = !text.is_empty();
    Ok(DocumentFacts {
        pages,
        text,
        encrypted,
        has_text,
    })
}

/// Renders page 1 of the PDF at `original` scaled to fit `max_side` pixels (its longer side
/// is `max_side`, at most `MAX_THUMBNAIL_SIDE`) as a JPEG at `output`, within `time_limit`.
/// The rendering is made in a temporary directory beside `output` and renamed into place,
/// so `output` is either the whole thumbnail or untouched. Errors as for `inspect_pdf`.
pub fn first_page_thumbnail(
    original: &Path,
    output: &Path,
    max_side: u32,
    time_limit: Duration,
) -> Result<(), MediaError> {
    let clock = Clock::start(time_limit);
    let original = pdf_to_read(original)?;
    let output = absolute(output)?;
    let out_dir = directory(output.parent().unwrap_or(Path::new("/")))?;
    // A directory of its own, so that two renderings in one place cannot take each other's
    // file, and whatever pdftoppm leaves behind goes when it is dropped.
    let scratch = tempfile::Builder::new()
        .prefix(".thumbnail-")
        .tempdir_in(&out_dir)
        .map_err(io_error(&out_dir))?;
    let prefix = scratch.path().join("page");
    let side = max_side.clamp(1, MAX_THUMBNAIL_SIDE).to_string();

    let rendered = run(
        "pdftoppm",
        &[
            "-f".as_ref(),
            "1".as_ref(),
            "-l".as_ref(),
            "1".as_ref(),
            "-jpeg".as_ref(),
            "-scale-to".as_ref(),
            side.as_ref(),
            "-singlefile".as_ref(),
            "--".as_ref(),
            original.as_os_str(),
            prefix.as_os_str(),
        ],
        scratch.path(),
        &original,
        &clock,
        Capture::First(0),
    )?;
    if !rendered.status.success() {
        if rendered.status.code() == Some(POPPLER_OUTPUT_ERROR) {
            // The output directory, not the file: the worker's trouble, worth a retry.
            return Err(MediaError::Io {
                path: prefix.display().to_string(),
                source: std::io::Error::other(format!(
                    "pdftoppm could not write the thumbnail: {}",
                    first_error_line(&rendered.stderr, &original)
                        .unwrap_or_else(|| "no reason given".into())
                )),
            });
        }
        return Err(refusal(&rendered, &original));
    }
    let jpeg = prefix.with_extension("jpg");
    if !jpeg.is_file() {
        return Err(unreadable("the PDF's first page could not be rendered"));
    }
    std::fs::rename(&jpeg, &output).map_err(io_error(&output))
}

/// The original, made absolute (the tools run in the work directory, and an absolute path
/// cannot be taken for an option), once its first bytes say it is a PDF.
fn pdf_to_read(original: &Path) -> Result<PathBuf, MediaError> {
    let original = absolute(original)?;
    let mut head = Vec::with_capacity(container::SNIFF_BYTES);
    std::fs::File::open(&original)
        .and_then(|file| {
            file.take(container::SNIFF_BYTES as u64)
                .read_to_end(&mut head)
        })
        .map_err(io_error(&original))?;
    // Readers (Acrobat, Poppler) accept the header anywhere in the first kilobyte, after
    // junk some scanners write first.
    let window = &head[..head.len().min(1024)];
    if window.windows(5).any(|w| w == b"%PDF-") {
        Ok(original)
    } else {
        Err(unreadable(&not_a_pdf(container::sniff(&head))))
    }
}

/// Why a file without a PDF header is refused, from what its first bytes look like.
fn not_a_pdf(looks: Looks) -> String {
    let what = match looks {
        Looks::Empty => return "the file is empty".into(),
        Looks::Archive(what)
        | Looks::Image(what)
        | Looks::Sound(what)
        | Looks::ReferencingList(what) => what,
        Looks::Heic => "a HEIC photo",
        Looks::IsoMedia => "an MP4/MOV video",
        Looks::Matroska => "a Matroska/WebM video",
        Looks::Avi => "an AVI video",
        Looks::MpegTs => "an MPEG transport stream",
        Looks::Text => "plain text",
        // `Pdf` cannot be: its header is at the start, inside the window looked at.
        Looks::Pdf | Looks::Unknown => {
            return "the file is not a PDF (it does not start with a PDF header)".into()
        }
    };
    format!("the file is not a PDF (it looks like {what})")
}

/// Why a tool could not read the document, from how it ended.
fn refusal(ended: &Ended, original: &Path) -> MediaError {
    let status = ended.status;
    if let Some(signal) = status.signal() {
        return died(ended.tool, signal, &ended.stderr);
    }
    let stderr = String::from_utf8_lossy(&ended.stderr);
    // Poppler's words when the file needs a user password to open.
    if stderr.contains("Incorrect password") {
        return unreadable("the PDF is encrypted with a password");
    }
    let reason = first_error_line(&ended.stderr, original).unwrap_or_else(|| match status.code() {
        Some(1) => "it could not be opened".into(),
        Some(3) => "its permissions forbid this".into(),
        _ => format!("{} ended with {status}", ended.tool),
    });
    unreadable(&format!("the PDF is damaged: {reason}"))
}

/// The first line of a tool's stderr that reports an error, else its first line, without
/// Poppler's category prefix, and with the worker's path of the file left out (the reason
/// is shown to people who never see the worker's disk).
fn first_error_line(stderr: &[u8], original: &Path) -> Option<String> {
    let stderr = String::from_utf8_lossy(stderr);
    let lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines
        .clone()
        .find(|l| l.contains("Error"))
        .or_else(|| lines.clone().next())?;
    let line = [
        "Syntax Error: ",
        "Internal Error: ",
        "I/O Error: ",
        "Command Line Error: ",
    ]
    .iter()
    .find_map(|prefix| line.strip_prefix(prefix))
    .unwrap_or(line);
    Some(line.replace(&*original.to_string_lossy(), "the file"))
}

/// What a tool's death by `signal` says about the document.
fn died(tool: &str, signal: i32, stderr: &[u8]) -> MediaError {
    match signal {
        libc::SIGXCPU => MediaError::OverCpu,
        libc::SIGXFSZ => MediaError::OverFileSize,
        libc::SIGABRT => {
            // Poppler's allocator says "Out of memory" before it aborts; a failed `new`
            // says bad_alloc. Both are the address-space limit.
            let stderr = String::from_utf8_lossy(stderr);
            if stderr.contains("Out of memory") || stderr.contains("bad_alloc") {
                MediaError::OverMemory
            } else {
                MediaError::Crashed(format!("{tool}, SIGABRT"))
            }
        }
        libc::SIGSEGV => MediaError::Crashed(format!("{tool}, SIGSEGV")),
        libc::SIGBUS => MediaError::Crashed(format!("{tool}, SIGBUS")),
        libc::SIGFPE => MediaError::Crashed(format!("{tool}, SIGFPE")),
        libc::SIGILL => MediaError::Crashed(format!("{tool}, SIGILL")),
        // SIGKILL not sent by us: the CPU time's hard limit, or the kernel's OOM killer.
        libc::SIGKILL => MediaError::Crashed(format!("{tool}, SIGKILL")),
        other => MediaError::Crashed(format!("{tool}, signal {other}")),
    }
}

/// Pages and Encrypted from pdfinfo's output.
fn parse_info(info: &str) -> Option<(u32, bool)> {
    // Title, Author and the other fields before these are the file's own strings and may
    // hold line breaks (a title could read "x\nPages: 1"); Pages and Encrypted come after
    // them, written by pdfinfo, so the last line of each name is pdfinfo's.
    let field = |name: &str| {
        info.lines()
            .rev()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    let pages = field("Pages:")?.parse().ok()?;
    // "yes (print:yes copy:no change:no addNotes:no algorithm:AES-256)" or "no".
    let encrypted = field("Encrypted:")?.starts_with("yes");
    Some((pages, encrypted))
}

/// pdftotext's output as kept: valid UTF-8, trimmed, within `MAX_TEXT_BYTES`.
fn extracted_text(stdout: &[u8]) -> String {
    let kept = if stdout.len() > MAX_TEXT_BYTES {
        without_cut_character(&stdout[..MAX_TEXT_BYTES])
    } else {
        stdout
    };
    String::from_utf8_lossy(kept).trim().to_owned()
}

/// `bytes` without a UTF-8 character cut short at its end (by the size cap).
fn without_cut_character(bytes: &[u8]) -> &[u8] {
    // A character is at most 4 bytes: its first byte is among the last 4, and is the last
    // byte that is not a continuation byte (10xxxxxx).
    let from = bytes.len().saturating_sub(4);
    let Some(start) = (from..bytes.len())
        .rev()
        .find(|&i| bytes[i] & 0b1100_0000 != 0b1000_0000)
    else {
        return bytes;
    };
    match std::str::from_utf8(&bytes[start..]) {
        // `error_len` is `None` when the bytes are a valid start that ends too soon.
        Err(e) if e.error_len().is_none() => &bytes[..start],
        _ => bytes,
    }
}

fn unreadable(reason: &str) -> MediaError {
    MediaError::Unreadable(reason.to_owned())
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MediaError + '_ {
    move |source| MediaError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn absolute(path: &Path) -> Result<PathBuf, MediaError> {
    std::path::absolute(path).map_err(io_error(path))
}

/// `dir` made absolute, once it is known to be a directory (else starting a tool in it
/// would fail as if the tool were missing).
fn directory(dir: &Path) -> Result<PathBuf, MediaError> {
    let dir = absolute(dir)?;
    let metadata = std::fs::metadata(&dir).map_err(io_error(&dir))?;
    if metadata.is_dir() {
        Ok(dir)
    } else {
        Err(MediaError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
        })
    }
}

/// Poppler's exit status for "error opening an output file".
const POPPLER_OUTPUT_ERROR: i32 = 2;
/// The most of a tool's stderr kept (its first lines say what went wrong).
const STDERR_KEPT: usize = 16 << 10;
/// The longest pause between looks at a running tool: the most a finished tool waits to be
/// noticed, or a tool past its limit runs on.
const MAX_POLL: Duration = Duration::from_millis(20);
/// RLIMIT_AS: Poppler renders a page in memory; a letter page at 8192 pixels is 200 MB.
const MEMORY_BYTES: u64 = 1 << 30;
/// RLIMIT_FSIZE: the largest file a tool may write (a thumbnail is kilobytes).
const FILE_SIZE_BYTES: u64 = 256 << 20;
/// RLIMIT_NOFILE: Poppler opens the file, its output and a few fonts.
const OPEN_FILES: u64 = 64;

/// The time limit of one call, shared by the tools it runs in turn.
struct Clock {
    started: Instant,
    deadline: Instant,
}

impl Clock {
    fn start(limit: Duration) -> Self {
        let started = Instant::now();
        Self {
            started,
            // A limit too far to add is no limit; a century is as good.
            deadline: started
                .checked_add(limit)
                .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600)),
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn stopped(&self) -> MediaError {
        MediaError::Stopped(self.started.elapsed())
    }
}

/// How much of a tool's output to keep.
#[derive(Clone, Copy)]
enum Capture {
    /// The first bytes, up to the count, the rest read and dropped (so the tool never
    /// blocks on, or dies of, a full pipe).
    First(usize),
    /// The last bytes, up to the count.
    Last(usize),
    /// The first bytes, up to the count; then the tool is stopped, having said enough.
    FirstThenStop(usize),
}

/// How a tool that ran to its end (or was stopped for having said enough) ended.
struct Ended {
    tool: &'static str,
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Stopped by us once `Capture::FirstThenStop` had its bytes: `status` says nothing.
    cut: bool,
}

/// Runs `tool` with `args` in `dir`, confined (see the module's comment), until it ends or
/// the clock runs out (`MediaError::Stopped`, the tool's whole process group killed).
fn run(
    tool: &'static str,
    args: &[&std::ffi::OsStr],
    dir: &Path,
    original: &Path,
    clock: &Clock,
    stdout: Capture,
) -> Result<Ended, MediaError> {
    // Checked before starting, so that a limit already spent stops whatever the tool's speed.
    if clock.remaining().is_zero() {
        return Err(clock.stopped());
    }
    // The soft limit sends SIGXCPU (over the CPU limit); the hard one, a second later,
    // SIGKILL for a tool that would ignore it. The wall-clock limit normally comes first:
    // this bounds a tool the worker could not kill (the worker itself killed).
    let cpu_seconds = clock.remaining().as_secs().saturating_add(1);
    let confinement = ToolConfinement::new(dir, &[original])
        .map_err(|e| MediaError::Sandbox(format!("confining {tool}: {e}")))?;
    let mut command = Command::new(tool);
    command
        .args(args)
        .current_dir(dir)
        // Nothing of the worker's environment (credentials in CUSTODIAN_* variables) reaches
        // the tool; PATH is what `Command` finds the tool by.
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, killed whole at the time limit, and out of reach of a
        // terminal's Ctrl-C, which is the worker's to handle.
        .process_group(0);
    // SAFETY: the closure runs in the child between fork and exec, and calls only
    // async-signal-safe functions (setrlimit, prctl, close_range, landlock_restrict_self)
    // on values built before the fork; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            confine(cpu_seconds)?;
            confinement.apply()
        });
    }
    let child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            MediaError::Sandbox(format!(
                "{tool} is not installed (it is in Debian's poppler-utils package)"
            ))
        } else {
            MediaError::Sandbox(format!("cannot start {tool}: {e}"))
        }
    })?;
    let mut running = Running(child);
    let (Some(out), Some(err)) = (running.0.stdout.take(), running.0.stderr.take()) else {
        return Err(MediaError::Sandbox(format!("{tool}'s pipes were not made")));
    };

    let said_enough = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let out = scope.spawn(|| read(out, stdout, &said_enough));
        let err = scope.spawn(|| read(err, Capture::First(STDERR_KEPT), &AtomicBool::new(false)));
        let waited = running.wait(clock, &said_enough, tool);
        // The tool is gone (ended or killed, and reaped), so its pipes are closed and the
        // readers end; a reader that panicked kept nothing.
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        let (status, cut) = waited?;
        Ok(Ended {
            tool,
            status,
            stdout,
            stderr,
            cut,
        })
    })
}

/// What the child does to itself before it becomes the tool.
fn confine(cpu_seconds: u64) -> std::io::Result<()> {
    let set = |resource, soft: u64, hard: u64| {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct passed by reference for the call's duration.
        if unsafe { libc::setrlimit(resource, &limit) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    set(libc::RLIMIT_AS, MEMORY_BYTES, MEMORY_BYTES)?;
    set(libc::RLIMIT_CPU, cpu_seconds, cpu_seconds.saturating_add(1))?;
    set(libc::RLIMIT_FSIZE, FILE_SIZE_BYTES, FILE_SIZE_BYTES)?;
    set(libc::RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES)?;
    // A crash leaves no core file (it would hold the document's contents).
    set(libc::RLIMIT_CORE, 0, 0)?;
    // SAFETY: both calls only change flags of this process. Descriptors the worker opened
    // without close-on-exec (a socket, another job's file) get it, so the tool never holds
    // them; kernels before 5.11 refuse the flag, and then std's own close-on-exec has to do.
    // The tool dies with the thread that started it, should the worker die first.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    Ok(())
}

/// Reads `pipe` to its end keeping what `capture` says; for `FirstThenStop`, stops reading
/// when it has its bytes and raises `said_enough`.
fn read(mut pipe: impl Read, capture: Capture, said_enough: &AtomicBool) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 64 << 10];
    loop {
        let n = match pipe.read(&mut buffer) {
            Ok(0) => return kept,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return kept,
        };
        let chunk = &buffer[..n];
        match capture {
            Capture::First(limit) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            Capture::Last(limit) => {
                kept.extend_from_slice(chunk);
                if kept.len() > limit {
                    kept.drain(..kept.len() - limit);
                }
            }
            Capture::FirstThenStop(limit) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
                if kept.len() >= limit {
                    said_enough.store(true, Ordering::Relaxed);
                    return kept;
                }
            }
        }
    }
}

/// A started tool. Dropped before it was reaped (an early return, a panic), its group is
/// killed and it is reaped, so no tool outlives the call that started it.
struct Running(Child);

impl Running {
    /// Waits for the tool to end, polling, so that the one thread that reaps it is also the
    /// one that kills its group: a group id is the tool's pid, which is not reused before
    /// the tool is reaped, so a kill can never reach another process.
    fn wait(
        &mut self,
        clock: &Clock,
        said_enough: &AtomicBool,
        tool: &str,
    ) -> Result<(ExitStatus, bool), MediaError> {
        let mut pause = Duration::from_millis(1);
        loop {
            // The clock first: a spent limit stops the tool even if it has just ended.
            if clock.remaining().is_zero() {
                self.kill_group_and_reap();
                return Err(clock.stopped());
            }
            if said_enough.load(Ordering::Relaxed) {
                return match self.kill_group_and_reap() {
                    Some(status) => Ok((status, true)),
                    None => Err(MediaError::Sandbox(format!("{tool} could not be reaped"))),
                };
            }
            match self.0.try_wait() {
                Ok(Some(status)) => return Ok((status, false)),
                Ok(None) => {}
                Err(e) => {
                    self.kill_group_and_reap();
                    return Err(MediaError::Sandbox(format!("waiting for {tool}: {e}")));
                }
            }
            std::thread::sleep(pause.min(clock.remaining()));
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    fn kill_group_and_reap(&mut self) -> Option<ExitStatus> {
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: killpg has no memory-safety preconditions; the group is this unreaped
            // child's (see `wait`).
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
        self.0.wait().ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.kill_group_and_reap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `bash -c script` as the Poppler tools run, in `dir`, allowed to read `original`.
    fn confined_shell(script: &str, dir: &Path, original: &Path) -> Ended {
        run(
            "bash",
            &["-c".as_ref(), script.as_ref()],
            dir,
            original,
            &Clock::start(Duration::from_secs(30)),
            Capture::First(4096),
        )
        .expect("bash runs confined")
    }

    #[test]
    fn a_tool_reads_its_files_only_and_has_no_network_or_processes() {
        let work = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let original = elsewhere.path().join("original.pdf");
        std::fs::write(&original, b"%PDF-1.4 the original").unwrap();
        let secret = elsewhere.path().join("catalogue.db");
        std::fs::write(&secret, b"every bureau's records").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();

        // What the tool needs: the original, its working directory, the system's files.
        // (Builtins only: a program would need a fork, which is refused.)
        let allowed = confined_shell(
            &format!(
                "IFS= read -r -d '' line < '{}'; printf '%s\\n' \"$line\"; echo made > page.jpg; \
                 IFS= read -r made < page.jpg; echo \"$made\"; test -r /etc/fonts && echo system",
                original.display()
            ),
            work.path(),
            &original,
        );
        let out = String::from_utf8_lossy(&allowed.stdout);
        assert!(
            allowed.status.success(),
            "{} {out} {:?}",
            allowed.status,
            String::from_utf8_lossy(&allowed.stderr)
        );
        assert_eq!(out, "%PDF-1.4 the original\nmade\nsystem\n");

        // Another file beside the original (the catalogue, keys, other footage): refused.
        let read = confined_shell(
            &format!(
                "IFS= read -r -d '' x < '{}'; echo \"[$x]\"",
                secret.display()
            ),
            work.path(),
            &original,
        );
        assert_eq!(
            String::from_utf8_lossy(&read.stdout),
            "[]\n",
            "the tool read a file it was not given"
        );
        assert!(String::from_utf8_lossy(&read.stderr).contains("Permission denied"));

        // No socket: bash's /dev/tcp makes one and connects.
        let connect = confined_shell(
            &format!("echo leak > /dev/tcp/127.0.0.1/{port}"),
            work.path(),
            &original,
        );
        assert!(!connect.status.success());
        assert!(
            matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the tool reached the listener"
        );

        // No new process: a subshell that runs a program forks first.
        let fork = confined_shell("/usr/bin/true & wait; echo forked", work.path(), &original);
        let stderr = String::from_utf8_lossy(&fork.stderr);
        assert!(stderr.contains("fork"), "{stderr}");
    }

    #[test]
    fn reads_pdfinfo_fields_the_file_cannot_forge() {
        let info = "Title:           x\nPages:           900\nEncrypted:       no\n\
                    Tagged:          no\nPages:           2\n\
                    Encrypted:       yes (print:yes copy:no change:no addNotes:no algorithm:AES-256)\n\
                    Page size:       612 x 792 pts (letter)\n";
        assert_eq!(parse_info(info), Some((2, true)));
        assert_eq!(
            parse_info("Pages:           1\nEncrypted:       no\n"),
            Some((1, false))
        );
        assert_eq!(parse_info("Title: nothing else\n"), None);
    }

    #[test]
    fn cut_text_ends_at_a_character_boundary() {
        let word = "记录".as_bytes();
        assert_eq!(without_cut_character(&word[..4]), &word[..3]);
        assert_eq!(without_cut_character(&word[..3]), &word[..3]);
        assert_eq!(without_cut_character(b"abc"), b"abc");
        assert_eq!(without_cut_character(b""), b"");

        let long = "é".repeat(MAX_TEXT_BYTES); // 2 bytes each
        let mut bytes = b" ".to_vec();
        bytes.extend_from_slice(long.as_bytes());
        let text = extracted_text(&bytes);
        assert!(text.len() <= MAX_TEXT_BYTES);
        assert!(text.len() >= MAX_TEXT_BYTES - 4);
        assert!(text.chars().all(|c| c == 'é'));
    }

    #[test]
    fn refusals_say_what_the_file_is() {
        assert_eq!(
            not_a_pdf(container::sniff(b"PK\x03\x04rest")),
            "the file is not a PDF (it looks like a ZIP archive)"
        );
        assert_eq!(not_a_pdf(Looks::Empty), "the file is empty");
        assert!(not_a_pdf(Looks::Unknown).contains("PDF header"));
        assert_eq!(
            first_error_line(
                b"Syntax Warning: May not be a PDF file\nSyntax Error: Couldn't find trailer dictionary\n",
                Path::new("/w/x.pdf"),
            )
            .as_deref(),
            Some("Couldn't find trailer dictionary")
        );
        assert_eq!(
            first_error_line(
                b"I/O Error: Couldn't open file '/w/x.pdf': gone.\n",
                Path::new("/w/x.pdf")
            )
            .as_deref(),
            Some("Couldn't open file 'the file': gone.")
        );
    }
}
