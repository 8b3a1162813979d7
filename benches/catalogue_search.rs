//! Search over a PostgreSQL catalogue of 1,000,000 generated clips: p50 and p99 of typical
//! archive queries through the real adapter, and PostgreSQL's executed plan for each, to show
//! which index serves it. A fresh database is made and filled with SQL on the server itself.
//!     cargo bench --bench catalogue_search            (CLIPS=200000 for a quicker run)
//! Needs PostgreSQL on 127.0.0.1 (scripts/services.sh). Prints Markdown.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use custodian_core::{BureauId, ClipId};
use custodian_platform::catalogue::{BoundingBox, ClipFilter, ClipRepo, PostgresCatalogue};
use custodian_platform::testing::fresh_postgres_url;

const RUNS: usize = 200;

const FILL: &str = r#"
INSERT INTO bureaus (id, name, created_at) SELECT 'b' || b, '大队 ' || b, now() FROM generate_series(0, 9) b;
INSERT INTO clips (id, bureau_id, device_id, officer_id, recorded_at, original_name, case_ref, object_key, size_bytes,
                   sha256, state, state_changed_at, received_at, canonical_name, category, description, place, latitude,
                   longitude, important, classified_at, classified_by, upload_due_at, upload_hard_due_at, classify_due_at,
                   search_text)
SELECT
    -- UUIDv7-like: the first 48 bits are the recording time in milliseconds, so ids sort by time.
    (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || substr(md5(g::text), 13, 20))::uuid,
    'b' || (g % 10), 'DSJ-' || (g % 500), (10000 + g % 300)::text, t.at, 'clip-' || g || '.mp4', NULL, 'k/' || g, 100000000,
    repeat('a', 64), 'catalogued', t.at, t.at + interval '1 hour',
    'DSJ-' || (g % 500) || '_' || (10000 + g % 300) || '_' || to_char(t.at, 'YYYYMMDD_HH24MISS'),
    (ARRAY['行政检查','行政处罚','行政强制','调查取证','询问','现场勘验','送达','复查','其他'])[1 + g % 9],
    '检查 第' || g || '号 ' || (ARRAY['油罐区','仓库','加油站','化工厂','工地'])[1 + g % 5],
    NULL, 35 + (g % 1000) / 1000.0, 119 + (g % 997) / 500.0, g % 20 = 0,
    CASE WHEN g % 4 = 0 THEN NULL ELSE t.at + interval '1 day' END, 'bench',
    t.at + interval '24 hours', t.at + interval '5 days', t.at + interval '3 days',
    lower('clip-' || g || '.mp4 检查 第' || g || '号 ' || (ARRAY['油罐区','仓库','加油站','化工厂','工地'])[1 + g % 5])
FROM generate_series(1, $1) g, LATERAL (SELECT timestamptz '2025-01-01 00:00:00+08' + g * interval '40 seconds' AS at) t;
"#;

/// Makes the filter of one query run from its run number.
type FilterFor = Box<dyn Fn(usize) -> ClipFilter>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let clips: i64 = std::env::var("CLIPS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1_000_000);
    let url = fresh_postgres_url().await;
    let catalogue = PostgresCatalogue::connect(&url, 4).await?;
    let started = Instant::now();
    for statement in FILL.split(";\n").filter(|s| !s.trim().is_empty()) {
        sqlx::query(statement)
            .bind(clips)
            .execute(catalogue.pool())
            .await?;
    }
    sqlx::query("ANALYZE clips")
        .execute(catalogue.pool())
        .await?;
    eprintln!(
        "filled {clips} clips in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let bureau = BureauId::parse("b3")?;
    let day = |d: i64| Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap() + Duration::days(d);
    let middle: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM clips WHERE bureau_id = 'b3' ORDER BY id LIMIT 1 OFFSET 50000",
    )
    .fetch_one(catalogue.pool())
    .await?;
    let queries: Vec<(&str, FilterFor)> = vec![
        ("newest of a bureau", Box::new(|_| ClipFilter::default())),
        (
            "deep page (cursor)",
            Box::new(move |_| ClipFilter {
                before: Some(ClipId::from_uuid(middle)),
                ..Default::default()
            }),
        ),
        (
            "device, one week",
            Box::new(move |i| ClipFilter {
                device: Some(format!("DSJ-{}", 3 + 10 * (i % 50))),
                recorded_from: Some(day(i as i64 % 200)),
                recorded_to: Some(day(i as i64 % 200 + 7)),
                ..Default::default()
            }),
        ),
        (
            "officer, one month",
            Box::new(move |i| ClipFilter {
                officer: Some(format!("{}", 10003 + 10 * (i % 30))),
                recorded_from: Some(day(i as i64 % 200)),
                recorded_to: Some(day(i as i64 % 200 + 30)),
                ..Default::default()
            }),
        ),
        (
            "category, one day",
            Box::new(move |i| ClipFilter {
                category: Some(["行政检查", "行政处罚", "现场勘验"][i % 3].into()),
                recorded_from: Some(day(i as i64 % 300)),
                recorded_to: Some(day(i as i64 % 300 + 1)),
                ..Default::default()
            }),
        ),
        (
            "text (file or description)",
            Box::new(|i| ClipFilter {
                text: Some(format!("第{}号", 123_403 + 10 * i)),
                ..Default::default()
            }),
        ),
        (
            "place (bounding box)",
            Box::new(|i| {
                let lat = 35.1 + (i % 8) as f64 / 10.0;
                ClipFilter {
                    within: Some(BoundingBox {
                        min_lat: lat,
                        min_lon: 119.5,
                        max_lat: lat + 0.01,
                        max_lon: 120.5,
                    }),
                    ..Default::default()
                }
            }),
        ),
        (
            "classification overdue",
            Box::new(move |_| ClipFilter {
                classification_overdue_at: Some(day(400)),
                ..Default::default()
            }),
        ),
    ];

    println!("Catalogue search on PostgreSQL, {clips} clips in 10 bureaus, page of 50, {RUNS} runs each:\n");
    println!("| query | p50 (ms) | p99 (ms) | index used |");
    println!("|---|---|---|---|");
    let mut plans = String::new();
    for (name, make) in &queries {
        let mut times = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let filter = make(i);
            let started = Instant::now();
            let page = catalogue.list_clips(&bureau, &filter, 51).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(page);
        }
        times.sort_by(f64::total_cmp);
        let plan = catalogue.explain_list(&bureau, &make(7), 51).await?;
        // "Index Scan using NAME on clips" or "Bitmap Index Scan on NAME".
        let indexes: Vec<&str> = plan
            .lines()
            .filter(|l| l.contains("Index"))
            .filter_map(|l| {
                l.split(" using ")
                    .nth(1)
                    .or_else(|| l.split("Index Scan on ").nth(1))
            })
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        let used = if indexes.is_empty() {
            "none (sequential scan)".to_owned()
        } else {
            indexes.join(", ")
        };
        println!(
            "| {name} | {:.2} | {:.2} | {used} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
        plans.push_str(&format!("\n### {name}\n```\n{plan}\n```\n"));
    }
    println!("\n<details><summary>Plans (EXPLAIN ANALYZE)</summary>\n{plans}\n</details>");
    Ok(())
}
