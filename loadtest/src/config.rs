//! Command-line settings. Every flag also reads a `CUSTODIAN_LOADTEST_*` variable, and a bad
//! value stops the run with a message naming it before anything is generated or sent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "custodian-loadtest",
    about = "Open-model load generator for Custodian uploads"
)]
pub struct Args {
    /// Where uploads go (the ingest role, or the standalone server).
    #[arg(
        long,
        env = "CUSTODIAN_LOADTEST_INGEST",
        default_value = "http://127.0.0.1:8080"
    )]
    pub ingest: String,
    /// Where clip state is read (the catalog role, or the standalone server).
    #[arg(
        long,
        env = "CUSTODIAN_LOADTEST_CATALOG",
        default_value = "http://127.0.0.1:8080"
    )]
    pub catalog: String,
    /// A bureau's officer token, BUREAU=TOKEN; repeat for each bureau (comma-separated in
    /// the variable).
    #[arg(
        long = "token",
        env = "CUSTODIAN_LOADTEST_TOKENS",
        value_delimiter = ','
    )]
    pub tokens: Vec<String>,
    /// A file of BUREAU=TOKEN lines (blank lines and # comments ignored), added to --token.
    #[arg(long, env = "CUSTODIAN_LOADTEST_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Simulated devices per bureau; arrivals go to them in turn.
    #[arg(long, env = "CUSTODIAN_LOADTEST_DEVICES", default_value_t = 4)]
    pub devices_per_bureau: u32,
    /// Target arrival rate, uploads per second, held whatever the server's latency.
    #[arg(long, env = "CUSTODIAN_LOADTEST_RATE", default_value_t = 1.0)]
    pub rate: f64,
    /// How long arrivals are generated, e.g. 60s, 5m.
    #[arg(long, env = "CUSTODIAN_LOADTEST_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Uploads in flight at most; an arrival finding them all busy is dropped and counted.
    #[arg(long, env = "CUSTODIAN_LOADTEST_MAX_IN_FLIGHT", default_value_t = 32)]
    pub max_in_flight: usize,
    /// How long a clip may take from its 201 to `catalogued` before it counts as timed out.
    #[arg(long, env = "CUSTODIAN_LOADTEST_SETTLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub settle_timeout: Duration,
    /// Length of each generated clip in seconds.
    #[arg(long, env = "CUSTODIAN_LOADTEST_CLIP_SECONDS", default_value_t = 2)]
    pub clip_seconds: u32,
    /// How many distinct clips are generated and uploaded in turn.
    #[arg(long, env = "CUSTODIAN_LOADTEST_CLIPS", default_value_t = 4)]
    pub clips: u32,
    /// Directory for report.json, report.md and latency.svg.
    #[arg(long, env = "CUSTODIAN_LOADTEST_OUT", default_value = "loadtest-out")]
    pub out: PathBuf,
    /// Progress as plain lines even on a terminal.
    #[arg(long, env = "CUSTODIAN_LOADTEST_PLAIN")]
    pub plain: bool,
    /// A CA certificate (PEM) to trust for `https://` servers besides the system's, as the
    /// upload agent's --ca-file.
    #[arg(long = "ca-file", env = "CUSTODIAN_LOADTEST_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) to present, with --client-key, for tokens bound to it.
    #[arg(
        long = "client-cert",
        env = "CUSTODIAN_LOADTEST_CLIENT_CERT",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, PKCS#8).
    #[arg(
        long = "client-key",
        env = "CUSTODIAN_LOADTEST_CLIENT_KEY",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
}

/// "90s", "5m", "1h", "250ms" or plain seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let bad = || format!("{value:?} is not a duration such as 60s, 5m, 1h or 250ms");
    let (number, unit) = match value.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => value.split_at(i),
        None => (value, "s"),
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("{value:?} must be longer than zero"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Checks what clap's types cannot, naming the flag and the value.
pub fn validate(args: &Args) -> anyhow::Result<()> {
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 10_000.0) {
        bail!(
            "--rate {}: must be above 0 and at most 10000 uploads/s",
            args.rate
        );
    }
    if args.max_in_flight == 0 {
        bail!("--max-in-flight 0: at least one upload must be allowed");
    }
    if args.devices_per_bureau == 0 || args.devices_per_bureau > 9_999 {
        bail!(
            "--devices-per-bureau {}: must be 1 to 9999",
            args.devices_per_bureau
        );
    }
    if !(1..=600).contains(&args.clip_seconds) {
        bail!("--clip-seconds {}: must be 1 to 600", args.clip_seconds);
    }
    if !(1..=16).contains(&args.clips) {
        bail!("--clips {}: must be 1 to 16", args.clips);
    }
    for (flag, url) in [("--ingest", &args.ingest), ("--catalog", &args.catalog)] {
        let parsed =
            reqwest::Url::parse(url).with_context(|| format!("{flag} {url:?}: not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("{flag} {url:?}: must be an http:// or https:// URL");
        }
    }
    Ok(())
}

/// The HTTP client's settings: `--ca-file` trusted besides the system's roots, and the client
/// certificate presented if given, as the upload agent does it.
pub fn tls(args: &Args, builder: reqwest::ClientBuilder) -> anyhow::Result<reqwest::ClientBuilder> {
    custodian_agent::with_tls(
        builder,
        args.ca_file.as_deref(),
        args.client_cert.as_deref().zip(args.client_key.as_deref()),
    )
}

/// The bureaus' tokens from --token and --tokens-file, in bureau order.
pub fn tokens(args: &Args) -> anyhow::Result<BTreeMap<String, String>> {
    let mut lines: Vec<(String, String)> = args
        .tokens
        .iter()
        .map(|t| ("--token".to_owned(), t.clone()))
        .collect();
    if let Some(path) = &args.tokens_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--tokens-file {}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                lines.push((
                    format!("--tokens-file {} line {}", path.display(), i + 1),
                    line.to_owned(),
                ));
            }
        }
    }
    let mut tokens = BTreeMap::new();
    for (origin, line) in lines {
        let Some((bureau, token)) = line.split_once('=') else {
            // The token itself is a secret: name where it came from, not what it is.
            bail!("{origin}: expected BUREAU=TOKEN");
        };
        let (bureau, token) = (bureau.trim(), token.trim());
        if bureau.is_empty() || token.is_empty() {
            bail!("{origin}: bureau {bureau:?}: BUREAU and TOKEN must both be given");
        }
        if tokens.insert(bureau.to_owned(), token.to_owned()).is_some() {
            bail!("{origin}: bureau {bureau:?} given twice");
        }
    }
    if tokens.is_empty() {
        bail!("no tokens: give --token BUREAU=TOKEN or --tokens-file");
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("5 parsecs"));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let args = Args::parse_from(["x", "--rate=-2", "--token", "b1=t"]);
        assert!(validate(&args)
            .unwrap_err()
            .to_string()
            .contains("--rate -2"));
        let args = Args::parse_from(["x", "--ingest", "ftp://h", "--token", "b1=t"]);
        assert!(validate(&args).unwrap_err().to_string().contains("ftp://h"));
        let args = Args::parse_from(["x", "--ingest", "https://h", "--token", "b1=t"]);
        assert!(validate(&args).is_ok());
        let args = Args::parse_from(["x", "--ca-file", "/nonexistent/ca.pem", "--token", "b1=t"]);
        assert!(tls(&args, reqwest::Client::builder())
            .unwrap_err()
            .to_string()
            .contains("--ca-file /nonexistent/ca.pem"));
        let args = Args::parse_from(["x", "--token", "b1=t", "--token", "b2"]);
        assert!(tokens(&args)
            .unwrap_err()
            .to_string()
            .contains("BUREAU=TOKEN"));
        let args = Args::parse_from(["x", "--token", "b1=t", "--token", "b2=u"]);
        assert_eq!(tokens(&args).unwrap().len(), 2);
    }
}
