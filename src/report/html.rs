//! HTML of the report. Self-contained by construction: images are PNG data
//! URIs, the style sheet is inline, there is no script, and the only links
//! are `#anchors` and relative `report/<sample>.html` / `../report.html`, so
//! the file can be mailed or opened from a share without any network.
//!
//! Machine-readable facts ride along as `data-` attributes on each figure
//! (parent population and its count, events drawn, gate names), so tests and
//! scripts can check the pictures against the numbers without OCR.

use base64::Engine as _;

use crate::report::model::BatchInfo;
use crate::report::plots::{fmt_count, RenderedPlot};
use crate::report::writer::{PlotOutcome, RenderedSample};

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;margin:16px 24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 8px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #ccc;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px;background:#fff}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eee;position:sticky;top:0}
div.table-wrap{max-width:100%;overflow-x:auto}
table.summary{font-size:11.5px}
table.summary th{font-weight:600;vertical-align:bottom;max-width:6em;min-width:2.2em;padding:3px 3px}
table.summary td{padding:2px 3px;white-space:nowrap}
table.summary td.file{white-space:normal;max-width:18em}
table.summary td.file a{white-space:nowrap}
table.summary td.flags{white-space:normal;min-width:7em;max-width:10em}
table.summary span.flag{font-size:10.5px}
div.cell-error{color:#a40000;font-size:11px;margin-top:2px}
div.cell-warning{color:#7a5a00;font-size:11px;margin-top:2px}
tr.flagged td:first-child{box-shadow:inset 4px 0 #f0b429}
tr.failed td:first-child{box-shadow:inset 4px 0 #c33}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.flagged td{background:#fff4d6}
tr.failed td{background:#fde0e0}
span.flag{display:inline-block;background:#f0b429;color:#222;border-radius:3px;padding:0 5px;margin:1px 3px 1px 0;font-size:11.5px}
tr.failed span.status,div.error{color:#a40000;font-weight:bold}
div.error{background:#fde0e0;border:1px solid #d99;padding:8px 12px;margin:8px 0;white-space:pre-wrap}
ul.warnings{background:#fff8e1;border:1px solid #e6c96b;padding:6px 12px 6px 28px;margin:8px 0;font-size:13px}
section.sample{background:#fff;border:1px solid #ddd;padding:8px 14px 14px;margin:18px 0}
section.failed{border-color:#d99}
section.flagged{border-color:#e6c96b}
div.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;background:#fff;border:1px solid #e3e3e3;padding:4px}
figure.failed{border-color:#d99;max-width:330px;padding:8px}
figcaption{font-size:11.5px;max-width:360px;color:#444;margin-top:3px}
figcaption.title{font-weight:bold;color:#222;margin:0 0 3px}
img{display:block;image-rendering:auto}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px;margin:6px 0}
dl.facts dt{font-weight:bold}
dl.facts dd{margin:0}
p.nav{font-size:13px}
"#;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        esc(title)
    )
}

fn data_uri(png: &[u8]) -> String {
    let mut s = String::from("data:image/png;base64,");
    base64::engine::general_purpose::STANDARD.encode_string(png, &mut s);
    s
}

/// A `<figure>` with the plot, or the reason it is missing.
fn figure(p: &PlotOutcome, kind: &str) -> String {
    match p {
        PlotOutcome::Drawn(r) => drawn_figure(r, kind),
        PlotOutcome::Failed { title, message } => format!(
            "<figure class=\"plot failed\" data-kind=\"{kind}\" data-failed=\"true\">\
             <figcaption class=\"title\">{}</figcaption><div class=\"error\">Plot not drawn: {}</div></figure>\n",
            esc(title),
            esc(message)
        ),
    }
}

fn drawn_figure(r: &RenderedPlot, kind: &str) -> String {
    let mut gates = String::new();
    for g in &r.gates {
        gates.push_str(&format!(
            "<span class=\"gate\" data-gate=\"{}\" data-outline-px=\"{}\"></span>",
            esc(&g.name),
            g.outline_pixels.len()
        ));
    }
    format!(
        "<figure class=\"plot\" data-kind=\"{kind}\" data-parent=\"{}\" data-parent-count=\"{}\" \
         data-events-plotted=\"{}\" data-off-scale=\"{}\">\
         <img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">\
         <figcaption>{}</figcaption>{gates}</figure>\n",
        esc(&r.parent),
        r.parent_count,
        r.events_plotted,
        r.off_scale,
        data_uri(&r.png),
        r.width,
        r.height,
        esc(&format!("{}: {}", r.title, r.caption)),
        esc(&r.caption),
    )
}

fn status_of(s: &RenderedSample) -> (&'static str, &'static str) {
    if s.error.is_some() {
        ("failed", "failed")
    } else if !s.qc_flags.is_empty() {
        ("flagged", "flagged")
    } else if !s.warnings.is_empty() {
        ("", "ok, with warnings")
    } else {
        ("", "ok")
    }
}

/// One sample's section (heading = the exact input file name).
fn sample_section(s: &RenderedSample, slug: &str) -> String {
    let (class, status) = status_of(s);
    let mut o = format!(
        "<section class=\"sample {class}\" id=\"s-{slug}\" data-file=\"{}\" data-status=\"{status}\">\n\
         <h2>{}</h2>\n",
        esc(&s.file),
        esc(&s.file)
    );
    if let Some(e) = &s.error {
        o.push_str(&format!("<div class=\"error\">Error: {}</div>\n", esc(e)));
    }
    if !s.qc_flags.is_empty() {
        o.push_str("<p>QC flags: ");
        for f in &s.qc_flags {
            o.push_str(&format!("<span class=\"flag\">{}</span>", esc(f)));
        }
        o.push_str("</p>\n");
    }
    if !s.warnings.is_empty() {
        o.push_str("<ul class=\"warnings\">");
        for w in &s.warnings {
            o.push_str(&format!("<li>{}</li>", esc(w)));
        }
        o.push_str("</ul>\n");
    }
    if s.error.is_none() {
        if let Some(f) = &s.flow_rate {
            o.push_str("<h3>Acquisition</h3>\n<div class=\"grid\">");
            o.push_str(&figure(f, "flow-rate"));
            o.push_str("</div>\n");
        }
        if !s.plots.is_empty() {
            o.push_str("<h3>Gating hierarchy</h3>\n<div class=\"grid\">\n");
            for p in &s.plots {
                let kind = match p {
                    PlotOutcome::Drawn(r) if r.height < r.width => "histogram",
                    _ => "gating",
                };
                o.push_str(&figure(p, kind));
            }
            o.push_str("</div>\n");
        } else {
            o.push_str("<p>No plots were requested for this sample.</p>\n");
        }
    }
    o.push_str("</section>\n");
    o
}

/// Columns of the summary table: the union of the results rows' columns,
/// in first-seen order, without those shown in their own column.
fn summary_columns(samples: &[RenderedSample]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for s in samples {
        for (k, _) in &s.summary {
            if !matches!(k.as_str(), "file" | "qc_flags" | "error") && !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    cols
}

/// A results column's header as shown: `pct_` → `%`, `_per_ul` → `/µL`,
/// underscores → spaces, so the browser can wrap it onto short lines (the
/// exact column name stays in the tooltip).
fn display_header(col: &str) -> String {
    let mut h = col.to_string();
    if let Some(rest) = h.strip_prefix("pct_") {
        h = format!("% {rest}");
    }
    if let Some(rest) = h.strip_suffix("_pct") {
        h = format!("{rest} %");
    }
    if let Some(rest) = h.strip_suffix("_per_ul") {
        h = format!("{rest} /µL");
    } else if let Some(rest) = h.strip_suffix("_ul") {
        h = format!("{rest} µL");
    }
    // Long words get a soft hyphen in the middle, so one long marker name
    // does not widen its column beyond its numbers.
    h.replace('_', " ")
        .split(' ')
        .map(|w| {
            let n = w.chars().count();
            if n > 9 {
                let (a, b): (String, String) = (
                    w.chars().take(n / 2).collect(),
                    w.chars().skip(n / 2).collect(),
                );
                format!("{a}\u{ad}{b}")
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `1234567` → `1 234 567` (narrow no-break spaces, as [`fmt_count`]).
fn group_thousands(v: f64) -> String {
    let r = v.round();
    let s = fmt_count(r.abs() as usize);
    if r < 0.0 {
        format!("−{s}")
    } else {
        s
    }
}

/// A number to 3 significant digits (integers from 1,000 up, grouped).
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let mag = v.abs().log10().floor() as i32;
    if mag >= 2 {
        return group_thousands(v);
    }
    format!("{:.*}", (2 - mag).min(6) as usize, v)
}

/// A results value as the table shows it: per-µL counts to integers (3
/// significant digits below 100), percentages to 1 decimal, other long
/// numbers to 3 significant digits; text and short numbers as they are.
/// Returns the text and whether it is numeric.
pub(crate) fn display_value(col: &str, raw: &str) -> (String, bool) {
    let Ok(v) = raw.trim().parse::<f64>() else {
        return (raw.to_string(), false);
    };
    if !v.is_finite() {
        return (raw.to_string(), false);
    }
    let c = col.to_ascii_lowercase();
    let text = if c.contains("per_ul") {
        if v.abs() >= 100.0 {
            group_thousands(v)
        } else {
            sig3(v)
        }
    } else if c.starts_with("pct") || c.ends_with("_pct") || c.contains("_pct_") {
        format!("{v:.1}")
    } else if raw.trim().len() <= 7 {
        raw.trim().to_string()
    } else {
        sig3(v)
    };
    (text, true)
}

/// A QC flag with break opportunities after `:` (long flags wrap).
fn flag_html(f: &str) -> String {
    format!(
        "<span class=\"flag\">{}</span>",
        esc(f).replace(':', ":<wbr>")
    )
}

/// Warnings shown under a file name in the summary (the rest are in the
/// sample's section).
const SUMMARY_WARNINGS: usize = 2;

fn summary_table(samples: &[RenderedSample], slugs: &[String], split: bool) -> String {
    let cols = summary_columns(samples);
    let mut o = String::from(
        "<div class=\"table-wrap\"><table class=\"summary\">\n<thead><tr><th>#</th><th>file</th><th>QC flags</th>",
    );
    for c in &cols {
        o.push_str(&format!(
            "<th title=\"{}\">{}</th>",
            esc(c),
            esc(&display_header(c))
        ));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for (k, (s, slug)) in samples.iter().zip(slugs).enumerate() {
        let (class, _) = status_of(s);
        let href = if split {
            format!("report/{slug}.html")
        } else {
            format!("#s-{slug}")
        };
        // The file cell: link, then the error or the first warnings right
        // under the name (a failed or row-less file is never just a colour).
        o.push_str(&format!(
            "<tr class=\"{class}\"><td class=\"num\">{}</td>\
             <td class=\"file\"><a href=\"{href}\">{}</a>",
            k + 1,
            esc(&s.file)
        ));
        if let Some(e) = &s.error {
            o.push_str(&format!("<div class=\"cell-error\">{}</div>", esc(e)));
        } else {
            for w in s.warnings.iter().take(SUMMARY_WARNINGS) {
                o.push_str(&format!("<div class=\"cell-warning\">{}</div>", esc(w)));
            }
            if s.warnings.len() > SUMMARY_WARNINGS {
                o.push_str(&format!(
                    "<div class=\"cell-warning\">+{} more warnings (see the sample)</div>",
                    s.warnings.len() - SUMMARY_WARNINGS
                ));
            }
        }
        o.push_str("</td><td class=\"flags\">");
        if s.error.is_some() {
            o.push_str("<span class=\"status\">failed</span> ");
        }
        for f in &s.qc_flags {
            o.push_str(&flag_html(f));
        }
        o.push_str("</td>");
        for c in &cols {
            let raw = s
                .summary
                .iter()
                .find(|(k, _)| k == c)
                .map_or("", |(_, v)| v.as_str());
            let (text, numeric) = display_value(c, raw);
            if numeric && text != raw {
                o.push_str(&format!(
                    "<td class=\"num\" title=\"{}\">{}</td>",
                    esc(raw),
                    esc(&text)
                ));
            } else if numeric {
                o.push_str(&format!("<td class=\"num\">{}</td>", esc(&text)));
            } else {
                o.push_str(&format!("<td>{}</td>", esc(&text)));
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table></div>\n");
    o
}

/// `report.html`: header, summary, cohort, FlowSOM, and either every
/// sample's section or (large batches) links to the per-sample pages.
pub(crate) fn main_page(
    samples: &[RenderedSample],
    slugs: &[String],
    batch: &BatchInfo,
    cohort: &[PlotOutcome],
    flowsom: Option<&PlotOutcome>,
    split: bool,
) -> String {
    let title = if batch.title.is_empty() {
        "nkflow QC report"
    } else {
        batch.title.as_str()
    };
    let failed = samples.iter().filter(|s| s.error.is_some()).count();
    let flagged = samples
        .iter()
        .filter(|s| s.error.is_none() && !s.qc_flags.is_empty())
        .count();
    let mut b = format!("<h1>{}</h1>\n<dl class=\"facts\">", esc(title));
    b.push_str(&format!(
        "<dt>samples</dt><dd>{} ({} failed, {} flagged)</dd>",
        fmt_count(samples.len()),
        failed,
        flagged
    ));
    for (k, v) in &batch.facts {
        b.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v)));
    }
    b.push_str("</dl>\n");
    if !batch.skipped.is_empty() {
        b.push_str("<ul class=\"warnings\">");
        for s in &batch.skipped {
            b.push_str(&format!("<li>skipped: {}</li>", esc(s)));
        }
        b.push_str("</ul>\n");
    }
    b.push_str("<h2 id=\"summary\">Summary</h2>\n");
    b.push_str(&summary_table(samples, slugs, split));
    if !cohort.is_empty() {
        b.push_str("<h2 id=\"cohort\">Cohort</h2>\n<div class=\"grid\">\n");
        for p in cohort {
            b.push_str(&figure(p, "cohort"));
        }
        b.push_str("</div>\n");
    }
    if let Some(f) = flowsom {
        b.push_str("<h2 id=\"flowsom\">FlowSOM</h2>\n<div class=\"grid\">\n");
        b.push_str(&figure(f, "flowsom"));
        b.push_str("</div>\n");
    }
    b.push_str("<h2 id=\"samples\">Samples</h2>\n");
    if split {
        b.push_str(&format!(
            "<p class=\"nav\">{} samples: each has its own page in the <code>report/</code> folder next to this file (linked from the summary table).</p>\n",
            samples.len()
        ));
    } else {
        for (s, slug) in samples.iter().zip(slugs) {
            b.push_str(&sample_section(s, slug));
        }
    }
    page(title, &b)
}

/// `report/<slug>.html`: one sample, linking back to the summary.
pub(crate) fn sample_page(s: &RenderedSample, slug: &str, title: &str) -> String {
    let mut b = String::from(
        "<p class=\"nav\"><a href=\"../report.html#summary\">← back to the summary</a></p>\n",
    );
    b.push_str(&sample_section(s, slug));
    let t = if title.is_empty() {
        s.file.clone()
    } else {
        format!("{} — {title}", s.file)
    };
    page(&t, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_values_are_rounded_for_reading() {
        let v = |c: &str, r: &str| display_value(c, r).0;
        assert_eq!(v("nk_per_ul", "15.207322452580502"), "15.2");
        assert_eq!(v("nk_per_ul", "377.57491486946"), "378");
        assert_eq!(
            v("lymphocytes_per_ul", "1946.5372739303043"),
            "1\u{202f}947"
        );
        assert_eq!(v("nk_per_ul", "0.0412345"), "0.0412");
        assert_eq!(v("pct_nkg2c", "11.428571428571429"), "11.4");
        assert_eq!(v("pct_kir", "40"), "40.0");
        assert_eq!(v("nk_donor_chimerism_pct", "92.2"), "92.2");
        // Short numbers and text as the samplesheet has them.
        assert_eq!(v("dose_cells_per_kg", "1e6"), "1e6");
        assert_eq!(v("beads_per_tube", "49250"), "49250");
        assert_eq!(v("nk_events", "35"), "35");
        assert_eq!(v("cohort", "dose_1e6"), "dose_1e6");
        assert_eq!(v("ratio", "0.123456789"), "0.123");
        assert_eq!(v("pct_x", ""), "");
        assert_eq!(display_header("pct_nkg2c"), "% nkg2c");
        assert_eq!(display_header("nk_per_ul"), "nk /µL");
        assert_eq!(
            display_header("nk_donor_chimerism_pct"),
            "nk donor chimerism %"
        );
        assert_eq!(
            display_header("lymphocytes_per_ul"),
            "lymph\u{ad}ocytes /µL"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
