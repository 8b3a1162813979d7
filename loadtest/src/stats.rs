//! Latency histograms and the figures the report takes from them.

use hdrhistogram::Histogram;

/// Microseconds up to an hour at 3 significant figures: uploads and settling are measured in
/// milliseconds to minutes, and 3 figures keep a p99 within 0.1 % of the recorded value.
pub fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 3_600_000_000, 3)?)
}

/// Records `elapsed`, clamped into the histogram's range rather than lost: a slower sample
/// than an hour still has to count.
pub fn record(histogram: &mut Histogram<u64>, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// The percentiles the report shows, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// None for an empty histogram: "p99 = 0 ms" would read as a measurement.
pub fn percentiles(histogram: &Histogram<u64>) -> Option<Percentiles> {
    if histogram.is_empty() {
        return None;
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    Some(Percentiles {
        count: histogram.len(),
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p90_ms: ms(histogram.value_at_quantile(0.90)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
    })
}

/// (percentile, milliseconds) points for a curve from p0 to p100, denser towards the tail,
/// where the interesting part of a latency distribution is.
pub fn percentile_curve(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    const POINTS: [f64; 14] = [
        0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
    ];
    POINTS
        .iter()
        .map(|p| (*p, histogram.value_at_percentile(*p) as f64 / 1000.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.001 + 1e-9
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_milliseconds() {
        let mut h = new_histogram().unwrap();
        for ms in 1..=1000 {
            record(&mut h, Duration::from_millis(ms));
        }
        let p = percentiles(&h).unwrap();
        assert_eq!(p.count, 1000);
        assert!(close(p.p50_ms, 500.0), "{p:?}");
        assert!(close(p.p90_ms, 900.0), "{p:?}");
        assert!(close(p.p99_ms, 990.0), "{p:?}");
        assert!(close(p.max_ms, 1000.0), "{p:?}");
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles_and_no_curve() {
        let h = new_histogram().unwrap();
        assert_eq!(percentiles(&h), None);
        assert!(percentile_curve(&h).is_empty());
    }

    #[test]
    fn a_sample_beyond_the_range_is_kept_at_the_top() {
        let mut h = new_histogram().unwrap();
        record(&mut h, Duration::from_secs(10 * 3600));
        record(&mut h, Duration::ZERO);
        assert_eq!(h.len(), 2);
        assert!(percentiles(&h).unwrap().max_ms >= 3_600_000.0 * 0.999);
    }

    #[test]
    fn the_curve_rises_to_the_maximum() {
        let mut h = new_histogram().unwrap();
        for ms in [5, 7, 9, 200, 3000] {
            record(&mut h, Duration::from_millis(ms));
        }
        let curve = percentile_curve(&h);
        assert!(curve
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        let (p, top) = curve[curve.len() - 1];
        assert_eq!(p, 100.0);
        assert!(close(top, 3000.0));
    }
}
