//! The command line. Every flag can also be set by a `CUSTODIAN_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use custodian_catalog::CatalogConfig;
use custodian_custody::CustodyConfig;
use custodian_ingest::IngestConfig;
use custodian_platform::config::{
    parse_duration, AccessArgs, DatabaseArgs, HttpLimits, MediaJobArgs, NatsArgs, S3Args,
};
use custodian_retention::RetentionConfig;
use custodian_transcoder::TranscoderConfig;

#[derive(Debug, Parser)]
#[command(
    name = "custodian",
    version,
    about = "Keeps body-camera footage: every clip arrives, stays as recorded, and every look leaves a trace"
)]
pub struct Cli {
    /// Log as JSON lines (for log collectors) instead of text.
    #[arg(long = "log-json", env = "CUSTODIAN_LOG_JSON", global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every role in one process: footage on the local disk, the catalogue in SQLite.
    Standalone(Box<StandaloneArgs>),
    /// One role, on S3, PostgreSQL and NATS JetStream.
    Serve(Box<ServeArgs>),
    /// Administration: tokens, people and teams of bureaus.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The audit trail: verify it offline, show the checkpoint key.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Evidence packages (art. 20).
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Retention: what will be archived, recycled and purged.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// The media workers' steps on one local file, without a server: what the transcoder
    /// and fingerprinter would make of it.
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
    /// Migrates a region's PostgreSQL catalogue, as the schema owner's role, and grants the
    /// runtime role its rights (the services then run with --database-migrate false).
    Migrate(MigrateArgs),
    /// The collection station's agent: uploads files, or a watched directory, over tus.
    Upload(UploadArgs),
    /// Runs the standalone server in a temporary directory, uploads a generated sample clip
    /// through the HTTP API and prints the catalogued record.
    Demo(DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// Prints what the file holds (container, streams, duration, tags) as JSON.
    Probe { file: PathBuf },
    /// Makes the viewing copy, its WebVTT sidecar and poster into a directory.
    Transcode(Box<TranscodeArgs>),
    /// Prints the per-second fingerprint and the continuity findings as JSON.
    Fingerprint { file: PathBuf },
}

#[derive(Debug, clap::Args)]
pub struct TranscodeArgs {
    pub file: PathBuf,
    /// Where view.mp4, poster.jpg, subtitles.vtt and the overlay texts go.
    #[arg(long = "out-dir")]
    pub out_dir: PathBuf,
    #[arg(long, default_value = "")]
    pub place: String,
    #[arg(long, default_value = "DEVICE")]
    pub device: String,
    #[arg(long, default_value = "OFFICER")]
    pub officer: String,
    /// When recording started (RFC 3339). The file's own clock dates the copy only when it
    /// agrees within --media-clock-tolerance, or, without this flag, whenever it is plausible.
    #[arg(long = "recorded-at")]
    pub recorded_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// A GPS track (GPX or NMEA) to take coordinates from.
    #[arg(long)]
    pub track: Option<PathBuf>,
    #[command(flatten)]
    pub transcoder: TranscoderConfig,
    #[command(flatten)]
    pub media: MediaJobArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Where the HTTP API and /metrics listen.
    #[arg(long, env = "CUSTODIAN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// How long in-flight work may take to finish after SIGTERM.
    #[arg(long = "shutdown-grace", env = "CUSTODIAN_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Serve /metrics, /healthz and /readyz here instead of on --listen, without a token:
    /// the metrics name the bureaus, so this address is for Prometheus and the probes only.
    #[arg(long = "ops-listen", env = "CUSTODIAN_OPS_LISTEN")]
    pub ops_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub limits: HttpLimits,
    #[command(flatten)]
    pub tls: custodian_platform::config::TlsArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StandaloneArgs {
    /// The directory holding footage (`blobs/`) and the catalogue (`catalogue.db`).
    #[arg(long, env = "CUSTODIAN_DATA")]
    pub data: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub ingest: IngestConfig,
    #[command(flatten)]
    pub catalog: CatalogConfig,
    #[command(flatten)]
    pub retention: RetentionConfig,
    #[command(flatten)]
    pub custody: CustodyConfig,
    #[command(flatten)]
    pub transcoder: TranscoderConfig,
    #[command(flatten)]
    pub media: MediaJobArgs,
    #[command(flatten)]
    pub access: AccessArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Ingest,
    Catalog,
    Retention,
    Custody,
    Transcoder,
    Fingerprinter,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    pub role: Role,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub ingest: IngestConfig,
    #[command(flatten)]
    pub catalog: CatalogConfig,
    #[command(flatten)]
    pub retention: RetentionConfig,
    #[command(flatten)]
    pub custody: CustodyConfig,
    #[command(flatten)]
    pub transcoder: TranscoderConfig,
    #[command(flatten)]
    pub media: MediaJobArgs,
    #[command(flatten)]
    pub access: AccessArgs,
    /// The archive tier's bucket (same S3 endpoint and keys), for `serve retention`: best
    /// created with Object Lock enabled.
    #[arg(long = "archive-bucket", env = "CUSTODIAN_ARCHIVE_BUCKET")]
    pub archive_bucket: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// The schema owner's connection, e.g. postgres://custodian_owner@db/custodian.
    #[arg(long = "database-url", env = "CUSTODIAN_MIGRATE_DATABASE_URL")]
    pub database_url: String,
    /// The role the services connect as: it may read and write the catalogue, only append to
    /// the audit trail, and not change the schema.
    #[arg(long = "grant-runtime")]
    pub grant_runtime: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Checks a package offline: the manifest's signature, every file against it, nothing added.
    Verify {
        /// The package (.tar).
        package: PathBuf,
        /// The deployment's checkpoint public key (hex), which proves who made the package.
        /// Required unless --integrity-only is given.
        #[arg(long = "public-key", required_unless_present = "integrity_only")]
        public_key: Option<String>,
        /// Check against the key inside the package: this proves the package is intact, not
        /// who made it (anyone can sign a package with a key of their own).
        #[arg(long = "integrity-only", conflicts_with = "public_key")]
        integrity_only: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks every bureau's hash chain and signed checkpoints; names the first entry that was
    /// altered, removed or reordered, and exits non-zero.
    Verify(AuditArgs),
    /// Prints the public half of the checkpoint key, for `verify --public-key`.
    PublicKey(AuditArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
    /// The checkpoint key's public half (hex); otherwise taken from the key file.
    #[arg(long = "public-key")]
    pub public_key: Option<String>,
    /// The checkpoint signing key file.
    #[arg(long = "audit-key-file", env = "CUSTODIAN_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// Only this bureau.
    #[arg(long)]
    pub bureau: Option<String>,
    /// Verify without the anchors in the blob store: proves less (a rewrite re-signed with
    /// the key is not caught), and says so.
    #[arg(long = "without-anchors")]
    pub without_anchors: bool,
    /// Entries older than this must be covered by an anchored checkpoint.
    #[arg(long = "max-checkpoint-age", default_value = "24h", value_parser = parse_duration)]
    pub max_checkpoint_age: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Prints what the schedule will archive, move to the recycle bin and purge, and when.
    Plan(PlanArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// How many days ahead.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
    #[command(flatten)]
    pub retention: RetentionConfig,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// People's accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Enforcement teams (art. 15).
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Registers a team of an existing bureau (again: no change).
    Create(TeamCreateArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct TeamCreateArgs {
    #[arg(long)]
    pub bureau: String,
    /// The team's name, e.g. 一中队.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
}

/// The officer an officer's credential speaks for (art. 17: officers classify the clips they
/// and their team recorded). Only for role officer.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OfficerArgs {
    /// The officer's code, as uploads name it (e.g. 031234).
    #[arg(long = "officer-id")]
    pub officer_id: Option<String>,
    /// The officer's team, a team of the bureau (registered with `admin team create`, or
    /// named by a registered device).
    #[arg(long)]
    pub team: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token for a bureau (creating the bureau if new) and prints it once.
    Create(TokenCreateArgs),
    /// Prints every token (of one bureau, or all), one JSON line each: id, label, role, when
    /// made, when it ends, when revoked, and its state. Never a secret.
    List(ListArgs),
    /// Revokes a token: it answers 401 from now on.
    Revoke(TokenIdArgs),
    /// Replaces a token with a new one (same label, role and end), printed once; the old one
    /// is revoked, or with --overlap keeps working that much longer.
    Rotate(TokenRotateArgs),
    /// Sets when a token stops working (--in 90d), or that it never does (--never).
    Expire(TokenExpireArgs),
    /// Binds a token to a station's client certificate (RFC 8705): it then works only over
    /// TLS presenting that certificate. --unbind lifts the binding.
    Bind(TokenBindArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates a person's account in a bureau; the password is read from standard input.
    Create(UserCreateArgs),
    /// Prints every account (of one bureau, or all), one JSON line each. Never a password.
    List(ListArgs),
    /// Disables an account and ends its sessions.
    Disable(UserNameArgs),
    /// Lets a disabled account log in again.
    Enable(UserNameArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only this bureau.
    #[arg(long)]
    pub bureau: Option<String>,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TokenIdArgs {
    #[arg(long)]
    pub bureau: String,
    /// The token's id (from `admin token list`).
    #[arg(long)]
    pub id: uuid::Uuid,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TokenRotateArgs {
    #[command(flatten)]
    pub token: TokenIdArgs,
    /// How long the old token keeps working beside the new one (never past its own end).
    #[arg(long, value_parser = parse_duration)]
    pub overlap: Option<Duration>,
}

#[derive(Debug, Clone, clap::Args)]
#[group(id = "end", required = true, args = ["expires_in", "never"])]
pub struct TokenExpireArgs {
    #[command(flatten)]
    pub token: TokenIdArgs,
    /// From now.
    #[arg(long = "in", value_parser = parse_duration)]
    pub expires_in: Option<Duration>,
    /// The token does not end by itself.
    #[arg(long)]
    pub never: bool,
}

#[derive(Debug, Clone, clap::Args)]
#[group(id = "binding", required = true, args = ["client_cert", "unbind"])]
pub struct TokenBindArgs {
    #[command(flatten)]
    pub token: TokenIdArgs,
    /// The station's client certificate (PEM; of a chain, the first), e.g. a renewed one.
    #[arg(long = "client-cert")]
    pub client_cert: Option<PathBuf>,
    /// The token works over any connection again.
    #[arg(long)]
    pub unbind: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UserNameArgs {
    #[arg(long)]
    pub bureau: String,
    #[arg(long)]
    pub username: String,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UserCreateArgs {
    #[arg(long)]
    pub bureau: String,
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub role: custodian_core::roles::Role,
    #[command(flatten)]
    pub officer: OfficerArgs,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TokenCreateArgs {
    #[arg(long)]
    pub bureau: String,
    /// The bureau's name, used when the bureau is new.
    #[arg(long)]
    pub bureau_name: Option<String>,
    /// What the token is for, e.g. the collection station's name.
    #[arg(long, default_value = "api")]
    pub label: String,
    /// officer (uploads), archivist (classifies, cases, devices), leader, auditor, admin, or
    /// region-admin (reads every bureau, naming it in the Custodian-Bureau header).
    #[arg(long, default_value = "officer")]
    pub role: custodian_core::roles::Role,
    /// When the token stops working, from now (e.g. 90d); without it, never by itself.
    #[arg(long = "expires-in", value_parser = parse_duration)]
    pub expires_in: Option<Duration>,
    /// Bind the token to this client certificate (PEM; of a chain, the first): it then works
    /// only over TLS presenting that certificate (RFC 8705), so a copy of the token taken off
    /// the station is useless without the station's key. Needs --tls-client-ca on the server.
    #[arg(long = "bind-client-cert")]
    pub bind_client_cert: Option<PathBuf>,
    #[command(flatten)]
    pub officer: OfficerArgs,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
}

/// Which catalogue an offline command reads: a standalone data directory or a database.
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogueLocation {
    /// A standalone data directory (its audit key is DATA/audit-signing.key) ...
    #[arg(
        long,
        env = "CUSTODIAN_DATA",
        conflicts_with = "database_url",
        required_unless_present = "database_url"
    )]
    pub data: Option<PathBuf>,
    /// ... or a catalogue database.
    #[arg(long = "database-url", env = "CUSTODIAN_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the demo's data here instead of a temporary directory.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// Files to upload.
    pub files: Vec<PathBuf>,
    /// Also upload every file that appears in this directory, until interrupted.
    #[arg(long, env = "CUSTODIAN_WATCH")]
    pub watch: Option<PathBuf>,
    /// The ingest server, e.g. https://ingest.example:8080.
    #[arg(long, env = "CUSTODIAN_SERVER")]
    pub server: String,
    /// A CA certificate (PEM) to trust for an `https://` server besides the system's, e.g. the
    /// bureau intranet's own CA.
    #[arg(long = "ca-file", env = "CUSTODIAN_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// The station's client certificate (PEM, leaf first) to present over https, with
    /// --client-key: needed when the token is bound to it.
    #[arg(
        long = "client-cert",
        env = "CUSTODIAN_CLIENT_CERT",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, PKCS#8).
    #[arg(
        long = "client-key",
        env = "CUSTODIAN_CLIENT_KEY",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    /// The bureau's API token.
    #[arg(long, env = "CUSTODIAN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Where the agent remembers each file's upload, so a restart resumes it.
    #[arg(
        long,
        env = "CUSTODIAN_UPLOAD_STATE",
        default_value = "custodian-upload-state.json"
    )]
    pub state: PathBuf,
    /// Files uploaded at once.
    #[arg(long, env = "CUSTODIAN_UPLOAD_CONCURRENCY", default_value_t = 2)]
    pub concurrency: usize,
    /// Bytes per PATCH request.
    #[arg(long = "chunk-size", env = "CUSTODIAN_UPLOAD_CHUNK_SIZE", default_value = "8MiB", value_parser = custodian_platform::config::parse_size)]
    pub chunk_size: u64,
    /// Retries of a request that failed for a passing reason (network, 5xx), with growing waits.
    #[arg(long, env = "CUSTODIAN_UPLOAD_RETRIES", default_value_t = 8)]
    pub retries: u32,
    /// How often a watched directory is looked at.
    #[arg(long = "poll-every", env = "CUSTODIAN_POLL_EVERY", default_value = "10s", value_parser = parse_duration)]
    pub poll_every: Duration,
    /// Delete each local file once the server's receipt matched its SHA-256.
    #[arg(long = "delete-after-verify", env = "CUSTODIAN_DELETE_AFTER_VERIFY")]
    pub delete_after_verify: bool,
}

impl UploadArgs {
    /// Checks the settings, naming the first bad one.
    pub fn validate(&self) -> Result<(), custodian_platform::config::ConfigError> {
        use custodian_platform::config::ConfigError;
        let url = reqwest::Url::parse(&self.server);
        if !matches!(url.as_ref().map(|u| u.scheme()), Ok("http" | "https")) {
            return Err(ConfigError::new(
                "server",
                &self.server,
                "must be an http:// or https:// URL",
            ));
        }
        if self.token.trim().is_empty() {
            return Err(ConfigError::new(
                "token",
                "<empty>",
                "must be given (--token or CUSTODIAN_TOKEN)",
            ));
        }
        if !(1..=16).contains(&self.concurrency) {
            return Err(ConfigError::new(
                "concurrency",
                self.concurrency,
                "must be 1 to 16",
            ));
        }
        if self.chunk_size == 0 || self.chunk_size > 1 << 30 {
            return Err(ConfigError::new(
                "chunk-size",
                self.chunk_size,
                "must be more than 0 and at most 1GiB",
            ));
        }
        if self.files.is_empty() && self.watch.is_none() {
            return Err(ConfigError::new(
                "files",
                "<none>",
                "give files to upload or --watch DIR",
            ));
        }
        if self.poll_every.is_zero() {
            return Err(ConfigError::new("poll-every", "0s", "must be more than 0"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_flag_has_one_meaning() {
        // Roles' settings are flattened together; clap checks that no two share a name.
        super::Cli::command().debug_assert();
    }
}
