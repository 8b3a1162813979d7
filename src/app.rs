//! Starting and stopping Custodian in either mode.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use custodian_catalog::Catalog;
use custodian_core::ProcessingStep;
use custodian_custody::{Custody, PartyCopies};
use custodian_fingerprinter::Fingerprinter;
use custodian_ingest::Ingest;
use custodian_platform::blob::{BlobStore, LocalBlobStore, S3BlobStore};
use custodian_platform::bus::{register_media_failures, JobMetrics};
use custodian_platform::bus::{Bus, InProcessBus, NatsBus};
use custodian_platform::catalogue::{self, Catalogue};
use custodian_platform::clock::{Clock, SystemClock};
use custodian_platform::config::MediaJobArgs;
use custodian_platform::http::{ops_router, serve_tls, track, Dependencies, HttpMetrics};
use custodian_platform::Ports;
use custodian_retention::Retention;
use custodian_transcoder::{Transcoder, TranscoderConfig};
use prometheus::{IntGaugeVec, Opts, Registry};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::{Role, ServeArgs, ServerArgs, StandaloneArgs};

/// A started instance: its address, and the handle to stop it.
pub struct RunningApp {
    pub addr: SocketAddr,
    /// Where /metrics and the probes are served, when --ops-listen moved them off `addr`.
    pub ops_addr: Option<SocketAddr>,
    pub ports: Ports,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    grace: Duration,
}

impl RunningApp {
    /// Stops taking work, lets in-flight work finish within the grace period, and returns.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(self.grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(grace = ?self.grace, "work still in flight at the end of the grace period was abandoned; the bus will redeliver it");
        }
    }

    /// Runs until SIGTERM or Ctrl-C, then stops. A second Ctrl-C exits at once.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await?;
        tracing::info!("shutting down");
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("second interrupt, exiting now");
                std::process::exit(130);
            }
        });
        self.stop().await;
        Ok(())
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        _ = terminate.recv() => {},
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
    }
    Ok(())
}

fn build_info(registry: &Registry) -> anyhow::Result<()> {
    let info = IntGaugeVec::new(
        Opts::new(
            "custodian_build_info",
            "Always 1; labels say which build runs",
        ),
        &["version"],
    )?;
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(info))?;
    Ok(())
}

/// Where a process serves the web console.
enum ConsoleAt {
    /// At `/`, speaking to this process's own API in-process (the standalone server).
    Root,
}

/// Everything one process serves, on one listener.
async fn start(
    ports: Ports,
    server: &ServerArgs,
    roles: Vec<(Router, RoleTask)>,
    dependencies: Dependencies,
    openapi: utoipa::openapi::OpenApi,
    console: Option<ConsoleAt>,
) -> anyhow::Result<RunningApp> {
    server.limits.validate()?;
    let tls = server.tls.server_config()?;
    build_info(&ports.registry)?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let http_metrics = HttpMetrics::register(&ports.registry)?;
    let mut api = Router::new();
    for (router, task) in roles {
        api = api.merge(router);
        tasks.spawn(task(shutdown.clone()));
    }
    let ops = ops_router(ports.registry.clone(), dependencies, shutdown.clone());
    let mut api = api.route(
        "/openapi.json",
        axum::routing::get(move || async move { axum::Json(openapi) }),
    );
    if let Some(ConsoleAt::Root) = console {
        // The console's requests go through the API router as it stands here, so they meet
        // the same authentication, scoping and audit as any client's.
        let in_process = Arc::new(custodian_console::InProcessApi::new(api.clone()));
        let config = custodian_console::ConsoleConfig {
            secure_cookies: tls.is_some(),
        };
        api = api.merge(custodian_console::Console::new(in_process, config).router());
    }
    // With an ops address the metrics (which name the bureaus) and probes live there alone.
    let (router, ops_addr) = match server.ops_listen {
        None => (api.merge(ops), None),
        Some(ops_listen) => {
            let listener = tokio::net::TcpListener::bind(ops_listen)
                .await
                .with_context(|| format!("listening on {ops_listen} (--ops-listen)"))?;
            let ops_addr = listener.local_addr()?;
            let (ops_shutdown, limits) = (shutdown.clone(), server.limits.clone());
            tasks.spawn(async move {
                if let Err(e) = serve_tls(listener, ops, ops_shutdown, &limits, None).await {
                    tracing::error!(error = %e, "ops http server failed");
                }
            });
            tracing::info!(addr = %ops_addr, "metrics and probes listening");
            (api, Some(ops_addr))
        }
    };
    let router = router.layer(axum::middleware::from_fn_with_state(http_metrics, track));
    let listen = server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let server_shutdown = shutdown.clone();
    let limits = server.limits.clone();
    tasks.spawn(async move {
        if let Err(e) = serve_tls(listener, router, server_shutdown, &limits, tls).await {
            tracing::error!(error = %e, "http server failed");
        }
    });
    tracing::info!(%addr, "listening");
    Ok(RunningApp {
        addr,
        ops_addr,
        ports,
        shutdown,
        tasks,
        grace: server.shutdown_grace,
    })
}

/// Titles the API description of what this process serves.
fn describe(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    openapi.info = utoipa::openapi::InfoBuilder::new()
        .title("Custodian")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Body-camera footage custody: ingest, catalogue and the regulation's deadlines. \
             Every /v1 route needs a bureau's bearer token, except logging in and a party's \
             copy link (the link is the credential). A `region-admin` token reads another \
             bureau by naming it in the `Custodian-Bureau` request header (read only; each \
             request is audited in that bureau); any other role naming a bureau not its own \
             is refused with 403.",
        ))
        .build();
    openapi
}

type RoleTask = Box<
    dyn FnOnce(CancellationToken) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;

fn ingest_role(ingest: Arc<Ingest>) -> (Router, RoleTask) {
    let router = ingest.router();
    (
        router,
        Box::new(move |shutdown| Box::pin(ingest.run(shutdown))),
    )
}

fn retention_role(retention: Arc<Retention>) -> (Router, RoleTask) {
    let router = retention.router();
    (
        router,
        Box::new(move |shutdown| Box::pin(retention.run(shutdown))),
    )
}

fn custody_role(custody: Arc<Custody>) -> (Router, RoleTask) {
    let router = custody.router();
    (
        router,
        Box::new(move |shutdown| Box::pin(custody.run(shutdown))),
    )
}

fn transcoder_role(transcoder: Arc<Transcoder>) -> (Router, RoleTask) {
    (
        Router::new(),
        Box::new(move |shutdown| Box::pin(transcoder.run(shutdown))),
    )
}

fn fingerprinter_role(fingerprinter: Arc<Fingerprinter>) -> (Router, RoleTask) {
    (
        Router::new(),
        Box::new(move |shutdown| Box::pin(fingerprinter.run(shutdown))),
    )
}

/// The media workers a process runs, for the steps it is asked to do. Both share the
/// process's job metrics and one media failure counter.
fn media_roles(
    ports: &Ports,
    steps: &[ProcessingStep],
    transcoder: &TranscoderConfig,
    media: &MediaJobArgs,
    jobs: &JobMetrics,
) -> anyhow::Result<Vec<(Router, RoleTask)>> {
    let mut roles = Vec::new();
    if steps.is_empty() {
        return Ok(roles);
    }
    let failures = register_media_failures(&ports.registry)?;
    if steps.contains(&ProcessingStep::Transcode) {
        roles.push(transcoder_role(Transcoder::new(
            ports.clone(),
            transcoder.clone(),
            media.clone(),
            jobs.clone(),
            failures.clone(),
        )?));
    }
    if steps.contains(&ProcessingStep::Fingerprint) {
        roles.push(fingerprinter_role(Fingerprinter::new(
            ports.clone(),
            media.clone(),
            jobs.clone(),
            failures,
        )?));
    }
    Ok(roles)
}

/// Party copies are watermarked by the transcoder: custody approves copies only where the
/// deployment transcodes (standalone: in this process; a region: `serve transcoder`).
fn party_copies(steps: &[ProcessingStep]) -> PartyCopies {
    if steps.contains(&ProcessingStep::Transcode) {
        PartyCopies::Made
    } else {
        PartyCopies::Unavailable
    }
}

fn catalog_role(catalog: Arc<Catalog>) -> (Router, RoleTask) {
    let router = catalog.router();
    (
        router,
        Box::new(move |shutdown| Box::pin(catalog.run(shutdown))),
    )
}

/// The standalone server: every role, on a data directory.
pub async fn start_standalone(args: &StandaloneArgs) -> anyhow::Result<RunningApp> {
    start_standalone_with_clock(args, Arc::new(SystemClock)).await
}

/// The standalone server on a given clock (tests move time instead of waiting for it).
pub async fn start_standalone_with_clock(
    args: &StandaloneArgs,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<RunningApp> {
    args.ingest.validate()?;
    args.catalog.validate()?;
    let secret_roles = args.access.secret_roles()?;
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating data directory {}", args.data.display()))?;
    let mut media = args.media.clone();
    if media.work_dir.is_none() {
        let work = args.data.join("work");
        std::fs::create_dir_all(&work)
            .with_context(|| format!("creating work directory {}", work.display()))?;
        media.work_dir = Some(work);
    }
    let blob: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::open(args.data.join("blobs")).await?);
    let catalogue = open_standalone_catalogue(&args.data).await?;
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let ports = Ports {
        blob: blob.clone(),
        bus,
        catalogue: catalogue.clone(),
        clock,
        registry: Registry::new(),
        secret_roles,
    };
    let archive: Arc<dyn BlobStore> =
        Arc::new(LocalBlobStore::open_with_manifest(args.data.join("archive")).await?);
    let jobs = JobMetrics::register(&ports.registry)?;
    let mut roles = vec![
        ingest_role(Ingest::new(ports.clone(), args.ingest.clone())?),
        catalog_role(Catalog::new(
            ports.clone(),
            args.catalog.clone(),
            jobs.clone(),
        )?),
        retention_role(Retention::new(
            ports.clone(),
            archive,
            args.retention.clone(),
        )?),
        custody_role(Custody::with_party_copies(
            ports.clone(),
            standalone_key(args)?,
            &args.custody,
            party_copies(&args.catalog.required_steps()),
        )?),
    ];
    roles.extend(media_roles(
        &ports,
        &args.catalog.required_steps(),
        &args.transcoder,
        &media,
        &jobs,
    )?);
    let dependencies = Dependencies {
        blob: Some(blob),
        bus: None,
        catalogue: Some(catalogue),
    };
    tracing::info!(data = %args.data.display(), "standalone: footage on local disk, catalogue in SQLite");
    let mut openapi = custodian_ingest::openapi();
    openapi.merge(custodian_catalog::openapi());
    openapi.merge(custodian_retention::openapi());
    openapi.merge(custodian_custody::openapi());
    let console = args.console.then_some(ConsoleAt::Root);
    start(
        ports,
        &args.server,
        roles,
        dependencies,
        describe(openapi),
        console,
    )
    .await
}

pub async fn open_standalone_catalogue(
    data: &std::path::Path,
) -> anyhow::Result<Arc<dyn Catalogue>> {
    let url = format!("sqlite:{}", data.join("catalogue.db").display());
    Ok(catalogue::connect(&url, 4).await?)
}

/// The standalone checkpoint key: the configured file, or DATA/audit-signing.key (made on
/// first start).
fn standalone_key(args: &StandaloneArgs) -> anyhow::Result<ed25519_dalek::SigningKey> {
    Ok(match &args.custody.audit_key_file {
        Some(path) => custodian_custody::read_key(path)?,
        None => custodian_custody::read_or_create_key(&args.data.join(STANDALONE_KEY))?,
    })
}

/// Where the standalone server keeps its checkpoint key.
pub const STANDALONE_KEY: &str = "audit-signing.key";

/// The archive tier of a distributed deployment: its own bucket on the same S3 endpoint.
async fn archive_store(args: &ServeArgs) -> anyhow::Result<Arc<dyn BlobStore>> {
    let bucket = args.archive_bucket.clone().ok_or_else(|| {
        anyhow::anyhow!("archive-bucket must be set for serve retention (CUSTODIAN_ARCHIVE_BUCKET)")
    })?;
    let archive_args = custodian_platform::config::S3Args {
        s3_bucket: bucket,
        ..args.s3.clone()
    };
    let settings = archive_args.validate().map_err(|e| {
        custodian_platform::config::ConfigError::new(
            "archive-bucket",
            &archive_args.s3_bucket,
            e.problem,
        )
    })?;
    let archive = S3BlobStore::new(&settings);
    if args.s3.s3_create_bucket {
        archive
            .ensure_bucket()
            .await
            .context("creating the archive bucket")?;
    }
    Ok(Arc::new(archive))
}

/// One role of a distributed deployment.
pub async fn start_role(args: &ServeArgs) -> anyhow::Result<RunningApp> {
    args.database.validate()?;
    let s3 = args.s3.validate()?;
    let nats = args.nats.validate()?;
    args.ingest.validate()?;
    args.catalog.validate()?;
    let secret_roles = args.access.secret_roles()?;
    let catalogue = catalogue::connect_with(
        &args.database.database_url,
        args.database.database_max_connections,
        args.database.schema(),
    )
    .await
    .context("opening the catalogue (--database-url)")?;
    let store = S3BlobStore::new(&s3);
    if args.s3.s3_create_bucket {
        store
            .ensure_bucket()
            .await
            .context("creating the bucket (--s3-create-bucket)")?;
    }
    let blob: Arc<dyn BlobStore> = Arc::new(store);
    let bus: Arc<dyn Bus> = Arc::new(
        NatsBus::connect(&nats)
            .await
            .context("connecting to NATS (--nats-url)")?,
    );
    let ports = Ports {
        blob: blob.clone(),
        bus: bus.clone(),
        catalogue: catalogue.clone(),
        clock: Arc::new(SystemClock),
        registry: Registry::new(),
        secret_roles,
    };
    let (roles, openapi) = match args.role {
        Role::Ingest => (
            vec![ingest_role(Ingest::new(
                ports.clone(),
                args.ingest.clone(),
            )?)],
            custodian_ingest::openapi(),
        ),
        Role::Catalog => (
            vec![catalog_role(Catalog::new(
                ports.clone(),
                args.catalog.clone(),
                JobMetrics::register(&ports.registry)?,
            )?)],
            custodian_catalog::openapi(),
        ),
        Role::Custody => {
            let path = args.custody.audit_key_file.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "audit-key-file must be set for serve custody (CUSTODIAN_AUDIT_KEY_FILE)"
                )
            })?;
            let key = custodian_custody::read_key(&path)?;
            (
                vec![custody_role(Custody::with_party_copies(
                    ports.clone(),
                    key,
                    &args.custody,
                    party_copies(&args.catalog.required_steps()),
                )?)],
                custodian_custody::openapi(),
            )
        }
        Role::Transcoder | Role::Fingerprinter => {
            let step = if args.role == Role::Transcoder {
                ProcessingStep::Transcode
            } else {
                ProcessingStep::Fingerprint
            };
            let jobs = JobMetrics::register(&ports.registry)?;
            (
                media_roles(&ports, &[step], &args.transcoder, &args.media, &jobs)?,
                utoipa::openapi::OpenApi::default(),
            )
        }
        Role::Retention => {
            let archive = archive_store(args).await?;
            (
                vec![retention_role(Retention::new(
                    ports.clone(),
                    archive,
                    args.retention.clone(),
                )?)],
                custodian_retention::openapi(),
            )
        }
    };
    let dependencies = Dependencies {
        blob: Some(blob),
        bus: Some(bus),
        catalogue: Some(catalogue),
    };
    tracing::info!(role = ?args.role, "serving one role on S3, NATS and the catalogue database");
    start(
        ports,
        &args.server,
        roles,
        dependencies,
        describe(openapi),
        None,
    )
    .await
}
