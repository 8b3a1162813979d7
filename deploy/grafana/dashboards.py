#!/usr/bin/env python3
"""Writes Custodian's Grafana dashboards (deploy/grafana/dashboards/*.json) from the panel
lists below. Edit here and run `python3 deploy/grafana/dashboards.py`; tests/dashboards.rs
evaluates every query of the written files against a real Prometheus scraping a real run.

Queries use only metrics the code exports, `$__rate_interval`, and the `bureau` variable.
"""
import json
import pathlib

DS = {"type": "prometheus", "uid": "prometheus"}
RATE = "$__rate_interval"


def panel(title, queries, kind="timeseries", unit=None, description=None, w=12, h=8):
    """queries: list of (expr, legend)."""
    p = {
        "type": kind,
        "title": title,
        "datasource": DS,
        "targets": [
            {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(queries)
        ],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {},
        "_w": w,
        "_h": h,
    }
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    if description:
        p["description"] = description
    if kind == "table":
        for t in p["targets"]:
            t["instant"] = True
            t["format"] = "table"
    if kind == "stat":
        for t in p["targets"]:
            t["instant"] = True
    return p


def bureau_variable():
    return {
        "name": "bureau",
        "label": "Bureau",
        "type": "query",
        "datasource": DS,
        "query": {"query": "label_values(custodian_deadlines_overdue, bureau)", "refId": "bureau"},
        "definition": "label_values(custodian_deadlines_overdue, bureau)",
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard(uid, title, description, panels, variables=()):
    x = y = 0
    row_h = 0
    laid = []
    for i, p in enumerate(panels, start=1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24:
            x, y = 0, y + row_h
            row_h = 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        row_h = max(row_h, h)
        laid.append(p)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["custodian"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["custodian"], "asDropdown": True, "title": "Custodian"}],
        "panels": laid,
    }


overview = dashboard(
    "custodian-overview",
    "Custodian / Overview",
    "Every role at a glance: who is up, what arrives, what waits, what failed.",
    [
        panel("Processes up, by job", [('sum by (job) (up{job=~"custodian.*"})', "{{job}}")], "stat", w=8, h=5,
              description="Scrape targets answering, per role (job)."),
        panel("Versions running", [("count by (version) (custodian_build_info)", "{{version}}")], "stat", w=8, h=5),
        panel("Workers per consumer", [("count by (consumer) (custodian_queue_pending_messages)", "{{consumer}}")], "stat", w=8, h=5,
              description="Processes consuming each queue (each samples the queue lag)."),
        panel("Uploads by outcome", [(f"sum by (outcome) (rate(custodian_uploads_total[{RATE}]))", "{{outcome}}")], unit="reqps"),
        panel("Queue lag", [("max by (consumer) (custodian_queue_pending_messages)", "{{consumer}}")], unit="short",
              description="Messages not yet delivered or not yet acknowledged, per consumer (JetStream num_pending + num_ack_pending)."),
        panel("Jobs by consumer and outcome", [(f"sum by (consumer, outcome) (rate(custodian_jobs_total[{RATE}]))", "{{consumer}} {{outcome}}")], unit="ops"),
        panel("Dead letters and redeliveries (1h)", [
            ("sum by (consumer) (increase(custodian_dead_letters_total[1h]))", "dead letters {{consumer}}"),
            ("sum by (consumer) (increase(custodian_redeliveries_total[1h]))", "redeliveries {{consumer}}"),
        ], unit="short"),
        panel("Clips catalogued", [(f"sum(rate(custodian_clips_catalogued_total[{RATE}]))", "catalogued")], unit="ops"),
        panel("HTTP requests by status", [(f"sum by (status) (rate(custodian_http_requests_total[{RATE}]))", "{{status}}")], unit="reqps"),
    ],
)

ingest = dashboard(
    "custodian-ingest",
    "Custodian / Ingest",
    "Uploads from collection stations: outcomes, throughput, latency.",
    [
        panel("Uploads by outcome", [(f"sum by (outcome) (rate(custodian_uploads_total[{RATE}]))", "{{outcome}}")], unit="reqps"),
        panel("Upload throughput", [(f"sum(rate(custodian_upload_bytes_total[{RATE}]))", "bytes stored")], unit="Bps"),
        panel("Upload duration", [
            (f"histogram_quantile(0.5, sum by (le) (rate(custodian_upload_duration_seconds_bucket[{RATE}])))", "p50"),
            (f"histogram_quantile(0.95, sum by (le) (rate(custodian_upload_duration_seconds_bucket[{RATE}])))", "p95"),
        ], unit="s"),
        panel("HTTP requests by route and status", [(f"sum by (route, status) (rate(custodian_http_requests_total[{RATE}]))", "{{route}} {{status}}")], unit="reqps"),
        panel("API latency p95 by route", [(f'histogram_quantile(0.95, sum by (le, route) (rate(custodian_http_request_duration_seconds_bucket{{route=~"/v1/.*"}}[{RATE}])))', "{{route}}")], unit="s"),
        panel("Abandoned uploads removed (1h)", [("sum(increase(custodian_abandoned_uploads_total[1h]))", "abandoned")], "stat", unit="short"),
    ],
)

media = dashboard(
    "custodian-media",
    "Custodian / Media workers",
    "Transcoder and fingerprinter: queue lag (what KEDA scales on), throughput, failures, findings.",
    [
        panel("Queue lag", [('max by (consumer) (custodian_queue_pending_messages{consumer=~"transcoder|fingerprinter"})', "{{consumer}}")], unit="short",
              description="What the KEDA ScaledObjects scale on (JetStream consumer lag)."),
        panel("Workers", [('count by (consumer) (custodian_queue_pending_messages{consumer=~"transcoder|fingerprinter"})', "{{consumer}}")], "stat", unit="short"),
        panel("Clips processed", [
            (f"sum(rate(custodian_transcodes_total[{RATE}]))", "transcoded"),
            (f"sum(rate(custodian_fingerprints_total[{RATE}]))", "fingerprinted"),
        ], unit="ops"),
        panel("Footage processed (seconds of footage per second)", [
            (f"sum(rate(custodian_transcoded_footage_seconds_total[{RATE}]))", "transcoded"),
            (f"sum(rate(custodian_fingerprinted_footage_seconds_total[{RATE}]))", "fingerprinted"),
        ], unit="short", description="Above 1: faster than real time, across all replicas."),
        panel("Job duration p95", [(f'histogram_quantile(0.95, sum by (le, consumer) (rate(custodian_job_duration_seconds_bucket{{consumer=~"transcoder|fingerprinter"}}[{RATE}])))', "{{consumer}}")], unit="s"),
        panel("Jobs by outcome", [(f'sum by (consumer, outcome) (rate(custodian_jobs_total{{consumer=~"transcoder|fingerprinter"}}[{RATE}]))', "{{consumer}} {{outcome}}")], unit="ops"),
        panel("Media failures by reason (1h)", [("sum by (role, reason) (increase(custodian_media_failures_total[1h]))", "{{role}} {{reason}}")], "table",
              description="Clips that could not be decoded or were refused before decoding; the original is kept and the clip marked failed."),
        panel("Continuity findings (1h)", [("sum by (kind, severity) (increase(custodian_continuity_findings_total[1h]))", "{{kind}} {{severity}}")], "table"),
        panel("Redeliveries and dead letters (1h)", [
            ('sum by (consumer) (increase(custodian_redeliveries_total{consumer=~"transcoder|fingerprinter"}[1h]))', "redeliveries {{consumer}}"),
            ('sum by (consumer) (increase(custodian_dead_letters_total{consumer=~"transcoder|fingerprinter"}[1h]))', "dead letters {{consumer}}"),
        ], unit="short"),
    ],
)

compliance = dashboard(
    "custodian-compliance",
    "Custodian / Compliance deadlines",
    "Deadlines of the regulation per bureau: upload (art. 16), classification (art. 17), case filing (art. 18); the audit trail's checkpoints.",
    [
        panel("Clips not classified in time", [('sum(custodian_deadlines_overdue{kind="classification", bureau=~"$bureau"}) or vector(0)', "overdue")], "stat", w=6, h=5,
              description="A bureau and kind without overdue items has no series: none is 0."),
        panel("Closed cases not filed in time", [('sum(custodian_deadlines_overdue{kind="case_filing", bureau=~"$bureau"}) or vector(0)', "overdue")], "stat", w=6, h=5),
        panel("Late uploads, last 30 days", [('sum(custodian_deadlines_overdue{kind=~"upload_.*", bureau=~"$bureau"}) or vector(0)', "late")], "stat", w=6, h=5),
        panel("Calendar year missing (1d)", [("sum(increase(custodian_calendar_unknown_year_total[1d]))", "deadlines counted without holidays")], "stat", w=6, h=5),
        panel("Overdue by kind", [('sum by (kind) (custodian_deadlines_overdue{bureau=~"$bureau"})', "{{kind}}")], unit="short"),
        panel("Overdue by bureau and kind", [('sum by (bureau, kind) (custodian_deadlines_overdue{bureau=~"$bureau"})', "{{bureau}} {{kind}}")], "table"),
        panel("Clips catalogued", [(f"sum(rate(custodian_clips_catalogued_total[{RATE}]))", "catalogued")], unit="ops"),
        panel("Audit checkpoints signed (1h)", [("sum(increase(custodian_audit_checkpoints_total[1h]))", "checkpoints")], "stat", unit="short"),
    ],
    variables=[bureau_variable()],
)

storage = dashboard(
    "custodian-storage",
    "Custodian / Storage and retention",
    "What is kept, by retention class; archive, recycle and purge; the scrub of originals.",
    [
        panel("Clips by retention class", [("max by (class) (custodian_retention_clips)", "{{class}}")], unit="short"),
        panel("Bytes of originals by retention class", [("max by (class) (custodian_retention_bytes)", "{{class}}")], unit="bytes"),
        panel("Retention actions (1d)", [
            ("sum(increase(custodian_archived_total[1d]))", "archived"),
            ("sum(increase(custodian_recycled_total[1d]))", "recycled"),
            ("sum(increase(custodian_restored_total[1d]))", "restored"),
            ("sum(increase(custodian_purged_total[1d]))", "purged"),
            ("sum(increase(custodian_archive_failures_total[1d]))", "archive failures"),
        ], "stat", unit="short", w=24, h=5),
        panel("Scrub: originals verified", [(f"sum(rate(custodian_scrub_verified_total[{RATE}]))", "verified")], unit="ops"),
        panel("Scrub findings (1d)", [("sum by (kind) (increase(custodian_scrub_failures_total[1d])) or vector(0)", "{{kind}}")], "stat", unit="short",
              description="Originals changed, missing or unreadable. No series means none was found."),
        panel("Oldest verification of an original", [("time() - min(custodian_scrub_oldest_verification_timestamp_seconds > 0)", "age")], "stat", unit="s",
              description="Must stay under the scrub period (90 days by default). No value while some original has never been verified."),
        panel("Since the last retention pass", [("time() - max(custodian_retention_last_pass_timestamp_seconds)", "age")], "stat", unit="s"),
        panel("Archive tier locks its copies", [("min(custodian_archive_object_lock_supported)", "object lock")], "stat",
              description="0: the archive tier cannot lock (Garage, a local directory); nothing stops deletion there."),
        panel("Reconciler re-announcements (1h)", [("sum(increase(custodian_reconciler_republished_total[1h]))", "republished")], "stat", unit="short",
              description="Clips stuck in a state whose work was published again."),
    ],
)

out = pathlib.Path(__file__).resolve().parent / "dashboards"
out.mkdir(exist_ok=True)
for name, board in [("overview", overview), ("ingest", ingest), ("media-workers", media),
                    ("compliance-deadlines", compliance), ("storage-retention", storage)]:
    (out / f"{name}.json").write_text(json.dumps(board, indent=2, ensure_ascii=False) + "\n")
