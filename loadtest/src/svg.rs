//! A hand-written SVG of percentile curves: two series and labelled axes need no plotting
//! library, and plain SVG opens in any browser and renders inline in Markdown viewers.

use std::fmt::Write as _;

pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    /// (percentile 0-100, milliseconds)
    pub points: &'a [(f64, f64)],
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// Escapes text for use in element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Latency in ms against percentile. The x axis is "nines" (-log10(1 - p)), as latency
/// plots usually are, so p99 and p99.9 get as much room as p50 and p90; the y axis is
/// linear from 0 to the largest value.
pub fn percentile_plot(title: &str, series: &[Series<'_>]) -> String {
    // p100 would be infinitely far right: it is drawn at the last tick, 99.999.
    const MAX_NINES: f64 = 5.0;
    let nines = |p: f64| (-(1.0 - (p / 100.0)).max(1e-5).log10()).clamp(0.0, MAX_NINES);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(_, ms)| *ms))
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.05;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |p: f64| LEFT + nines(p) / MAX_NINES * plot_w;
    let y = |ms: f64| TOP + plot_h - ms / y_max * plot_h;

    let mut svg = String::new();
    // Writing into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    // Axes.
    let _ = writeln!(
        svg,
        r#"<path d="M{LEFT} {TOP} V{} H{}" fill="none" stroke="black"/>"#,
        TOP + plot_h,
        LEFT + plot_w
    );
    for (label, p) in [
        ("p0", 0.0),
        ("p90", 90.0),
        ("p99", 99.0),
        ("p99.9", 99.9),
        ("p99.99", 99.99),
        ("p99.999", 99.999),
    ] {
        let px = x(p);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    for i in 0..=5 {
        let ms = y_max / 5.0 * f64::from(i);
        let py = y(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{ms:.0}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            py + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">milliseconds</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    // Curves and legend.
    for (i, s) in series.iter().enumerate() {
        let colour = escape(s.colour);
        if !s.points.is_empty() {
            let points: Vec<String> = s
                .points
                .iter()
                .map(|(p, ms)| format!("{:.1},{:.1}", x(*p), y(*ms)))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                points.join(" ")
            );
        }
        let ly = TOP + 10.0 + 22.0 * i as f64;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}{}</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            escape(s.name),
            if s.points.is_empty() {
                " (no data)"
            } else {
                ""
            }
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every element opened is closed in order, attributes are quoted, and no
    /// bare `&` or `<` is left in text: enough of XML well-formedness for what we write.
    fn assert_well_formed(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            for (i, _) in text.match_indices('&') {
                let entity = &text[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| entity.starts_with(e)),
                    "bare & in {text:?}"
                );
            }
            let close = rest[open..].find('>').expect("unterminated tag") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "< inside a tag: {tag:?}");
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes: {tag:?}"
            );
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("tag name");
                stack.push(name.to_owned());
            }
            rest = &rest[close + 1..];
        }
        assert!(rest.trim().is_empty());
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    #[test]
    fn the_plot_is_well_formed_svg_with_both_series() {
        let upload = [(0.0, 12.0), (50.0, 40.0), (99.0, 300.0), (100.0, 800.0)];
        let settled = [(0.0, 2000.0), (50.0, 9000.0), (100.0, 41000.0)];
        let svg = percentile_plot(
            "Custodian <load> & test",
            &[
                Series {
                    name: "upload → 201",
                    colour: "#1f77b4",
                    points: &upload,
                },
                Series {
                    name: "upload → catalogued",
                    colour: "#d62728",
                    points: &settled,
                },
            ],
        );
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_well_formed(&svg);
        assert!(svg.contains("Custodian &lt;load&gt; &amp; test"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn an_empty_series_is_labelled_not_drawn() {
        let svg = percentile_plot(
            "t",
            &[Series {
                name: "nothing",
                colour: "red",
                points: &[],
            }],
        );
        assert_well_formed(&svg);
        assert!(svg.contains("nothing (no data)"));
        assert!(!svg.contains("<polyline"));
    }
}
