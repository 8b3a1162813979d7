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
    /// Runs one media job in a sandbox, spoken to on stdin and stdout by a media worker
    /// (`custodian_media::sandbox`); not for people.
    #[command(name = "media-job", hide = true)]
    MediaJob,
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
    Upload(custodian_agent::UploadArgs),
    /// Backs up a standalone installation, online, into a repository of snapshots (each
    /// stores only what the repository does not hold yet).
    Backup(crate::backup::BackupArgs),
    /// Restores a snapshot into an empty data directory, checking every file's SHA-256,
    /// every original against its receipt, and the audit trail.
    Restore(crate::backup::RestoreArgs),
    /// The catalogue itself.
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
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
    Fingerprint {
        file: PathBuf,
        /// Decode in the media workers' sandboxed child process, as the workers do.
        #[arg(long)]
        sandbox: bool,
    },
    /// Prints the faces found in every N-th frame (CenterFace, built in) as JSON: boxes as
    /// fractions of the displayed frame, what a party copy's redaction would cover.
    Faces {
        file: PathBuf,
        /// Look at one frame in this many.
        #[arg(long, default_value_t = 3)]
        every: u32,
    },
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
    /// Transcode in the media workers' sandboxed child process, as the workers do (the file
    /// is linked or copied into --out-dir, the only directory the child may open).
    #[arg(long)]
    pub sandbox: bool,
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
    /// Serve the web console at `/` (sign in with an account made by `admin user create`).
    #[arg(long = "console", env = "CUSTODIAN_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
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
    /// The time the trail is judged at (now, unless a restore judges a snapshot as it was
    /// when taken).
    #[arg(skip)]
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Rebuilds a lost catalogue from the blob store alone: every original with its receipt's
    /// SHA-256, what its signed record beside it carries, and each audit trail restarted
    /// after its last anchored checkpoint. Fills an empty catalogue only.
    Rebuild(crate::rebuild::RebuildArgs),
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
    /// Enforcement tasks of the year's plan (art. 6, 25).
    Tasks {
        #[command(subcommand)]
        command: TasksCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Imports a plan's tasks (CSV or JSON, as `POST /v1/tasks/import` takes them): the whole
    /// plan or, with any bad row, nothing; a task the bureau has is left as it is.
    Import(TasksImportArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct TasksImportArgs {
    #[arg(long)]
    pub bureau: String,
    /// The plan: a .csv file (UTF-8, a header row) or a .json array of tasks.
    pub plan: PathBuf,
    /// The record rules whose case types are the task kinds (as the catalog role's
    /// --record-rules); the shipped rules without it.
    #[arg(long = "record-rules", env = "CUSTODIAN_RECORD_RULES")]
    pub record_rules: Option<PathBuf>,
    #[command(flatten)]
    pub catalogue: CatalogueLocation,
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
    /// After the upload, keep serving: print the web console's address and a sign-in, and
    /// stop on Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Where the demo server listens (with --serve, e.g. 127.0.0.1:8080).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
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
