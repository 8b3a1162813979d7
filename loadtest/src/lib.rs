//! `custodian-loadtest` drives a running Custodian (standalone, or ingest and catalog roles of
//! a region) the way a province's collection stations would: bureaus × devices uploading
//! clips, at a fixed arrival rate that does not slow down when the server does (an open
//! model; arrivals finding every upload slot busy are dropped and counted, never queued).
//! It is for answering "how many uploads a second does this deployment take, and how long
//! until a clip is catalogued (transcoded and fingerprinted) under that load", with
//! HDR-histogram percentiles, error counts by kind and throughput, written as report.json,
//! report.md and latency.svg. `scripts/loadtest.sh` runs it against a local standalone server.

pub mod clips;
pub mod config;
pub mod report;
pub mod run;
pub mod schedule;
pub mod stats;
pub mod svg;
