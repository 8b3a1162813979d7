use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct RetentionMetrics {
    pub clips: IntGaugeVec,
    pub bytes: IntGaugeVec,
    pub archived: IntCounter,
    pub archive_failures: IntCounter,
    pub recycled: IntCounter,
    pub restored: IntCounter,
    pub purged: IntCounter,
    pub scrub_verified: IntCounter,
    pub scrub_failures: IntCounterVec,
    pub oldest_verification: IntGauge,
    pub object_lock: IntGauge,
    pub lease_held: IntGauge,
    pub last_pass: IntGauge,
}

impl RetentionMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let clips = IntGaugeVec::new(
            Opts::new(
                "custodian_retention_clips",
                "Clips by retention class (ordinary, long_term, held, recycled, expired)",
            ),
            &["class"],
        )?;
        let bytes = IntGaugeVec::new(
            Opts::new(
                "custodian_retention_bytes",
                "Bytes of originals still stored, by retention class",
            ),
            &["class"],
        )?;
        let archived = IntCounter::new(
            "custodian_archived_total",
            "Clips copied to the archive tier and read back",
        )?;
        let archive_failures = IntCounter::new(
            "custodian_archive_failures_total",
            "Archive attempts that failed (retried next pass)",
        )?;
        let recycled = IntCounter::new(
            "custodian_recycled_total",
            "Clips moved to the recycle bin when their retention ran out",
        )?;
        let restored = IntCounter::new(
            "custodian_restored_total",
            "Clips taken back out of the recycle bin",
        )?;
        let purged = IntCounter::new(
            "custodian_purged_total",
            "Clips whose files were purged (tombstones kept)",
        )?;
        let scrub_verified = IntCounter::new(
            "custodian_scrub_verified_total",
            "Originals re-hashed and found intact",
        )?;
        let scrub_failures = IntCounterVec::new(
            Opts::new(
                "custodian_scrub_failures_total",
                "Originals the scrub found changed, missing or unreadable",
            ),
            &["kind"],
        )?;
        let oldest_verification = IntGauge::new(
            "custodian_scrub_oldest_verification_timestamp_seconds",
            "When the least recently verified original was verified (0 while some were never verified)",
        )?;
        let object_lock = IntGauge::new(
            "custodian_archive_object_lock_supported",
            "1 if the archive tier locks its copies (S3 Object Lock), 0 if not",
        )?;
        let lease_held = IntGauge::new(
            "custodian_retention_lease_held",
            "1 in the instance that runs the retention schedule",
        )?;
        let last_pass = IntGauge::new(
            "custodian_retention_last_pass_timestamp_seconds",
            "When the last retention pass finished",
        )?;
        registry.register(Box::new(clips.clone()))?;
        registry.register(Box::new(bytes.clone()))?;
        registry.register(Box::new(archived.clone()))?;
        registry.register(Box::new(archive_failures.clone()))?;
        registry.register(Box::new(recycled.clone()))?;
        registry.register(Box::new(restored.clone()))?;
        registry.register(Box::new(purged.clone()))?;
        registry.register(Box::new(scrub_verified.clone()))?;
        registry.register(Box::new(scrub_failures.clone()))?;
        registry.register(Box::new(oldest_verification.clone()))?;
        registry.register(Box::new(object_lock.clone()))?;
        registry.register(Box::new(lease_held.clone()))?;
        registry.register(Box::new(last_pass.clone()))?;
        Ok(Self {
            clips,
            bytes,
            archived,
            archive_failures,
            recycled,
            restored,
            purged,
            scrub_verified,
            scrub_failures,
            oldest_verification,
            object_lock,
            lease_held,
            last_pass,
        })
    }
}
