//! A PostgreSQL server of a test's own: a cluster made with initdb in a temporary directory,
//! listening on 127.0.0.1 on a free port (and a socket in that directory), stopped and removed
//! when dropped. For what the machine's shared server cannot show: TLS-only access, a
//! server's own settings, and (later) a primary with a standby.
//!
//! PostgreSQL refuses to run as root, so the cluster belongs to the `postgres` account and
//! every server command runs through `runuser -u postgres --`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How the private server is set up.
#[derive(Debug, Clone, Default)]
pub struct PostgresOptions {
    /// A certificate chain and key (PEM) to serve TLS with (`ssl = on`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The whole of pg_hba.conf, one rule a line; empty: trust from 127.0.0.1 and the socket,
    /// over TLS only if `tls` is set (`hostssl`).
    pub hba: Vec<String>,
    /// More `postgresql.conf` settings, e.g. `("wal_level", "replica")`.
    pub settings: Vec<(String, String)>,
}

pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    dir: tempfile::TempDir,
}

/// Runs `program` of the server's binaries as the postgres account; panics with its output if
/// it fails.
fn as_postgres(bin: &Path, program: &str, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(program))
        .args(args)
        .output()
        .expect("runuser runs");
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The newest installed server's binaries (Debian keeps each major under
/// /usr/lib/postgresql/N/bin).
fn server_binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
        .1
}

/// Gives `path` to the postgres account (the server checks that it owns its data and key).
fn chown_postgres(path: &Path) {
    let status = Command::new("chown")
        .arg("-R")
        .arg("postgres:postgres")
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown postgres {}", path.display());
}

/// A port free on 127.0.0.1 just now (PostgreSQL cannot be told to pick one itself).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl PrivatePostgres {
    /// Makes the cluster and starts the server; returns once it accepts connections.
    pub fn start(options: &PostgresOptions) -> Self {
        let bin = server_binaries();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path().join("data");
        chown_postgres(dir.path());
        as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().expect("a UTF-8 path"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n",
            dir.path().display()
        );
        if let Some((cert, key)) = &options.tls {
            std::fs::copy(cert, data.join("server.crt")).expect("server certificate copied");
            std::fs::copy(key, data.join("server.key")).expect("server key copied");
            // The server refuses a key others may read.
            std::fs::set_permissions(
                data.join("server.key"),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        for (name, value) in &options.settings {
            conf.push_str(&format!("{name} = '{value}'\n"));
        }
        append(&data.join("postgresql.conf"), &conf);
        let hba = if options.hba.is_empty() {
            let host = if options.tls.is_some() {
                "hostssl"
            } else {
                "host"
            };
            format!("local all all trust\n{host} all all 127.0.0.1/32 trust\n")
        } else {
            options.hba.join("\n") + "\n"
        };
        std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf written");
        chown_postgres(dir.path());
        let log = dir.path().join("postgres.log");
        // A port found free may be taken before the server binds it: then try another.
        for attempt in 1..=3 {
            let port = free_port();
            let started = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!("-p {port}"))
                // -w: pg_ctl itself polls until the server accepts connections, within -t.
                .args(["-w", "-t", "60", "start"])
                .output()
                .expect("pg_ctl runs");
            if started.status.success() {
                return Self {
                    port,
                    bin,
                    data,
                    dir,
                };
            }
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                attempt < 3 && said.contains("in use"),
                "the private PostgreSQL did not start: {}{said}",
                String::from_utf8_lossy(&started.stderr)
            );
        }
        unreachable!("the loop returns or panics")
    }

    /// A URL for `database` as the postgres superuser over TCP, with `parameters` (e.g.
    /// `sslmode=verify-full&sslrootcert=...`).
    pub fn url(&self, database: &str, parameters: &str) -> String {
        let query = if parameters.is_empty() {
            String::new()
        } else {
            format!("?{parameters}")
        };
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}{query}",
            self.port
        )
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The directory of the server's socket (and log, `postgres.log`).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Immediate: the test is over and the data goes with the directory.
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
