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

fn summary_table(samples: &[RenderedSample], slugs: &[String], split: bool) -> String {
    let cols = summary_columns(samples);
    let mut o = String::from("<table class=\"summary\">\n<thead><tr><th>#</th><th>file</th><th>status</th><th>QC flags</th>");
    for c in &cols {
        o.push_str(&format!("<th>{}</th>", esc(c)));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for (k, (s, slug)) in samples.iter().zip(slugs).enumerate() {
        let (class, status) = status_of(s);
        let href = if split {
            format!("report/{slug}.html")
        } else {
            format!("#s-{slug}")
        };
        o.push_str(&format!(
            "<tr class=\"{class}\"><td class=\"num\">{}</td><td><a href=\"{href}\">{}</a></td>\
             <td><span class=\"status\">{status}</span></td><td>",
            k + 1,
            esc(&s.file)
        ));
        for f in &s.qc_flags {
            o.push_str(&format!("<span class=\"flag\">{}</span>", esc(f)));
        }
        if let Some(e) = &s.error {
            o.push_str(&esc(e));
        }
        o.push_str("</td>");
        for c in &cols {
            let v = s
                .summary
                .iter()
                .find(|(k, _)| k == c)
                .map_or("", |(_, v)| v.as_str());
            let class = if v.parse::<f64>().is_ok() {
                " class=\"num\""
            } else {
                ""
            };
            o.push_str(&format!("<td{class}>{}</td>", esc(v)));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
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
    fn escaping() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
