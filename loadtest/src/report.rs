//! The run's report: report.json for machines, report.md for people, latency.svg to look at.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::schedule::OpenLoopCounts;
use crate::stats::Percentiles;

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub ingest: String,
    pub catalog: String,
    pub bureaus: Vec<String>,
    pub devices_per_bureau: u32,
    pub rate_per_s: f64,
    pub duration_s: f64,
    pub max_in_flight: usize,
    pub settle_timeout_s: f64,
    pub clip_seconds: u32,
    pub clip_bytes: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    #[serde(flatten)]
    pub arrivals: OpenLoopCounts,
    /// Uploads answered 201.
    pub uploaded: u64,
    /// Uploads answered otherwise or lost in transport.
    pub upload_errors: u64,
    pub catalogued: u64,
    pub failed: u64,
    /// Clips neither catalogued nor failed within the settle timeout.
    pub settle_timeouts: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// From the first arrival until the last upload answered.
    pub upload_phase_s: f64,
    pub offered_uploads_per_s: f64,
    pub uploads_per_s: f64,
    pub bytes_per_s: f64,
    /// Clips catalogued per second, from the first arrival to the last clip settled.
    pub catalogued_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_at: String,
    pub settings: Settings,
    pub counts: Counts,
    /// Due time of the arrival to the 201 receipt read in full.
    pub upload_latency: Option<Percentiles>,
    /// Due time of the arrival to the first poll seeing `catalogued` (polled every 200 ms).
    pub upload_to_catalogued: Option<Percentiles>,
    pub throughput: Throughput,
    /// Upload errors by kind: `http 503`, `transport: connect`, ...
    pub upload_errors: BTreeMap<String, u64>,
    /// Errors while polling clip state (retried until the settle timeout).
    pub poll_errors: BTreeMap<String, u64>,
    /// Why clips ended `failed`, as the catalogue gives it.
    pub failure_reasons: BTreeMap<String, u64>,
    pub total_s: f64,
}

fn cell(p: Option<&Percentiles>, f: impl Fn(&Percentiles) -> f64) -> String {
    p.map_or_else(|| "–".to_owned(), |p| format!("{:.1}", f(p)))
}

pub fn markdown(report: &Report) -> String {
    let s = &report.settings;
    let c = &report.counts;
    let t = &report.throughput;
    let mut md = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(md, "# Custodian load test, {}\n", report.started_at);
    let _ = writeln!(
        md,
        "{} bureau(s) × {} device(s), {:.2} uploads/s offered for {:.0} s (open model, at most {} in flight), {}-s clips ({} distinct, {} bytes on average); ingest {}, catalog {}.\n",
        s.bureaus.len(),
        s.devices_per_bureau,
        s.rate_per_s,
        s.duration_s,
        s.max_in_flight,
        s.clip_seconds,
        s.clip_bytes.len(),
        s.clip_bytes.iter().sum::<usize>() / s.clip_bytes.len().max(1),
        s.ingest,
        s.catalog
    );
    let _ = writeln!(md, "| scheduled | started | dropped | uploaded (201) | upload errors | catalogued | failed | settle timeouts |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        c.arrivals.scheduled,
        c.arrivals.started,
        c.arrivals.dropped,
        c.uploaded,
        c.upload_errors,
        c.catalogued,
        c.failed,
        c.settle_timeouts
    );
    let _ = writeln!(md, "| latency (ms) | n | p50 | p90 | p99 | max |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for (name, p) in [
        ("upload → 201 receipt", report.upload_latency.as_ref()),
        ("upload → catalogued", report.upload_to_catalogued.as_ref()),
    ] {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} |",
            p.map_or(0, |p| p.count),
            cell(p, |p| p.p50_ms),
            cell(p, |p| p.p90_ms),
            cell(p, |p| p.p99_ms),
            cell(p, |p| p.max_ms)
        );
    }
    let _ = writeln!(
        md,
        "\nThroughput: {:.2} uploads/s achieved of {:.2} offered, {:.1} KiB/s, {:.2} clips catalogued/s.\n",
        t.uploads_per_s,
        t.offered_uploads_per_s,
        t.bytes_per_s / 1024.0,
        t.catalogued_per_s
    );
    for (title, errors) in [
        ("Upload errors", &report.upload_errors),
        ("Poll errors", &report.poll_errors),
        ("Failure reasons", &report.failure_reasons),
    ] {
        if errors.is_empty() {
            let _ = writeln!(md, "{title}: none.\n");
        } else {
            let list: Vec<String> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            let _ = writeln!(md, "{title}: {}.\n", list.join(", "));
        }
    }
    md
}

pub fn write(dir: &Path, report: &Report, svg: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    for (name, text) in [
        ("report.json", json.as_str()),
        ("report.md", &markdown(report)),
        ("latency.svg", svg),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_shows_counts_percentiles_and_no_data_as_a_dash() {
        let report = Report {
            started_at: "2026-02-14T01:30:00+00:00".into(),
            settings: Settings {
                ingest: "http://127.0.0.1:8080".into(),
                catalog: "http://127.0.0.1:8080".into(),
                bureaus: vec!["b1".into(), "b2".into()],
                devices_per_bureau: 4,
                rate_per_s: 1.0,
                duration_s: 60.0,
                max_in_flight: 32,
                settle_timeout_s: 120.0,
                clip_seconds: 2,
                clip_bytes: vec![100, 300],
            },
            counts: Counts {
                arrivals: OpenLoopCounts {
                    scheduled: 60,
                    started: 58,
                    dropped: 2,
                },
                uploaded: 57,
                upload_errors: 1,
                catalogued: 0,
                failed: 0,
                settle_timeouts: 57,
            },
            upload_latency: Some(Percentiles {
                count: 57,
                p50_ms: 12.5,
                p90_ms: 20.0,
                p99_ms: 31.0,
                max_ms: 40.0,
            }),
            upload_to_catalogued: None,
            throughput: Throughput {
                upload_phase_s: 60.0,
                offered_uploads_per_s: 1.0,
                uploads_per_s: 0.95,
                bytes_per_s: 11_400.0,
                catalogued_per_s: 0.0,
            },
            upload_errors: [("http 503".to_owned(), 1)].into(),
            poll_errors: BTreeMap::new(),
            failure_reasons: BTreeMap::new(),
            total_s: 180.0,
        };
        let md = markdown(&report);
        assert!(md.contains("| 60 | 58 | 2 | 57 | 1 | 0 | 0 | 57 |"), "{md}");
        assert!(
            md.contains("| upload → 201 receipt | 57 | 12.5 | 20.0 | 31.0 | 40.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| upload → catalogued | 0 | – | – | – | – |"),
            "{md}"
        );
        assert!(md.contains("Upload errors: http 503: 1."), "{md}");
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["counts"]["dropped"], 2);
        assert!(json["upload_to_catalogued"].is_null());
    }
}
