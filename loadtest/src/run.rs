//! The run: uploads on the open-model clock, each stored clip polled until it settles, and the
//! figures gathered into the report.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::clips::Clip;
use crate::config::Args;
use crate::report::{Counts, Report, Settings, Throughput};
use crate::schedule::{arrivals_within, run_open_loop};
use crate::stats;

const POLL_EVERY: Duration = Duration::from_millis(200);

/// What the uploads and polls record, behind one lock: a few hundred updates a second at
/// most, so contention is not worth a lock-free design.
struct Recorded {
    upload: Histogram<u64>,
    settle: Histogram<u64>,
    uploaded: u64,
    bytes: u64,
    upload_errors: BTreeMap<String, u64>,
    poll_errors: BTreeMap<String, u64>,
    failure_reasons: BTreeMap<String, u64>,
    catalogued: u64,
    failed: u64,
    timeouts: u64,
    last_settled: Option<Instant>,
    /// The clip id of every 201 receipt, in the order answered.
    receipts: Vec<String>,
}

/// Counters the progress display reads without taking the lock.
#[derive(Default)]
struct Live {
    scheduled: AtomicU64,
    dropped: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    settled: AtomicU64,
    settling_phase: AtomicBool,
}

struct Device {
    token: String,
    id: String,
    officer: String,
}

struct Ctx {
    http: reqwest::Client,
    ingest: String,
    catalog: String,
    clips: Vec<Clip>,
    devices: Vec<Device>,
    settle_timeout: Duration,
    recorded: Mutex<Recorded>,
    live: Live,
    /// Settle polls outlive the upload that started them, and must not hold its slot.
    settling: Mutex<JoinSet<()>>,
}

impl Ctx {
    fn recorded(&self) -> MutexGuard<'_, Recorded> {
        // A panic elsewhere while holding the lock leaves counters that are still usable.
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn transport_kind(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else if error.is_request() {
        "request"
    } else {
        "other"
    };
    format!("transport: {kind}")
}

fn count(map: &mut BTreeMap<String, u64>, kind: String) {
    *map.entry(kind).or_default() += 1;
}

/// Device `d` of bureau `b`: ids a collection station would send, distinct across bureaus.
fn devices(tokens: &BTreeMap<String, String>, per_bureau: u32) -> Vec<Device> {
    let mut devices = Vec::new();
    for (b, token) in tokens.values().enumerate() {
        for d in 0..per_bureau {
            devices.push(Device {
                token: token.clone(),
                id: format!("LT{:02}-{:04}", b + 1, d + 1),
                officer: format!("{:02}{:04}", (b + 1) % 100, d + 1),
            });
        }
    }
    devices
}

async fn upload(ctx: Arc<Ctx>, n: u64, due: Instant) {
    let device = &ctx.devices[(n % ctx.devices.len() as u64) as usize];
    let clip = &ctx.clips[(n % ctx.clips.len() as u64) as usize];
    // Body cameras record local time; China Standard Time has no daylight saving.
    let china = chrono::FixedOffset::east_opt(8 * 3600);
    let now = chrono::Utc::now();
    let local = china.map_or_else(|| now.fixed_offset(), |tz| now.with_timezone(&tz));
    let recorded_at = local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string();
    let file_name = format!(
        "{}_{}_{}_{n}.mp4",
        device.id,
        device.officer,
        local.format("%Y%m%d_%H%M%S")
    );
    let sent = ctx
        .http
        .put(format!("{}/v1/uploads", ctx.ingest))
        .bearer_auth(&device.token)
        .header("Content-Digest", &clip.content_digest)
        .query(&[
            ("device", device.id.as_str()),
            ("officer", device.officer.as_str()),
            ("recorded_at", recorded_at.as_str()),
            ("file_name", file_name.as_str()),
        ])
        .body(clip.body.clone())
        .send()
        .await;
    let outcome = match sent {
        Ok(response) if response.status() == reqwest::StatusCode::CREATED => {
            match response.json::<serde_json::Value>().await {
                Ok(receipt) => match receipt["clip_id"].as_str() {
                    Some(id) => Ok(id.to_owned()),
                    None => Err("receipt without clip_id".to_owned()),
                },
                Err(e) => Err(transport_kind(&e)),
            }
        }
        Ok(response) => Err(format!("http {}", response.status().as_u16())),
        Err(e) => Err(transport_kind(&e)),
    };
    let answered = Instant::now();
    match outcome {
        Ok(clip_id) => {
            {
                let mut r = ctx.recorded();
                stats::record(&mut r.upload, answered - due);
                r.uploaded += 1;
                r.bytes += clip.body.len() as u64;
                r.receipts.push(clip_id.clone());
            }
            ctx.live.ok.fetch_add(1, Relaxed);
            let poll = settle(Arc::clone(&ctx), n, clip_id, due, answered);
            ctx.settling
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .spawn(poll);
        }
        Err(kind) => {
            count(&mut ctx.recorded().upload_errors, kind);
            ctx.live.errors.fetch_add(1, Relaxed);
        }
    }
}

/// Polls the clip until it is catalogued or failed, or the settle timeout (counted from the
/// 201, so slow uploads do not eat into the pipeline's allowance) runs out.
async fn settle(ctx: Arc<Ctx>, n: u64, clip_id: String, due: Instant, answered: Instant) {
    let device = &ctx.devices[(n % ctx.devices.len() as u64) as usize];
    let deadline = answered + ctx.settle_timeout;
    let url = format!("{}/v1/clips/{clip_id}", ctx.catalog);
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let polled = ctx.http.get(&url).bearer_auth(&device.token).send().await;
        let state = match polled {
            Ok(response) if response.status().is_success() => {
                match response.json::<serde_json::Value>().await {
                    Ok(record) => Ok((
                        record["state"].as_str().unwrap_or_default().to_owned(),
                        record["failure_reason"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )),
                    Err(e) => Err(transport_kind(&e)),
                }
            }
            Ok(response) => Err(format!("http {}", response.status().as_u16())),
            Err(e) => Err(transport_kind(&e)),
        };
        let now = Instant::now();
        let mut r = ctx.recorded();
        match state {
            Ok((state, _)) if state == "catalogued" => {
                stats::record(&mut r.settle, now - due);
                r.catalogued += 1;
            }
            Ok((state, reason)) if state == "failed" => {
                r.failed += 1;
                // Reasons name the clip's problem, not the clip, so they group well.
                let reason: String = reason.chars().take(160).collect();
                count(&mut r.failure_reasons, reason);
            }
            Ok(_) if now < deadline => continue,
            Err(kind) if now < deadline => {
                count(&mut r.poll_errors, kind);
                continue;
            }
            _ => r.timeouts += 1,
        }
        r.last_settled = Some(now);
        ctx.live.settled.fetch_add(1, Relaxed);
        return;
    }
}

/// Shows progress until `done` is set: a bar on a terminal, a line every 5 s otherwise (CI
/// logs would otherwise fill with carriage returns).
fn progress(
    ctx: Arc<Ctx>,
    total: u64,
    plain: bool,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let bar = (!plain && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} arrivals  {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    tokio::spawn(async move {
        let every = if bar.is_some() {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        let started = Instant::now();
        loop {
            let l = &ctx.live;
            let ok = l.ok.load(Relaxed);
            let phase = if l.settling_phase.load(Relaxed) {
                "settling"
            } else {
                "uploading"
            };
            let msg = format!(
                "{phase}: ok {ok} errors {} dropped {} settled {}/{ok}",
                l.errors.load(Relaxed),
                l.dropped.load(Relaxed),
                l.settled.load(Relaxed),
            );
            let finished = done.load(Relaxed);
            match &bar {
                Some(bar) => {
                    bar.set_position(l.scheduled.load(Relaxed));
                    bar.set_message(msg);
                    if finished {
                        bar.finish();
                    }
                }
                None => eprintln!(
                    "[{:>6.1}s] {}/{total} arrivals, {msg}",
                    started.elapsed().as_secs_f64(),
                    l.scheduled.load(Relaxed)
                ),
            }
            if finished {
                return;
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Runs the load test described by `args` with `clips` and writes the report.
pub async fn run(
    args: &Args,
    tokens: BTreeMap<String, String>,
    clips: Vec<Clip>,
) -> anyhow::Result<Report> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let settings = Settings {
        ingest: args.ingest.clone(),
        catalog: args.catalog.clone(),
        bureaus: tokens.keys().cloned().collect(),
        devices_per_bureau: args.devices_per_bureau,
        rate_per_s: args.rate,
        duration_s: args.duration.as_secs_f64(),
        max_in_flight: args.max_in_flight,
        settle_timeout_s: args.settle_timeout.as_secs_f64(),
        clip_seconds: args.clip_seconds,
        clip_bytes: clips.iter().map(|c| c.body.len()).collect(),
    };
    let ctx = Arc::new(Ctx {
        http: crate::config::tls(
            args,
            reqwest::Client::builder()
                // A stuck request must end in an error we count, not hang the run.
                .timeout(Duration::from_secs(300))
                .connect_timeout(Duration::from_secs(10)),
        )?
        .build()?,
        ingest: args.ingest.trim_end_matches('/').to_owned(),
        catalog: args.catalog.trim_end_matches('/').to_owned(),
        clips,
        devices: devices(&tokens, args.devices_per_bureau),
        settle_timeout: args.settle_timeout,
        recorded: Mutex::new(Recorded {
            upload: stats::new_histogram()?,
            settle: stats::new_histogram()?,
            uploaded: 0,
            bytes: 0,
            upload_errors: BTreeMap::new(),
            poll_errors: BTreeMap::new(),
            failure_reasons: BTreeMap::new(),
            catalogued: 0,
            failed: 0,
            timeouts: 0,
            last_settled: None,
            receipts: Vec::new(),
        }),
        live: Live::default(),
        settling: Mutex::new(JoinSet::new()),
    });

    let done = Arc::new(AtomicBool::new(false));
    let shown = progress(
        Arc::clone(&ctx),
        arrivals_within(args.duration, args.rate),
        args.plain,
        Arc::clone(&done),
    );
    let start = Instant::now();
    let arrivals = run_open_loop(
        args.rate,
        args.duration,
        args.max_in_flight,
        |n, due| upload(Arc::clone(&ctx), n, due),
        |started| {
            ctx.live.scheduled.fetch_add(1, Relaxed);
            if !started {
                ctx.live.dropped.fetch_add(1, Relaxed);
            }
        },
    )
    .await;
    let upload_phase = start.elapsed();
    ctx.live.settling_phase.store(true, Relaxed);
    // Every upload has answered, so no more polls are added: take them all and wait.
    let mut settling = std::mem::take(&mut *ctx.settling.lock().unwrap_or_else(|e| e.into_inner()));
    while settling.join_next().await.is_some() {}
    done.store(true, Relaxed);
    let _ = shown.await;

    let r = ctx.recorded();
    // Over the arrival window, or longer if the last uploads overran it: dividing by the time
    // to the last answer alone would credit the run with more than it was offered.
    let phase_s = upload_phase.max(args.duration).as_secs_f64().max(1e-9);
    let settled_s = r
        .last_settled
        .map_or(phase_s, |at| (at - start).as_secs_f64().max(1e-9));
    let report = Report {
        started_at,
        settings,
        counts: Counts {
            arrivals,
            uploaded: r.uploaded,
            upload_errors: r.upload_errors.values().sum(),
            catalogued: r.catalogued,
            failed: r.failed,
            settle_timeouts: r.timeouts,
        },
        upload_latency: stats::percentiles(&r.upload),
        upload_to_catalogued: stats::percentiles(&r.settle),
        throughput: Throughput {
            upload_phase_s: upload_phase.as_secs_f64(),
            offered_uploads_per_s: args.rate,
            uploads_per_s: r.uploaded as f64 / phase_s,
            bytes_per_s: r.bytes as f64 / phase_s,
            catalogued_per_s: r.catalogued as f64 / settled_s,
        },
        upload_errors: r.upload_errors.clone(),
        poll_errors: r.poll_errors.clone(),
        failure_reasons: r.failure_reasons.clone(),
        total_s: start.elapsed().as_secs_f64(),
    };
    let receipts: String = r.receipts.iter().map(|id| format!("{id}\n")).collect();
    let upload_curve = stats::percentile_curve(&r.upload);
    let settle_curve = stats::percentile_curve(&r.settle);
    drop(r);
    let svg = crate::svg::percentile_plot(
        &format!(
            "Custodian load test: {:.2} uploads/s for {:.0} s",
            args.rate,
            args.duration.as_secs_f64()
        ),
        &[
            crate::svg::Series {
                name: "upload → 201",
                colour: "#1f77b4",
                points: &upload_curve,
            },
            crate::svg::Series {
                name: "upload → catalogued",
                colour: "#d62728",
                points: &settle_curve,
            },
        ],
    );
    crate::report::write(&args.out, &report, &svg)?;
    // For checks against the catalogue and the store afterwards (scripts/soak.sh).
    let path = args.out.join("receipts.txt");
    std::fs::write(&path, receipts).with_context(|| format!("writing {}", path.display()))?;
    Ok(report)
}
