//! The upload itself: files (or every file that appears in a watched directory) go over tus,
//! a few at a time, resuming where they stopped after a lost link or the agent's own restart:
//! a state file maps each file to its tus URL and how far it got. Device, officer and time come from a JSON sidecar (`FILE.json`) or else from the GA/T
//! 947 file name. A file counts as done only once the server's receipt names the SHA-256 the
//! agent computed itself; only then, and only with `--delete-after-verify`, is it deleted.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use custodian_core::station::parse_station_name;
use custodian_core::tus::encode_metadata;
use custodian_core::Sha256Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::Mutex;

use crate::UploadArgs;

/// Where a file stands, as kept in the state file between runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Entry {
    size: u64,
    /// Hex; empty until known (a new file is hashed while it is sent).
    sha256: String,
    /// The file's modification time when its upload started, to tell after a restart that
    /// it is the same file when its hash was not known yet.
    #[serde(default)]
    modified: Option<String>,
    url: Option<String>,
    offset: u64,
    /// The clip id from the server's receipt, once the receipt's SHA-256 matched.
    clip_id: Option<String>,
}

/// The state file: written whole to a temporary file and renamed, so a crash leaves either
/// the old or the new state.
struct State {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl State {
    async fn load(path: &Path) -> anyhow::Result<Self> {
        let entries = match tokio::fs::read(path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("state file {} is not valid", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Self {
            path: path.to_owned(),
            entries: Mutex::new(entries),
        })
    }

    async fn get(&self, file: &str) -> Option<Entry> {
        self.entries.lock().await.get(file).cloned()
    }

    async fn put(&self, file: &str, entry: Entry) -> anyhow::Result<()> {
        let mut entries = self.entries.lock().await;
        entries.insert(file.to_owned(), entry);
        let text = serde_json::to_vec_pretty(&*entries)?;
        let temp = self.path.with_extension("tmp");
        tokio::fs::write(&temp, text)
            .await
            .with_context(|| format!("writing {}", temp.display()))?;
        tokio::fs::rename(&temp, &self.path)
            .await
            .with_context(|| format!("replacing {}", self.path.display()))
    }
}

/// What the sidecar may say; anything it leaves out comes from the file name.
#[derive(Debug, Default, Deserialize)]
struct Sidecar {
    device: Option<String>,
    officer: Option<String>,
    recorded_at: Option<String>,
    case: Option<String>,
    place: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

/// The Upload-Metadata pairs for a file.
async fn metadata_of(
    file: &Path,
    sha256: Option<&Sha256Digest>,
) -> anyhow::Result<Vec<(String, String)>> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{} has no UTF-8 file name", file.display()))?;
    let sidecar_path = sidecar_of(file);
    let sidecar: Sidecar = match tokio::fs::read(&sidecar_path).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("sidecar {} is not valid", sidecar_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Sidecar::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", sidecar_path.display())),
    };
    let from_name = parse_station_name(name);
    let complete =
        sidecar.device.is_some() && sidecar.officer.is_some() && sidecar.recorded_at.is_some();
    let named = match (&from_name, complete) {
        (_, true) => None,
        (Ok(named), false) => Some(named),
        (Err(e), false) => bail!(
            "{e}, and no sidecar {} gives device, officer and recorded_at",
            sidecar_path.display()
        ),
    };
    let pick = |given: Option<String>, named: Option<String>| given.or(named).unwrap_or_default();
    let mut pairs = vec![
        (
            "device".to_owned(),
            pick(sidecar.device, named.map(|n| n.device.as_str().to_owned())),
        ),
        (
            "officer".to_owned(),
            pick(
                sidecar.officer,
                named.map(|n| n.officer.as_str().to_owned()),
            ),
        ),
        (
            "recorded_at".to_owned(),
            pick(
                sidecar.recorded_at,
                named.map(|n| n.recorded_at.to_rfc3339()),
            ),
        ),
        ("filename".to_owned(), name.to_owned()),
    ];
    if let Some(sha256) = sha256 {
        pairs.push(("sha256".to_owned(), sha256.to_hex()));
    }
    for (key, value) in [
        ("case", sidecar.case),
        ("place", sidecar.place),
        ("lat", sidecar.lat.map(|v| v.to_string())),
        ("lon", sidecar.lon.map(|v| v.to_string())),
    ] {
        if let Some(value) = value {
            pairs.push((key.to_owned(), value));
        }
    }
    Ok(pairs)
}

fn sidecar_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// The file's size and modification time (as text, to the nanosecond).
async fn size_and_modified(file: &Path) -> anyhow::Result<(u64, Option<String>)> {
    let meta = tokio::fs::metadata(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| format!("{}.{:09}", d.as_secs(), d.subsec_nanos()));
    Ok((meta.len(), modified))
}

/// The whole file's SHA-256 from the chunks as they are read for sending, on a thread of its
/// own, so a new file is not read and hashed once before its upload begins.
struct RunningHash {
    fed: u64,
    chunks: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    hashing: tokio::task::JoinHandle<Sha256Digest>,
}

impl RunningHash {
    fn start() -> Self {
        let (chunks, mut received) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
        let hashing = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            while let Some(chunk) = received.blocking_recv() {
                hasher.update(&chunk);
            }
            Sha256Digest::from_bytes(hasher.finalize().into())
        });
        Self {
            fed: 0,
            chunks: Some(chunks),
            hashing,
        }
    }

    /// Takes the chunk at `offset` unless it was taken before (a chunk sent again).
    async fn feed(&mut self, offset: u64, chunk: &bytes::Bytes) -> anyhow::Result<()> {
        if offset < self.fed {
            return Ok(());
        }
        if offset > self.fed {
            bail!(
                "the server's offset {offset} is past what this run read ({})",
                self.fed
            );
        }
        let chunks = self
            .chunks
            .as_ref()
            .ok_or_else(|| anyhow!("the file was hashed already"))?;
        chunks
            .send(chunk.clone())
            .await
            .map_err(|_| anyhow!("the hashing thread stopped"))?;
        self.fed += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<Sha256Digest> {
        self.chunks = None;
        Ok(self.hashing.await?)
    }
}

async fn hash_file(file: &Path) -> anyhow::Result<(u64, Sha256Digest)> {
    let mut reader = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, Sha256Digest::from_bytes(hasher.finalize().into())))
}

/// Why one request failed: worth retrying or not.
enum Failure {
    Transient(anyhow::Error),
    Permanent(anyhow::Error),
}

fn classify(status: StatusCode, what: &str, body: String) -> Failure {
    let error = anyhow!("{what}: {status} {body}");
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::LOCKED
    {
        Failure::Transient(error)
    } else {
        Failure::Permanent(error)
    }
}

struct Agent {
    http: reqwest::Client,
    server: String,
    token: secrecy::SecretString,
    chunk: u64,
    retries: u32,
    delete_after_verify: bool,
    state: State,
    progress: Option<MultiProgress>,
}

/// An HTTP client's TLS settings: `ca_file` (`--ca-file`) trusted besides the system's roots,
/// and the client certificate and key (`--client-cert`, `--client-key`) presented if given. A
/// file that is not what it should be is named by its flag.
pub fn with_tls(
    mut builder: reqwest::ClientBuilder,
    ca_file: Option<&Path>,
    client_certificate: Option<(&Path, &Path)>,
) -> anyhow::Result<reqwest::ClientBuilder> {
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).with_context(|| format!("--ca-file {}", ca.display()))?;
        let certificate = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("--ca-file {} is not a PEM certificate", ca.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    if let Some((cert, key)) = client_certificate {
        // reqwest takes the certificate chain and its key as one PEM buffer.
        let mut pem =
            std::fs::read(cert).with_context(|| format!("--client-cert {}", cert.display()))?;
        pem.push(b'\n');
        pem.extend(std::fs::read(key).with_context(|| format!("--client-key {}", key.display()))?);
        let identity = reqwest::Identity::from_pem(&pem).with_context(|| {
            format!(
                "--client-cert {} with --client-key {}: not a PEM certificate and key",
                cert.display(),
                key.display()
            )
        })?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

/// Runs `custodian upload`.
pub async fn run(args: UploadArgs) -> anyhow::Result<()> {
    args.validate()?;
    let client = with_tls(
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .https_only(args.server.starts_with("https://")),
        args.ca_file.as_deref(),
        args.client_cert.as_deref().zip(args.client_key.as_deref()),
    )?;
    let agent = Arc::new(Agent {
        http: client.build()?,
        server: args.server.trim_end_matches('/').to_owned(),
        token: args.token.clone(),
        chunk: args.chunk_size,
        retries: args.retries,
        delete_after_verify: args.delete_after_verify,
        state: State::load(&args.state).await?,
        progress: std::io::stderr().is_terminal().then(MultiProgress::new),
    });
    let mut failed = 0usize;
    if !args.files.is_empty() {
        failed += agent
            .clone()
            .upload_all(args.files.clone(), args.concurrency)
            .await;
    }
    if let Some(dir) = &args.watch {
        loop {
            let ready = agent.ready_in(dir).await?;
            failed += agent.clone().upload_all(ready, args.concurrency).await;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(args.poll_every) => {}
            }
        }
    }
    if failed > 0 {
        bail!("{failed} file(s) not uploaded; run again to resume them");
    }
    Ok(())
}

impl Agent {
    /// Uploads `files`, at most `concurrency` at a time; answers how many failed.
    async fn upload_all(self: Arc<Self>, files: Vec<PathBuf>, concurrency: usize) -> usize {
        use futures::StreamExt;
        futures::stream::iter(files)
            .map(|file| {
                let agent = self.clone();
                async move {
                    match agent.upload_one(&file).await {
                        Ok(()) => 0,
                        Err(e) => {
                            agent.say(&format!("{}: failed: {e:#}", file.display()));
                            1
                        }
                    }
                }
            })
            .buffer_unordered(concurrency)
            .fold(0, |total, failed| async move { total + failed })
            .await
    }

    /// Files in `dir` not yet done and no longer growing (a station may still be copying).
    async fn ready_in(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let mut sizes = BTreeMap::new();
        for pass in 0..2 {
            let mut entries = tokio::fs::read_dir(dir)
                .await
                .with_context(|| format!("watching {}", dir.display()))?;
            while let Some(entry) = entries.next_entry().await? {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || name.ends_with(".json") || name.ends_with(".tmp") {
                    continue;
                }
                let meta = entry.metadata().await?;
                if !meta.is_file() {
                    continue;
                }
                if pass == 0 {
                    sizes.insert(path, meta.len());
                } else if sizes.get(&path) != Some(&meta.len()) {
                    sizes.remove(&path);
                }
            }
            if pass == 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let mut ready = Vec::new();
        for path in sizes.into_keys() {
            let done = self
                .state
                .get(&key_of(&path))
                .await
                .is_some_and(|e| e.clip_id.is_some());
            if !done {
                ready.push(path);
            }
        }
        Ok(ready)
    }

    fn say(&self, line: &str) {
        match &self.progress {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(secrecy::ExposeSecret::expose_secret(&self.token))
            .header("Tus-Resumable", custodian_core::tus::VERSION)
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries run out, waiting
    /// longer after each failure (0.5 s, 1 s, 2 s … up to 30 s).
    async fn with_retries<T, F, Fut>(&self, what: &str, mut attempt: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut delay = Duration::from_millis(500);
        let mut tries = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Permanent(e)) => return Err(e),
                Err(Failure::Transient(e)) if tries >= self.retries => {
                    return Err(e.context(format!("{what}: gave up after {} retries", self.retries)))
                }
                Err(Failure::Transient(e)) => {
                    tries += 1;
                    self.say(&format!("{what}: {e:#}; retrying in {delay:?}"));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn upload_one(&self, file: &Path) -> anyhow::Result<()> {
        let key = key_of(file);
        let (size, modified) = size_and_modified(file).await?;
        // A file met before is hashed first, to know it is the same bytes as last time (or,
        // if that run had not hashed it yet, the same size and modification time); a new
        // one is hashed as it is sent.
        let mut known = None;
        let previous = match self.state.get(&key).await {
            Some(entry) if entry.size == size => {
                let (_, sha256) = hash_file(file).await?;
                let same = if entry.sha256.is_empty() {
                    entry.modified.is_some() && entry.modified == modified
                } else {
                    entry.sha256 == sha256.to_hex()
                };
                known = Some(sha256);
                same.then_some(entry)
            }
            _ => None,
        };
        let mut entry = previous.unwrap_or_else(|| Entry {
            size,
            sha256: String::new(),
            modified: modified.clone(),
            url: None,
            offset: 0,
            clip_id: None,
        });
        if let Some(sha256) = &known {
            entry.sha256 = sha256.to_hex();
        }
        if entry.clip_id.is_some() {
            return self.after_verified(file, &entry).await;
        }
        let bar = self.bar(file, size);
        if let (Some(url), Some(sha256)) = (entry.url.clone(), known) {
            match self.head(&url).await? {
                Some((offset, receipt)) => {
                    entry.offset = offset;
                    if let Some(receipt) = receipt {
                        return self.finish(file, &key, entry, &sha256, receipt, &bar).await;
                    }
                }
                // Expired or dropped on the server: start again.
                None => {
                    entry.url = None;
                    entry.offset = 0;
                }
            }
        }
        let url = match entry.url.clone() {
            Some(url) => url,
            None => {
                let url = self.create(file, size, known.as_ref()).await?;
                entry.url = Some(url.clone());
                entry.offset = 0;
                self.state.put(&key, entry.clone()).await?;
                url
            }
        };
        bar.set_position(entry.offset);
        let mut receipt = None;
        let mut running = known.is_none().then(RunningHash::start);
        let mut sha256 = known;
        // The next chunk is read and hashed while the one before it is on the wire.
        let mut next = self.prepare(file, entry.offset, size);
        while entry.offset < size {
            let chunk = match next.take() {
                Some(prepared) if prepared.offset == entry.offset => prepared.bytes.await??,
                _ => {
                    let length = self.chunk.min(size - entry.offset);
                    read_chunk(file.to_owned(), entry.offset, length).await?
                }
            };
            let end = entry.offset + chunk.0.len() as u64;
            if let Some(hashing) = running.as_mut() {
                hashing.feed(entry.offset, &chunk.0).await?;
            }
            if end == size {
                // The last chunk says what the whole file hashes to, for the server to check.
                if let Some(hashing) = running.take() {
                    let whole = hashing.finish().await?;
                    entry.sha256 = whole.to_hex();
                    sha256 = Some(whole);
                }
            }
            next = self.prepare(file, end, size);
            let whole_file = sha256.filter(|_| end == size);
            let (offset, got) = self
                .send_chunk(file, &url, entry.offset, chunk, whole_file)
                .await?;
            entry.offset = offset;
            receipt = got.or(receipt);
            bar.set_position(offset);
            if self.progress.is_none() {
                self.say(&format!("{}: {offset}/{size} bytes", file.display()));
            }
            self.state.put(&key, entry.clone()).await?;
        }
        let sha256 = match sha256 {
            Some(sha256) => sha256,
            None => hash_file(file).await?.1,
        };
        let receipt = match receipt {
            Some(receipt) => receipt,
            None => self
                .head(&url)
                .await?
                .and_then(|(_, receipt)| receipt)
                .ok_or_else(|| anyhow!("{}: the server sent no receipt", file.display()))?,
        };
        self.finish(file, &key, entry, &sha256, receipt, &bar).await
    }

    fn bar(&self, file: &Path, size: u64) -> ProgressBar {
        let Some(bars) = &self.progress else {
            return ProgressBar::hidden();
        };
        let bar = bars.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template("{msg:40} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        bar
    }

    /// Marks a file done once the receipt's SHA-256 is the one computed here.
    async fn finish(
        &self,
        file: &Path,
        key: &str,
        mut entry: Entry,
        sha256: &Sha256Digest,
        receipt: (String, String),
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let (clip_id, server_sha) = receipt;
        if server_sha != sha256.to_hex() {
            bail!(
                "{}: the server's receipt says sha256 {server_sha}, the file is {sha256}",
                file.display()
            );
        }
        entry.offset = entry.size;
        entry.clip_id = Some(clip_id.clone());
        self.state.put(key, entry.clone()).await?;
        bar.finish();
        self.say(&format!(
            "{}: stored as clip {clip_id}, sha256 {sha256} verified",
            file.display()
        ));
        self.after_verified(file, &entry).await
    }

    async fn after_verified(&self, file: &Path, entry: &Entry) -> anyhow::Result<()> {
        if self.delete_after_verify && tokio::fs::try_exists(file).await? {
            // Only the bytes that were verified: a file changed since is kept.
            let (size, sha256) = hash_file(file).await?;
            if size == entry.size && sha256.to_hex() == entry.sha256 {
                tokio::fs::remove_file(file)
                    .await
                    .with_context(|| format!("deleting {}", file.display()))?;
                self.say(&format!("{}: deleted after verification", file.display()));
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        file: &Path,
        size: u64,
        sha256: Option<&Sha256Digest>,
    ) -> anyhow::Result<String> {
        let pairs = metadata_of(file, sha256).await?;
        let metadata = encode_metadata(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let endpoint = format!("{}/v1/tus", self.server);
        let location = self
            .with_retries("create", || async {
                let response = self
                    .request(reqwest::Method::POST, &endpoint)
                    .header("Upload-Length", size.to_string())
                    .header("Upload-Metadata", &metadata)
                    .send()
                    .await
                    .map_err(|e| Failure::Transient(e.into()))?;
                let status = response.status();
                if status != StatusCode::CREATED {
                    return Err(classify(
                        status,
                        "create",
                        response.text().await.unwrap_or_default(),
                    ));
                }
                response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| Failure::Permanent(anyhow!("create: no Location")))
            })
            .await?;
        let base = reqwest::Url::parse(&endpoint)?;
        Ok(base.join(&location)?.to_string())
    }

    /// The upload's offset and, once finished, its receipt (clip id, sha256); `None` if the
    /// server no longer has it.
    async fn head(&self, url: &str) -> anyhow::Result<Option<(u64, Option<(String, String)>)>> {
        self.with_retries("resume", || async {
            let response = self
                .request(reqwest::Method::HEAD, url)
                .send()
                .await
                .map_err(|e| Failure::Transient(e.into()))?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(classify(status, "resume", String::new()));
            }
            let offset = header(&response, "upload-offset")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Failure::Permanent(anyhow!("resume: no Upload-Offset")))?;
            Ok(Some((offset, receipt_of(&response))))
        })
        .await
    }

    /// Starts reading the chunk at `offset`, if the file goes on that far.
    fn prepare(&self, file: &Path, offset: u64, size: u64) -> Option<PreparedChunk> {
        (offset < size).then(|| PreparedChunk {
            offset,
            bytes: tokio::spawn(read_chunk(
                file.to_owned(),
                offset,
                self.chunk.min(size - offset),
            )),
        })
    }

    /// Sends the chunk at `offset` with its checksum; answers the new offset and the receipt
    /// if this finished the upload. A 409 means the server holds another offset: ask it.
    async fn send_chunk(
        &self,
        file: &Path,
        url: &str,
        offset: u64,
        (chunk, checksum): (bytes::Bytes, Sha256Digest),
        whole_file: Option<Sha256Digest>,
    ) -> anyhow::Result<(u64, Option<(String, String)>)> {
        let outcome = self
            .with_retries("send", || {
                let chunk = chunk.clone();
                async move {
                    let mut request = self
                        .request(reqwest::Method::PATCH, url)
                        .header("Content-Type", custodian_core::tus::PATCH_CONTENT_TYPE)
                        .header("Upload-Offset", offset.to_string())
                        .header(
                            "Upload-Checksum",
                            format!("sha256 {}", checksum.to_base64()),
                        );
                    if let Some(whole_file) = whole_file {
                        request = request.header("Custodian-Sha256", whole_file.to_hex());
                    }
                    let response = request
                        .body(chunk)
                        .send()
                        .await
                        .map_err(|e| Failure::Transient(e.into()))?;
                    let status = response.status();
                    if status == StatusCode::CONFLICT {
                        return Ok(None);
                    }
                    if status != StatusCode::NO_CONTENT {
                        let code = status.as_u16();
                        let body = response.text().await.unwrap_or_default();
                        // 460: the bytes were damaged on the way; sending them again may work.
                        return Err(if code == 460 {
                            Failure::Transient(anyhow!("send: checksum mismatch {body}"))
                        } else {
                            classify(status, "send", body)
                        });
                    }
                    let new_offset = header(&response, "upload-offset")
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| Failure::Permanent(anyhow!("send: no Upload-Offset")))?;
                    Ok(Some((new_offset, receipt_of(&response))))
                }
            })
            .await?;
        match outcome {
            Some(done) => Ok(done),
            None => match self.head(url).await? {
                Some((offset, receipt)) => Ok((offset, receipt)),
                None => bail!("{}: the server dropped the upload", file.display()),
            },
        }
    }
}

/// A chunk being read and hashed ahead of its turn.
struct PreparedChunk {
    offset: u64,
    bytes: tokio::task::JoinHandle<anyhow::Result<(bytes::Bytes, Sha256Digest)>>,
}

/// Reads `length` bytes of `file` at `offset` and their SHA-256 (for Upload-Checksum).
async fn read_chunk(
    file: PathBuf,
    offset: u64,
    length: u64,
) -> anyhow::Result<(bytes::Bytes, Sha256Digest)> {
    let mut reader = tokio::fs::File::open(&file).await?;
    reader.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut chunk = vec![0u8; length as usize];
    reader.read_exact(&mut chunk).await?;
    let checksum = tokio::task::spawn_blocking(move || {
        let checksum = Sha256Digest::of(&chunk);
        (bytes::Bytes::from(chunk), checksum)
    })
    .await?;
    Ok(checksum)
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn receipt_of(response: &reqwest::Response) -> Option<(String, String)> {
    Some((
        header(response, "custodian-clip-id")?,
        header(response, "custodian-sha256")?,
    ))
}

/// Files are known in the state file by their absolute path.
fn key_of(file: &Path) -> String {
    std::path::absolute(file)
        .unwrap_or_else(|_| file.to_owned())
        .display()
        .to_string()
}
