//! What retention reports.

/// Clips and bytes per retention class, for the storage gauges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTotals {
    pub class: &'static str,
    pub clips: i64,
    pub bytes: i64,
}
