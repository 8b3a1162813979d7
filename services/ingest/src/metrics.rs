use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct IngestMetrics {
    pub uploads: IntCounterVec,
    pub bytes: IntCounter,
    pub duration: Histogram,
    pub abandoned: IntCounter,
    pub tus_refusals: IntCounterVec,
    pub unregistered_devices: IntCounter,
}

impl IngestMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let uploads = IntCounterVec::new(
            Opts::new(
                "custodian_uploads_total",
                "Uploads finished, by outcome (stored or an error code)",
            ),
            &["outcome"],
        )?;
        let bytes = IntCounter::new(
            "custodian_upload_bytes_total",
            "Bytes of originals stored and recorded",
        )?;
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "custodian_upload_duration_seconds",
                "Time from the first byte of an upload to its receipt",
            )
            .buckets(vec![
                0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0,
            ]),
        )?;
        let abandoned = IntCounter::new(
            "custodian_abandoned_uploads_total",
            "Unfinished uploads reclaimed by the janitor",
        )?;
        // Kept apart from custodian_uploads_total: a 409 or 460 is the protocol working (the
        // client resyncs or resends), not an upload failing.
        let tus_refusals = IntCounterVec::new(
            Opts::new(
                "custodian_tus_refusals_total",
                "tus requests refused by the protocol's rules, by code (offset-mismatch, checksum-mismatch, not-found, expired, ...)",
            ),
            &["code"],
        )?;
        let unregistered_devices = IntCounter::new(
            "custodian_uploads_unregistered_device_total",
            "Clips stored from a camera not in the bureau's device registry (art. 15); the clip says device_registered false",
        )?;
        registry.register(Box::new(unregistered_devices.clone()))?;
        registry.register(Box::new(tus_refusals.clone()))?;
        registry.register(Box::new(uploads.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(abandoned.clone()))?;
        Ok(Self {
            uploads,
            bytes,
            duration,
            abandoned,
            tus_refusals,
            unregistered_devices,
        })
    }
}
