//! Configuration pieces more than one role needs: where the catalogue, the object store and
//! the bus are. Each is a clap argument group read from flags or `CUSTODIAN_*` variables,
//! and each has a `validate` that names the bad value, so a typo stops start-up with a
//! message instead of failing later.

use std::time::Duration;

use crate::blob::S3Settings;
use crate::bus::NatsSettings;

pub use custodian_core::settings::{parse_duration, parse_size, ConfigError};

#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// The catalogue: `postgres://user@host/db` or `sqlite:/path/catalogue.db`.
    #[arg(long = "database-url", env = "CUSTODIAN_DATABASE_URL")]
    pub database_url: String,
    #[arg(
        long = "database-max-connections",
        env = "CUSTODIAN_DATABASE_MAX_CONNECTIONS",
        default_value_t = 8
    )]
    pub database_max_connections: u32,
    /// Migrate the schema at start (the schema owner's role). A service running as a runtime
    /// role that may not change the schema sets this false: it then only checks that the
    /// schema is migrated (`custodian migrate` does that, as the owner).
    #[arg(long = "database-migrate", env = "CUSTODIAN_DATABASE_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub database_migrate: bool,
}

impl DatabaseArgs {
    /// What opening the catalogue does to its schema.
    pub fn schema(&self) -> crate::catalogue::Schema {
        if self.database_migrate {
            crate::catalogue::Schema::Migrate
        } else {
            crate::catalogue::Schema::Expect
        }
    }
}

impl DatabaseArgs {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database_url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            // Never echo a URL that may hold a password.
            let shown = url.split('@').next_back().unwrap_or_default();
            return Err(ConfigError::new(
                "database-url",
                format!("…{shown}"),
                "must start with postgres:// or sqlite:",
            ));
        }
        if !(1..=512).contains(&self.database_max_connections) {
            return Err(ConfigError::new(
                "database-max-connections",
                self.database_max_connections,
                "must be 1 to 512",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct S3Args {
    /// The S3 endpoint, e.g. http://127.0.0.1:3900; leave out for AWS itself.
    #[arg(long = "s3-endpoint", env = "CUSTODIAN_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long = "s3-bucket", env = "CUSTODIAN_S3_BUCKET")]
    pub s3_bucket: String,
    #[arg(
        long = "s3-region",
        env = "CUSTODIAN_S3_REGION",
        default_value = "us-east-1"
    )]
    pub s3_region: String,
    #[arg(long = "s3-access-key-id", env = "CUSTODIAN_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: String,
    /// Prefer the environment variable: flags show in process listings.
    #[arg(
        long = "s3-secret-access-key",
        env = "CUSTODIAN_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub s3_secret_access_key: secrecy::SecretString,
    /// Path-style addressing (bucket in the path), as self-hosted servers need.
    #[arg(long = "s3-path-style", env = "CUSTODIAN_S3_PATH_STYLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub s3_path_style: bool,
    /// Size of each part of a multipart upload (at least 5MiB).
    #[arg(long = "s3-part-size", env = "CUSTODIAN_S3_PART_SIZE", default_value = "8MiB", value_parser = parse_size)]
    pub s3_part_size: u64,
    /// Parts uploaded at once; memory per upload is about part size × (this + 1). Two keep
    /// a local server busy; more help over long-distance links.
    #[arg(
        long = "s3-parts-in-flight",
        env = "CUSTODIAN_S3_PARTS_IN_FLIGHT",
        default_value_t = 2
    )]
    pub s3_parts_in_flight: usize,
    /// Create the bucket at start if it does not exist (development; production buckets are
    /// made by their operators).
    #[arg(long = "s3-create-bucket", env = "CUSTODIAN_S3_CREATE_BUCKET")]
    pub s3_create_bucket: bool,
}

impl S3Args {
    pub fn validate(&self) -> Result<S3Settings, ConfigError> {
        if let Some(endpoint) = &self.s3_endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(ConfigError::new(
                    "s3-endpoint",
                    endpoint,
                    "must start with http:// or https://",
                ));
            }
        }
        let bucket = &self.s3_bucket;
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !bucket_ok {
            return Err(ConfigError::new(
                "s3-bucket",
                bucket,
                "must be 3-63 lowercase letters, digits, '-' or '.'",
            ));
        }
        if self.s3_access_key_id.is_empty() {
            return Err(ConfigError::new("s3-access-key-id", "", "must be set"));
        }
        if secrecy::ExposeSecret::expose_secret(&self.s3_secret_access_key).is_empty() {
            return Err(ConfigError::new("s3-secret-access-key", "", "must be set"));
        }
        if !(5 << 20..=5 << 30).contains(&self.s3_part_size) {
            return Err(ConfigError::new(
                "s3-part-size",
                self.s3_part_size,
                "must be between 5MiB and 5GiB",
            ));
        }
        if !(1..=64).contains(&self.s3_parts_in_flight) {
            return Err(ConfigError::new(
                "s3-parts-in-flight",
                self.s3_parts_in_flight,
                "must be 1 to 64",
            ));
        }
        Ok(S3Settings {
            endpoint: self.s3_endpoint.clone(),
            bucket: bucket.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
            path_style: self.s3_path_style,
            part_size: self.s3_part_size as usize,
            parts_in_flight: self.s3_parts_in_flight,
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    #[arg(
        long = "nats-url",
        env = "CUSTODIAN_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// The JetStream stream holding every Custodian subject.
    #[arg(
        long = "nats-stream",
        env = "CUSTODIAN_NATS_STREAM",
        default_value = "CUSTODIAN"
    )]
    pub nats_stream: String,
    /// The first token of every subject (`<prefix>.v1.clip.stored`).
    #[arg(
        long = "subject-prefix",
        env = "CUSTODIAN_SUBJECT_PREFIX",
        default_value = "custodian"
    )]
    pub subject_prefix: String,
    /// How long events stay in the stream.
    #[arg(long = "nats-max-age", env = "CUSTODIAN_NATS_MAX_AGE", default_value = "7d", value_parser = parse_duration)]
    pub nats_max_age: Duration,
    /// A NATS credentials file (user JWT and NKey seed) to connect with.
    #[arg(long = "nats-creds", env = "CUSTODIAN_NATS_CREDS")]
    pub nats_creds: Option<std::path::PathBuf>,
    /// A CA certificate (PEM) to verify the NATS servers with (`tls://` URLs).
    #[arg(long = "nats-ca-file", env = "CUSTODIAN_NATS_CA_FILE")]
    pub nats_ca_file: Option<std::path::PathBuf>,
    /// A client certificate (PEM) for NATS servers that verify clients, with --nats-client-key.
    #[arg(
        long = "nats-client-cert",
        env = "CUSTODIAN_NATS_CLIENT_CERT",
        requires = "nats_client_key"
    )]
    pub nats_client_cert: Option<std::path::PathBuf>,
    #[arg(
        long = "nats-client-key",
        env = "CUSTODIAN_NATS_CLIENT_KEY",
        requires = "nats_client_cert"
    )]
    pub nats_client_key: Option<std::path::PathBuf>,
    /// Refuse a NATS connection that is not TLS.
    #[arg(long = "nats-require-tls", env = "CUSTODIAN_NATS_REQUIRE_TLS")]
    pub nats_require_tls: bool,
}

impl NatsArgs {
    pub fn validate(&self) -> Result<NatsSettings, ConfigError> {
        if !(self.nats_url.starts_with("nats://") || self.nats_url.starts_with("tls://")) {
            return Err(ConfigError::new(
                "nats-url",
                &self.nats_url,
                "must start with nats:// or tls://",
            ));
        }
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !plain(&self.nats_stream) {
            return Err(ConfigError::new(
                "nats-stream",
                &self.nats_stream,
                "may hold only letters, digits, '-' and '_'",
            ));
        }
        if !plain(&self.subject_prefix) {
            return Err(ConfigError::new(
                "subject-prefix",
                &self.subject_prefix,
                "may hold only letters, digits, '-' and '_'",
            ));
        }
        for (setting, file) in [
            ("nats-creds", &self.nats_creds),
            ("nats-ca-file", &self.nats_ca_file),
            ("nats-client-cert", &self.nats_client_cert),
            ("nats-client-key", &self.nats_client_key),
        ] {
            if let Some(file) = file.as_ref().filter(|f| !f.is_file()) {
                return Err(ConfigError::new(
                    setting,
                    file.display(),
                    "is not a readable file",
                ));
            }
        }
        Ok(NatsSettings {
            url: self.nats_url.clone(),
            stream: self.nats_stream.clone(),
            subject_prefix: self.subject_prefix.clone(),
            max_age: self.nats_max_age,
            security: crate::bus::NatsSecurity {
                credentials_file: self.nats_creds.clone(),
                ca_file: self.nats_ca_file.clone(),
                client_certificate: self
                    .nats_client_cert
                    .clone()
                    .zip(self.nats_client_key.clone()),
                require_tls: self.nats_require_tls || self.nats_url.starts_with("tls://"),
            },
        })
    }
}

/// TLS for a role's HTTP server: a certificate chain and key in PEM files. Without them the
/// server speaks plain HTTP (behind a TLS-terminating ingress or proxy, or on a loopback).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct TlsArgs {
    /// The server's certificate chain (PEM), leaf first.
    #[arg(long = "tls-cert", env = "CUSTODIAN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long = "tls-key", env = "CUSTODIAN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Client certificates signed by this CA (PEM) are checked when a client presents one
    /// (collection stations); clients without one (people in a browser) still connect and
    /// authenticate by token.
    #[arg(
        long = "tls-client-ca",
        env = "CUSTODIAN_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// The server's TLS configuration, or `None` for plain HTTP; a file that cannot be read
    /// or parsed is named.
    pub fn server_config(
        &self,
    ) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, ConfigError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let bad = |setting: &'static str, path: &std::path::Path, e: &dyn std::fmt::Display| {
            ConfigError::new(setting, path.display(), e)
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| bad("tls-cert", cert, &e))?;
        if chain.is_empty() {
            return Err(bad("tls-cert", cert, &"holds no certificate"));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("tls-key", key, &e))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("tls-cert", cert, &e))?;
        let builder = match &self.tls_client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for der in
                    CertificateDer::pem_file_iter(ca).map_err(|e| bad("tls-client-ca", ca, &e))?
                {
                    let der = der.map_err(|e| bad("tls-client-ca", ca, &e))?;
                    roots.add(der).map_err(|e| bad("tls-client-ca", ca, &e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    std::sync::Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| bad("tls-client-ca", ca, &e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, private)
            .map_err(|e| bad("tls-key", key, &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(std::sync::Arc::new(config)))
    }
}

/// The `x5t#S256` thumbprint (RFC 8705) of the certificate in a PEM file, e.g. a collection
/// station's client certificate to bind its token to; `setting` names the flag in errors. Of
/// a chain, the first (the leaf, as chains are written) is taken: binding to a CA instead
/// would only make the token unusable, never let another certificate in.
pub fn certificate_file_thumbprint(
    setting: &'static str,
    path: &std::path::Path,
) -> Result<String, ConfigError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let leaf = CertificateDer::pem_file_iter(path)
        .map_err(|e| ConfigError::new(setting, path.display(), e))?
        .next()
        .ok_or_else(|| ConfigError::new(setting, path.display(), "holds no certificate"))?
        .map_err(|e| ConfigError::new(setting, path.display(), e))?;
    Ok(custodian_core::token::certificate_thumbprint(&leaf))
}

/// Limits on what a client may hold of a server, for every role that serves HTTP: slow or
/// silent clients are cut off, and only so many connections are served at once.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HttpLimits {
    /// How long a client may take to send a request's header, counted from when it connects
    /// or, on a kept-alive connection, from the request's first byte. A header trickled in
    /// byte by byte is cut off then.
    #[arg(long = "http-header-timeout", env = "CUSTODIAN_HTTP_HEADER_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// How long a request's body may send nothing while the server waits for it. A limit on
    /// silence, not on the whole body: an upload that keeps sending may take hours.
    #[arg(long = "http-body-timeout", env = "CUSTODIAN_HTTP_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    #[arg(long = "http-idle-timeout", env = "CUSTODIAN_HTTP_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Connections served at once. Further ones wait (in the listen queue) until one closes.
    #[arg(
        long = "http-max-connections",
        env = "CUSTODIAN_HTTP_MAX_CONNECTIONS",
        default_value_t = 1024
    )]
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

impl HttpLimits {
    /// Checks the limits, naming the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const LONGEST: Duration = Duration::from_secs(3600);
        for (setting, value) in [
            ("http-header-timeout", self.header_timeout),
            ("http-body-timeout", self.body_timeout),
            ("http-idle-timeout", self.idle_timeout),
        ] {
            if value.is_zero() || value > LONGEST {
                return Err(ConfigError::new(
                    setting,
                    format!("{value:?}"),
                    "must be more than 0 and at most 1h",
                ));
            }
        }
        if !(1..=65_536).contains(&self.max_connections) {
            return Err(ConfigError::new(
                "http-max-connections",
                self.max_connections,
                "must be 1 to 65536",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_limits_are_checked() {
        assert_eq!(HttpLimits::default().validate(), Ok(()));
        let zero = HttpLimits {
            body_timeout: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(zero.validate().unwrap_err().setting, "http-body-timeout");
        let none = HttpLimits {
            max_connections: 0,
            ..Default::default()
        };
        let err = none.validate().unwrap_err();
        assert_eq!(
            (err.setting, err.value.as_str()),
            ("http-max-connections", "0")
        );
    }

    #[test]
    fn bad_values_are_named() {
        let args = S3Args {
            s3_endpoint: Some("127.0.0.1:3900".into()),
            s3_bucket: "footage".into(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: "GK1".into(),
            s3_secret_access_key: "hunter2-s3".into(),
            s3_path_style: true,
            s3_part_size: 8 << 20,
            s3_parts_in_flight: 4,
            s3_create_bucket: false,
        };
        let settings = S3Args {
            s3_endpoint: None,
            ..args.clone()
        }
        .validate()
        .unwrap();
        for printed in [format!("{args:?}"), format!("{settings:?}")] {
            assert!(
                !printed.contains("hunter2-s3"),
                "the secret shows in {printed}"
            );
        }
        assert_eq!(args.validate().unwrap_err().setting, "s3-endpoint");
        let small = S3Args {
            s3_endpoint: None,
            s3_part_size: 1 << 20,
            ..args.clone()
        };
        assert_eq!(small.validate().unwrap_err().setting, "s3-part-size");
        let bucket = S3Args {
            s3_endpoint: None,
            s3_bucket: "Footage".into(),
            ..args
        };
        assert_eq!(bucket.validate().unwrap_err().setting, "s3-bucket");

        let db = DatabaseArgs {
            database_url: "mysql://root:hunter2@db/x".into(),
            database_max_connections: 8,
            database_migrate: true,
        };
        let err = db.validate().unwrap_err();
        assert_eq!(err.setting, "database-url");
        assert!(!err.to_string().contains("hunter2"), "{err}");

        let nats = NatsArgs {
            nats_url: "tls://nats:4222".into(),
            nats_stream: "CUSTODIAN".into(),
            subject_prefix: "custodian".into(),
            nats_max_age: Duration::from_secs(60),
            nats_creds: Some("/nonexistent/custodian.creds".into()),
            nats_ca_file: None,
            nats_client_cert: None,
            nats_client_key: None,
            nats_require_tls: false,
        };
        assert_eq!(nats.validate().unwrap_err().setting, "nats-creds");
        let settings = NatsArgs {
            nats_creds: None,
            ..nats
        }
        .validate()
        .unwrap();
        assert!(settings.security.require_tls, "a tls:// URL requires TLS");
    }
}

/// Who may see what, for every role that serves the API: the same in every process of a
/// deployment.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessArgs {
    /// The roles that may see secret clips (art. 24), comma-separated: any of archivist,
    /// leader, auditor, admin, region-admin (officers never).
    #[arg(
        long = "secret-roles",
        env = "CUSTODIAN_SECRET_ROLES",
        value_delimiter = ',',
        default_value = "leader,auditor,admin"
    )]
    pub secret_roles: Vec<String>,
}

impl Default for AccessArgs {
    fn default() -> Self {
        Self {
            secret_roles: custodian_core::roles::DEFAULT_SECRET_ROLES
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
        }
    }
}

impl AccessArgs {
    /// The checked roles, or a message naming the bad value.
    pub fn secret_roles(&self) -> Result<custodian_core::roles::SecretRoles, ConfigError> {
        custodian_core::roles::SecretRoles::parse(&self.secret_roles)
            .map_err(|e| ConfigError::new("secret-roles", self.secret_roles.join(","), e))
    }
}

/// What both media workers accept and how long they may take: one set of limits for the
/// process, shared by the transcoder and the fingerprinter.
#[derive(Debug, Clone, clap::Args)]
pub struct MediaJobArgs {
    /// Where originals are copied for decoding and outputs made (default: the system's
    /// temporary directory; standalone: DATA/work).
    #[arg(
        id = "media_work_dir",
        long = "media-work-dir",
        env = "CUSTODIAN_MEDIA_WORK_DIR"
    )]
    pub work_dir: Option<std::path::PathBuf>,
    /// Longer clips are refused (marked failed) rather than processed.
    #[arg(id = "media_max_duration", long = "media-max-duration", env = "CUSTODIAN_MEDIA_MAX_DURATION", default_value = "6h", value_parser = parse_duration)]
    pub max_duration: Duration,
    /// Larger pictures are refused, e.g. 7680x4320.
    #[arg(id = "media_max_resolution", long = "media-max-resolution", env = "CUSTODIAN_MEDIA_MAX_RESOLUTION", default_value = "7680x4320", value_parser = parse_resolution)]
    pub max_resolution: (u32, u32),
    /// A job still running after this long is stopped and retried.
    #[arg(id = "media_job_timeout", long = "media-job-timeout", env = "CUSTODIAN_MEDIA_JOB_TIMEOUT", default_value = "2h", value_parser = parse_duration)]
    pub job_timeout: Duration,
    /// How long a delivery may go without a sign of life before the bus gives it to another
    /// worker (a running job says it is alive three times per this period).
    #[arg(id = "media_ack_wait", long = "media-ack-wait", env = "CUSTODIAN_MEDIA_ACK_WAIT", default_value = "60s", value_parser = parse_duration)]
    pub ack_wait: Duration,
    /// Deliveries of one clip's job before it goes to the dead-letter subject and the clip
    /// is marked failed.
    #[arg(
        id = "media_max_deliver",
        long = "media-max-deliver",
        env = "CUSTODIAN_MEDIA_MAX_DELIVER",
        default_value_t = 3
    )]
    pub max_deliver: u32,
    /// How far the file's own clock (`creation_time`) may be from the declared recording time
    /// and still date the copy's frames; further off, the declared time is used and the
    /// disagreement is a finding.
    #[arg(id = "media_clock_tolerance", long = "media-clock-tolerance", env = "CUSTODIAN_MEDIA_CLOCK_TOLERANCE", default_value = "5m", value_parser = parse_duration)]
    pub clock_tolerance: Duration,
    /// The address space each sandboxed media job may use (its child process's RLIMIT_AS);
    /// a file that needs more fails "over the memory limit".
    #[arg(id = "media_memory_limit", long = "media-memory-limit", env = "CUSTODIAN_MEDIA_MEMORY_LIMIT", default_value = "8GiB", value_parser = parse_size)]
    pub memory_limit: u64,
    /// The CPU time each sandboxed media job may use, all its threads together (RLIMIT_CPU);
    /// a file that needs more fails "over the CPU time limit". Default: the job time limit
    /// times the cores, plus a minute (the wall-clock limit stops a job first).
    #[arg(id = "media_cpu_limit", long = "media-cpu-limit", env = "CUSTODIAN_MEDIA_CPU_LIMIT", value_parser = parse_duration)]
    pub cpu_limit: Option<Duration>,
    /// The executable that runs media jobs in their sandbox (its hidden `media-job`
    /// subcommand). Default: this one.
    #[arg(
        id = "media_job_exe",
        long = "media-job-exe",
        env = "CUSTODIAN_MEDIA_JOB_EXE",
        hide = true
    )]
    pub job_exe: Option<std::path::PathBuf>,
}

impl Default for MediaJobArgs {
    fn default() -> Self {
        Self {
            work_dir: None,
            max_duration: Duration::from_secs(6 * 3600),
            max_resolution: (7680, 4320),
            job_timeout: Duration::from_secs(2 * 3600),
            ack_wait: Duration::from_secs(60),
            max_deliver: 3,
            clock_tolerance: Duration::from_secs(300),
            memory_limit: 8 << 30,
            cpu_limit: None,
            job_exe: None,
        }
    }
}

impl MediaJobArgs {
    /// The CPU time a sandboxed job may use: as configured, else as much as its cores could
    /// spend within the job time limit, and a minute more.
    pub fn cpu_limit(&self) -> Duration {
        self.cpu_limit.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            self.job_timeout
                .saturating_mul(u32::try_from(cores).unwrap_or(u32::MAX))
                .saturating_add(Duration::from_secs(60))
        })
    }

    /// `clock_tolerance` as the domain's rules take it.
    pub fn clock_tolerance(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.clock_tolerance)
            .unwrap_or(custodian_core::media::clock::DEFAULT_TOLERANCE)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_duration.is_zero() {
            return Err(ConfigError::new(
                "media-max-duration",
                "0s",
                "must be more than 0",
            ));
        }
        if self.job_timeout < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "media-job-timeout",
                format!("{:?}", self.job_timeout),
                "must be at least 1s",
            ));
        }
        if self.ack_wait < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "media-ack-wait",
                format!("{:?}", self.ack_wait),
                "must be at least 1s",
            ));
        }
        if !(1..=100).contains(&self.max_deliver) {
            return Err(ConfigError::new(
                "media-max-deliver",
                self.max_deliver,
                "must be 1 to 100",
            ));
        }
        if self.clock_tolerance > Duration::from_secs(24 * 3600) {
            return Err(ConfigError::new(
                "media-clock-tolerance",
                format!("{:?}", self.clock_tolerance),
                "must be at most 24h",
            ));
        }
        if self.memory_limit < 256 << 20 {
            return Err(ConfigError::new(
                "media-memory-limit",
                self.memory_limit,
                "must be at least 256MiB",
            ));
        }
        if self
            .cpu_limit
            .is_some_and(|cpu| cpu < Duration::from_secs(1))
        {
            return Err(ConfigError::new(
                "media-cpu-limit",
                format!("{:?}", self.cpu_limit),
                "must be at least 1s",
            ));
        }
        if let Some(dir) = &self.work_dir {
            if !dir.is_dir() {
                return Err(ConfigError::new(
                    "media-work-dir",
                    dir.display(),
                    "is not a directory",
                ));
            }
        }
        Ok(())
    }

    /// The durable consumer of `clip.stored` a media worker role shares with its replicas.
    pub fn consumer(&self, name: &str) -> crate::bus::ConsumerSpec {
        crate::bus::ConsumerSpec {
            name: name.into(),
            topic: custodian_core::events::Topic::ClipStored,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver,
        }
    }

    /// How long one delivery may take before the worker loop gives up on it: the job's own
    /// limit, which stops FFmpeg, plus time to record the outcome.
    pub fn delivery_timeout(&self) -> Duration {
        self.job_timeout + Duration::from_secs(30)
    }

    pub fn work_dir(&self) -> std::path::PathBuf {
        self.work_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

/// `WIDTHxHEIGHT`, each 16 to 16384.
pub fn parse_resolution(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .trim()
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT"))?;
    let side = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| (16..=16384).contains(v))
            .ok_or_else(|| format!("{text:?}: each side must be 16 to 16384"))
    };
    Ok((side(w)?, side(h)?))
}
