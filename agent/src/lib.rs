//! The collection station's upload agent (`custodian-agent`, also `custodian upload`). A
//! station copies footage off the body cameras in its dock and this sends it to Custodian
//! over tus, resuming after a lost link or a restart, and counts a file as done only when the
//! server's receipt names the SHA-256 the agent computed itself. It is its own crate so a
//! station needs neither FFmpeg nor a database driver nor an S3 SDK to run it.

use std::path::PathBuf;
use std::time::Duration;

mod upload;

pub use upload::{run, with_tls};

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
    pub token: secrecy::SecretString,
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
    #[arg(long = "chunk-size", env = "CUSTODIAN_UPLOAD_CHUNK_SIZE", default_value = "8MiB", value_parser = custodian_core::settings::parse_size)]
    pub chunk_size: u64,
    /// Retries of a request that failed for a passing reason (network, 5xx), with growing waits.
    #[arg(long, env = "CUSTODIAN_UPLOAD_RETRIES", default_value_t = 8)]
    pub retries: u32,
    /// How often a watched directory is looked at.
    #[arg(long = "poll-every", env = "CUSTODIAN_POLL_EVERY", default_value = "10s", value_parser = custodian_core::settings::parse_duration)]
    pub poll_every: Duration,
    /// Delete each local file once the server's receipt matched its SHA-256.
    #[arg(long = "delete-after-verify", env = "CUSTODIAN_DELETE_AFTER_VERIFY")]
    pub delete_after_verify: bool,
}

impl UploadArgs {
    /// Checks the settings, naming the first bad one.
    pub fn validate(&self) -> Result<(), custodian_core::settings::ConfigError> {
        use custodian_core::settings::ConfigError;
        let url = reqwest::Url::parse(&self.server);
        if !matches!(url.as_ref().map(|u| u.scheme()), Ok("http" | "https")) {
            return Err(ConfigError::new(
                "server",
                &self.server,
                "must be an http:// or https:// URL",
            ));
        }
        if secrecy::ExposeSecret::expose_secret(&self.token)
            .trim()
            .is_empty()
        {
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
