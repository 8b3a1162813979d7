//! What a media job's child does to itself before it opens the file: close every descriptor
//! it was not meant to have, take its resource limits, restrict its file system view to the
//! work directory and what FFmpeg and fontconfig read (landlock, where the kernel has it),
//! and install a seccomp filter that lets through only the system calls decoding, encoding
//! and drawing text need: no sockets, new programs, new processes, signals to others, nor
//! any call that would undo the rest. All of it happens while the child has one thread, so
//! every thread FFmpeg starts inherits it.
//!
//! The child's filter is an allow-list (the calls glibc, FFmpeg, libx264, freetype and
//! fontconfig were seen to make, traced with strace over every kind of record, and the
//! harmless ones of their kind); a call not on it answers EPERM, which the libraries take as
//! a failure they report, not a crash. Poppler's tools, which the worker starts itself,
//! keep a deny-list: a program of its own with its own needs, bounded by landlock and the
//! limits.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

use super::Confinement;

/// What went wrong confining the child; the job is not run.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("seccomp filter: {0}")]
    Seccomp(String),
}

fn os(what: &'static str) -> ConfineError {
    ConfineError::Os {
        what,
        source: std::io::Error::last_os_error(),
    }
}

/// How the child was confined, for its stderr (the worker logs it).
#[derive(Debug)]
pub struct Confined {
    /// The landlock ABI used, or `None` where the kernel has no landlock.
    pub landlock_abi: Option<i64>,
}

/// Closes every descriptor above stderr: whatever the worker had open without close-on-exec
/// (a database socket, another job's file) is not the job's.
pub fn close_inherited_descriptors() {
    // SAFETY: close_range only closes descriptors; nothing in this process holds 3 and above
    // yet (this runs first thing in the child, before anything opens a file).
    let closed = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if closed != 0 {
        // Kernels before 5.9: close them one by one.
        for fd in 3..1024 {
            // SAFETY: as above.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// Applies `limits`, landlock on `dir`, and the seccomp filter, in that order (the filter
/// forbids what the first two need).
pub fn confine(dir: &Path, limits: &Confinement) -> Result<Confined, ConfineError> {
    set_limits(limits)?;
    // SAFETY: prctl with these arguments only sets a flag of this process; landlock and
    // seccomp both require it of a process without CAP_SYS_ADMIN.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(os("no_new_privs"));
    }
    let ruleset = landlock::Ruleset::new(dir, &[])?;
    if let Some(ruleset) = &ruleset {
        ruleset.restrict_self()?;
    }
    // SAFETY: getpid has no preconditions.
    let own = u64::try_from(unsafe { libc::getpid() }).unwrap_or(0);
    Filters::for_job(own)?.apply()?;
    Ok(Confined {
        landlock_abi: ruleset.map(|ruleset| ruleset.abi),
    })
}

/// A confinement made ready in the worker for a program it is about to start (Poppler's
/// tools): the landlock ruleset and the seccomp programs are built before the fork, so that
/// applying them in the child, between fork and exec, only makes system calls and
/// allocates nothing.
pub struct ToolConfinement {
    ruleset: Option<landlock::Ruleset>,
    filters: Filters,
}

impl ToolConfinement {
    /// The tool may read and write beneath `writable`, read the files in `readable` (the
    /// original, wherever it is), and read the system's libraries, fonts and programs;
    /// nothing else, and no sockets or new processes.
    pub fn new(writable: &Path, readable: &[&Path]) -> Result<Self, ConfineError> {
        Ok(Self {
            ruleset: landlock::Ruleset::new(writable, readable)?,
            filters: Filters::for_tool()?,
        })
    }

    /// Confines the calling process. Async-signal-safe: for `pre_exec`.
    pub fn apply(&self) -> std::io::Result<()> {
        // SAFETY: prctl with these arguments only sets a flag of this process; landlock and
        // seccomp both require it of a process without CAP_SYS_ADMIN.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(ruleset) = &self.ruleset {
            ruleset.restrict_self().map_err(ConfineError::into_io)?;
        }
        self.filters.apply().map_err(ConfineError::into_io)
    }
}

impl ConfineError {
    fn into_io(self) -> std::io::Error {
        match self {
            Self::Os { source, .. } => source,
            Self::Seccomp(message) => std::io::Error::other(message),
        }
    }
}

fn set_limits(limits: &Confinement) -> Result<(), ConfineError> {
    let set = |resource, soft: u64, hard: u64, what| {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct passed by reference for the call's duration.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            Err(os(what))
        } else {
            Ok(())
        }
    };
    set(
        libc::RLIMIT_AS,
        limits.memory_bytes,
        limits.memory_bytes,
        "RLIMIT_AS",
    )?;
    // The soft limit sends SIGXCPU (reported as over the CPU limit); the hard one, a second
    // later, SIGKILL for a child that would ignore it.
    set(
        libc::RLIMIT_CPU,
        limits.cpu_seconds,
        limits.cpu_seconds.saturating_add(1),
        "RLIMIT_CPU",
    )?;
    set(
        libc::RLIMIT_FSIZE,
        limits.file_size_bytes,
        limits.file_size_bytes,
        "RLIMIT_FSIZE",
    )?;
    set(
        libc::RLIMIT_NOFILE,
        limits.open_files,
        limits.open_files,
        "RLIMIT_NOFILE",
    )?;
    // A crash leaves no core file in the work directory (it would hold decoded footage).
    set(libc::RLIMIT_CORE, 0, 0, "RLIMIT_CORE")
}

fn always() -> Vec<SeccompRule> {
    Vec::new()
}

fn when(conditions: Vec<SeccompCondition>) -> Result<Vec<SeccompRule>, ConfineError> {
    Ok(vec![SeccompRule::new(conditions).map_err(seccomp_error)?])
}

fn seccomp_error(e: impl std::fmt::Display) -> ConfineError {
    ConfineError::Seccomp(e.to_string())
}

fn condition(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, ConfineError> {
    SeccompCondition::new(arg, len, op, value).map_err(seccomp_error)
}

#[cfg(target_arch = "x86_64")]
const ARCH: seccompiler::TargetArch = seccompiler::TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: seccompiler::TargetArch = seccompiler::TargetArch::aarch64;

/// The two seccomp programs, built: the first answers EPERM to what the profile refuses
/// (so a decoder sees an error, not a kill, and the job reports it); the second answers
/// ENOSYS to clone3 (glibc then creates threads with clone, whose flags a filter can see).
struct Filters {
    first: seccompiler::BpfProgram,
    clone3: seccompiler::BpfProgram,
}

impl Filters {
    /// The media job's child: only the calls on its allow-list.
    fn for_job(own_pid: u64) -> Result<Self, ConfineError> {
        Self::with(program(
            allowed_calls(own_pid)?,
            SeccompAction::Errno(libc::EPERM as u32),
            SeccompAction::Allow,
        )?)
    }

    /// A program the worker starts (Poppler's tools): every call but the denied ones, its
    /// own `execve` included.
    fn for_tool() -> Result<Self, ConfineError> {
        Self::with(program(
            denied_calls()?,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
        )?)
    }

    fn with(first: seccompiler::BpfProgram) -> Result<Self, ConfineError> {
        let mut clone3 = BTreeMap::new();
        clone3.insert(libc::SYS_clone3, always());
        Ok(Self {
            first,
            clone3: program(
                clone3,
                SeccompAction::Allow,
                SeccompAction::Errno(libc::ENOSYS as u32),
            )?,
        })
    }

    /// Installs both. Async-signal-safe (two prctl calls on programs already built).
    fn apply(&self) -> Result<(), ConfineError> {
        for program in [&self.first, &self.clone3] {
            let Ok(len) = u16::try_from(program.len()) else {
                return Err(ConfineError::Seccomp("the filter is too long".into()));
            };
            let fprog = libc::sock_fprog {
                len,
                // seccompiler's sock_filter is the kernel's struct, field for field.
                filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
            };
            // SAFETY: `fprog` points at a program that lives for the call; the kernel copies
            // it. no_new_privs is set by the caller.
            let set = unsafe {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &fprog as *const libc::sock_fprog,
                )
            };
            if set != 0 {
                return Err(os("seccomp"));
            }
        }
        Ok(())
    }
}

/// A program answering `matched` to the calls `rules` match and `otherwise` to the rest.
fn program(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    otherwise: SeccompAction,
    matched: SeccompAction,
) -> Result<seccompiler::BpfProgram, ConfineError> {
    let filter = SeccompFilter::new(rules, otherwise, matched, ARCH).map_err(seccomp_error)?;
    filter.try_into().map_err(seccomp_error)
}

/// What the media job's child may call. Files are bounded by landlock (the work directory,
/// the system's libraries and fonts), memory and time by the limits; threads only with
/// `CLONE_THREAD`, signals only to itself, limits only read.
fn allowed_calls(own_pid: u64) -> Result<BTreeMap<i64, Vec<SeccompRule>>, ConfineError> {
    use SeccompCmpArgLen::{Dword, Qword};
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in [
        // Memory.
        libc::SYS_brk,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
        libc::SYS_mlock,
        libc::SYS_munlock,
        libc::SYS_membarrier,
        libc::SYS_get_mempolicy,
        // Files, where landlock lets it.
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_preadv,
        libc::SYS_pwritev,
        libc::SYS_lseek,
        libc::SYS_close,
        libc::SYS_openat,
        libc::SYS_newfstatat,
        libc::SYS_fstat,
        libc::SYS_statx,
        libc::SYS_fstatfs,
        libc::SYS_statfs,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_readlinkat,
        libc::SYS_getdents64,
        libc::SYS_fcntl,
        libc::SYS_flock,
        libc::SYS_dup,
        libc::SYS_dup3,
        libc::SYS_ftruncate,
        libc::SYS_fallocate,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_fadvise64,
        libc::SYS_unlinkat,
        libc::SYS_renameat2,
        libc::SYS_mkdirat,
        libc::SYS_linkat,
        libc::SYS_utimensat,
        libc::SYS_ioctl,
        libc::SYS_getcwd,
        libc::SYS_ppoll,
        libc::SYS_pselect6,
        // Time.
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_gettimeofday,
        libc::SYS_nanosleep,
        libc::SYS_clock_nanosleep,
        libc::SYS_times,
        libc::SYS_getrusage,
        // Threads (clone3 passes here to answer ENOSYS in the second filter).
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_get_robust_list,
        libc::SYS_rseq,
        libc::SYS_set_tid_address,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_sched_getparam,
        libc::SYS_sched_getscheduler,
        libc::SYS_sched_get_priority_max,
        libc::SYS_sched_get_priority_min,
        libc::SYS_clone3,
        libc::SYS_exit,
        libc::SYS_exit_group,
        // Signals: their handling, and raising them (to itself, below).
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_rt_sigsuspend,
        libc::SYS_rt_sigtimedwait,
        libc::SYS_sigaltstack,
        libc::SYS_restart_syscall,
        // Who and where it is.
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_getppid,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_uname,
        libc::SYS_sysinfo,
        libc::SYS_getrandom,
        // Naming its threads (PR_SET_NAME) and the like; a further seccomp filter only
        // narrows this one.
        libc::SYS_prctl,
    ] {
        allowed.insert(call, always());
    }
    // The older names glibc still uses on x86-64.
    #[cfg(target_arch = "x86_64")]
    for call in [
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_access,
        libc::SYS_readlink,
        libc::SYS_unlink,
        libc::SYS_rename,
        libc::SYS_renameat,
        libc::SYS_mkdir,
        libc::SYS_rmdir,
        libc::SYS_link,
        libc::SYS_getdents,
        libc::SYS_dup2,
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_time,
        libc::SYS_getrlimit,
        libc::SYS_arch_prctl,
    ] {
        allowed.insert(call, always());
    }
    // Threads, yes; processes, no: a clone without CLONE_THREAD is a fork.
    allowed.insert(
        libc::SYS_clone,
        when(vec![condition(
            0,
            Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            libc::CLONE_THREAD as u64,
        )?])?,
    );
    // Signals to itself only (raise and abort; FFmpeg's threads are all its own).
    let to_self = || condition(0, Dword, SeccompCmpOp::Eq, own_pid);
    allowed.insert(libc::SYS_kill, when(vec![to_self()?])?);
    allowed.insert(libc::SYS_tgkill, when(vec![to_self()?])?);
    // glibc's getrlimit is prlimit64 with no new limit: reading, not changing.
    allowed.insert(
        libc::SYS_prlimit64,
        when(vec![condition(2, Qword, SeccompCmpOp::Eq, 0)?])?,
    );
    Ok(allowed)
}

/// What a program the worker starts may not call (everything else it may).
fn denied_calls() -> Result<BTreeMap<i64, Vec<SeccompRule>>, ConfineError> {
    use SeccompCmpArgLen::Qword;
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in [
        // No network, and no other socket either (the decoder needs none).
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept,
        libc::SYS_accept4,
        // No process of its own, no reading or writing another's memory.
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_open,
        libc::SYS_pidfd_getfd,
        libc::SYS_pidfd_send_signal,
        libc::SYS_tkill,
        libc::SYS_kcmp,
        // The limits and the restrictions stay as set.
        libc::SYS_setrlimit,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsmount,
        libc::SYS_fsconfig,
        libc::SYS_fspick,
        // Paths landlock does not cover, and a way around paths altogether.
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_setxattr,
        libc::SYS_lsetxattr,
        libc::SYS_fsetxattr,
        libc::SYS_removexattr,
        libc::SYS_lremovexattr,
        libc::SYS_fremovexattr,
        // io_uring performs operations the filter would never see.
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        // The kernel's and the machine's.
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_adjtimex,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_syslog,
        libc::SYS_quotactl,
        libc::SYS_fanotify_init,
        libc::SYS_personality,
    ] {
        denied.insert(call, always());
    }
    #[cfg(target_arch = "x86_64")]
    for call in [
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_lchown,
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
    ] {
        denied.insert(call, always());
    }
    // Threads, yes; processes, no: a clone without CLONE_THREAD is a fork.
    denied.insert(
        libc::SYS_clone,
        when(vec![condition(
            0,
            Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            0,
        )?])?,
    );
    // glibc's getrlimit is prlimit64 with no new limit: reading stays allowed.
    denied.insert(
        libc::SYS_prlimit64,
        when(vec![condition(2, Qword, SeccompCmpOp::Ne, 0)?])?,
    );
    // The filter is installed before the tool's own execve, which must pass; after it, a
    // program can only replace itself (no fork), and landlock bounds what it runs. Its pid
    // is not known before the fork, so signals to others are landlock's to refuse (its
    // signal scope, ABI 6).
    denied.insert(libc::SYS_execveat, always());
    Ok(denied)
}

/// Landlock through its three system calls (no crate: the ABI is three structs and a few
/// constants). Read-only: the system's libraries, fonts and their configuration, the CPU
/// list; read-write: the work directory. Everything else (the data directory with every
/// bureau's footage, the catalogue, keys, other jobs' directories) cannot be opened.
mod landlock {
    use super::*;

    const CREATE_RULESET_VERSION: u32 = 1;
    const RULE_PATH_BENEATH: u32 = 1;

    const EXECUTE: u64 = 1 << 0;
    const WRITE_FILE: u64 = 1 << 1;
    const READ_FILE: u64 = 1 << 2;
    const READ_DIR: u64 = 1 << 3;
    /// Every file system right of ABI 1 (bits 0 to 12).
    const ABI1_ALL: u64 = (1 << 13) - 1;
    const REFER: u64 = 1 << 13;
    const TRUNCATE: u64 = 1 << 14;
    const IOCTL_DEV: u64 = 1 << 15;
    const NET_BIND_TCP: u64 = 1 << 0;
    const NET_CONNECT_TCP: u64 = 1 << 1;
    const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
    const SCOPE_SIGNAL: u64 = 1 << 1;

    #[repr(C)]
    struct RulesetAttr {
        handled_access_fs: u64,
        handled_access_net: u64,
        scoped: u64,
    }

    #[repr(C, packed)]
    struct PathBeneathAttr {
        allowed_access: u64,
        parent_fd: i32,
    }

    /// A landlock ruleset: read-write beneath a directory, read-only on the system's files
    /// and the files named, nothing else.
    pub struct Ruleset {
        fd: std::os::fd::OwnedFd,
        pub abi: i64,
    }

    impl Ruleset {
        /// `None`: the kernel has no landlock, and the rest of the sandbox stands without it.
        pub fn new(dir: &Path, readable: &[&Path]) -> Result<Option<Self>, ConfineError> {
            // SAFETY: with a null attribute and this flag the call only answers the ABI
            // version.
            let abi = unsafe {
                libc::syscall(
                    libc::SYS_landlock_create_ruleset,
                    std::ptr::null::<RulesetAttr>(),
                    0usize,
                    CREATE_RULESET_VERSION,
                )
            };
            if abi < 1 {
                return Ok(None);
            }
            let mut fs = ABI1_ALL;
            if abi >= 2 {
                fs |= REFER;
            }
            if abi >= 3 {
                fs |= TRUNCATE;
            }
            if abi >= 5 {
                fs |= IOCTL_DEV;
            }
            let net = if abi >= 4 {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            };
            // Signals to processes outside the sandbox (the worker), and abstract unix
            // sockets.
            let scoped = if abi >= 6 {
                SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
            } else {
                0
            };
            let attr = RulesetAttr {
                handled_access_fs: fs,
                handled_access_net: net,
                scoped,
            };
            let size = match abi {
                1..=3 => 8,
                4 | 5 => 16,
                _ => std::mem::size_of::<RulesetAttr>(),
            };
            // SAFETY: `attr` lives for the call and `size` does not exceed it.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_landlock_create_ruleset,
                    &attr as *const RulesetAttr,
                    size,
                    0u32,
                )
            };
            let fd = i32::try_from(fd).map_err(|_| os("landlock_create_ruleset"))?;
            if fd < 0 {
                return Err(os("landlock_create_ruleset"));
            }
            // SAFETY: the kernel just returned this descriptor (close-on-exec) to us alone.
            let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let ruleset = Self { fd, abi };
            add_rules(ruleset.raw(), dir, readable, fs)?;
            Ok(Some(ruleset))
        }

        fn raw(&self) -> i32 {
            std::os::fd::AsRawFd::as_raw_fd(&self.fd)
        }

        /// Restricts this process (and every thread and program it starts) to the ruleset.
        /// Async-signal-safe; needs no_new_privs.
        pub fn restrict_self(&self) -> Result<(), ConfineError> {
            // SAFETY: restricts this process with a ruleset descriptor we hold.
            if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, self.raw(), 0u32) } != 0 {
                Err(os("landlock_restrict_self"))
            } else {
                Ok(())
            }
        }
    }

    fn add_rules(
        ruleset: i32,
        dir: &Path,
        readable: &[&Path],
        all: u64,
    ) -> Result<(), ConfineError> {
        let read_dir = EXECUTE | READ_FILE | READ_DIR;
        let read_file = READ_FILE;
        add(ruleset, dir, all, true)?;
        for file in readable {
            add(ruleset, file, read_file, true)?;
        }
        for system in [
            "/usr",
            "/lib",
            "/lib64",
            "/etc/fonts",
            "/var/cache/fontconfig",
            "/sys/devices/system/cpu",
            "/usr/local/share/fonts",
        ] {
            add(ruleset, Path::new(system), read_dir, false)?;
        }
        for file in [
            "/etc/ld.so.cache",
            "/etc/localtime",
            "/dev/urandom",
            "/dev/random",
        ] {
            add(ruleset, Path::new(file), read_file, false)?;
        }
        add(
            ruleset,
            Path::new("/dev/null"),
            READ_FILE | WRITE_FILE,
            false,
        )
    }

    /// Allows `access` beneath `path`; a system path this machine does not have is skipped,
    /// the work directory and the files named must exist.
    fn add(ruleset: i32, path: &Path, access: u64, required: bool) -> Result<(), ConfineError> {
        let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
            return Err(ConfineError::Os {
                what: "landlock path",
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            });
        };
        // SAFETY: `c_path` is a valid C string for the call; O_PATH opens nothing's content.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return if required {
                Err(os("opening a path of the job for landlock"))
            } else {
                Ok(())
            };
        }
        // Rights that only directories have are refused on a file.
        let is_dir = path.is_dir();
        let allowed = if is_dir {
            access
        } else {
            access & (EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV)
        };
        let attr = PathBeneathAttr {
            allowed_access: allowed,
            parent_fd: fd,
        };
        // SAFETY: `attr` lives for the call; `fd` is an open O_PATH descriptor.
        let added = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset,
                RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0u32,
            )
        };
        let error = (added != 0).then(|| os("landlock_add_rule"));
        // SAFETY: `fd` is ours.
        unsafe {
            libc::close(fd);
        }
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `probe` makes of each call in a child forked under the job's filter: the bits of
    /// the calls that did not answer as expected (0: all did).
    fn under_job_filter(probe: fn() -> i32) -> i32 {
        // Built before the fork: the child only applies it (it may not allocate).
        let filters = Filters::for_job(0).expect("the job's filter builds");
        // SAFETY: the child makes system calls only and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || filters.apply().is_err()
                {
                    libc::_exit(100);
                }
                libc::_exit(probe());
            }
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "the child died: {status}");
        libc::WEXITSTATUS(status)
    }

    fn refused(result: libc::c_long) -> bool {
        // SAFETY: reads this thread's errno.
        result == -1 && unsafe { *libc::__errno_location() } == libc::EPERM
    }

    #[test]
    fn the_job_filter_lets_through_only_what_it_lists() {
        let failures = under_job_filter(|| {
            let mut failed = 0;
            // SAFETY: each call is made with arguments that touch no memory of ours, or
            // valid pointers to locals; a refused call does nothing.
            unsafe {
                // Listed: answered.
                if libc::syscall(libc::SYS_getpid) <= 0 {
                    failed |= 1;
                }
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    libc::RLIMIT_NOFILE,
                    0usize,
                    &mut limit,
                ) != 0
                {
                    failed |= 2;
                }
                // Not listed, and not on the old deny-list either: refused.
                if !refused(libc::syscall(libc::SYS_memfd_create, c"x".as_ptr(), 0)) {
                    failed |= 4;
                }
                if !refused(libc::syscall(libc::SYS_pipe2, [0i32; 2].as_mut_ptr(), 0)) {
                    failed |= 8;
                }
                // Sockets, a fork, a new limit: refused.
                if !refused(libc::syscall(
                    libc::SYS_socket,
                    libc::AF_INET,
                    libc::SOCK_STREAM,
                    0,
                )) {
                    failed |= 16;
                }
                if !refused(libc::syscall(
                    libc::SYS_clone,
                    libc::SIGCHLD,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )) {
                    failed |= 32;
                }
                if !refused(libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    libc::RLIMIT_NOFILE,
                    &limit,
                    0usize,
                )) {
                    failed |= 64;
                }
            }
            failed
        });
        assert_eq!(
            failures, 0,
            "bits of the calls that did not answer as expected"
        );
    }
}
