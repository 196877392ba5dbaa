//! Report rendering on synthetic samples with known populations: every plot
//! bins exactly its parent's events, every gate outline is on the image,
//! PNGs decode with content, the HTML is self-contained and its links
//! resolve, failed files are shown with their error.

mod report_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use nkflow::report::{
    render_sample, BatchInfo, PlotOutcome, RenderOptions, ReportBuilder, ReportOptions,
};
use report_support::*;

/// Decodes a PNG (indexed or RGB) to RGB bytes.
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut dec = png::Decoder::new(png_bytes);
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn non_white_fraction(rgb: &[u8]) -> f64 {
    let px = rgb.chunks(3).filter(|p| p != &[255, 255, 255]).count();
    px as f64 / (rgb.len() / 3) as f64
}

#[test]
fn every_plot_bins_its_parent_and_draws_every_gate() {
    let s = synthetic(20_000, 7);
    let report = sample_report("P01 day30.fcs", 0, &s);
    let r = render_sample(&report, RenderOptions::default());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let expected_parent = [20_000, count(&s.lymph), count(&s.nk), count(&s.nk)];
    assert_eq!(r.plots.len(), 4);
    for (p, want) in r.plots.iter().zip(expected_parent) {
        let PlotOutcome::Drawn(p) = p else {
            panic!("plot failed: {p:?}")
        };
        assert_eq!(p.parent_count, want, "{}", p.title);
        assert_eq!(p.events_plotted, want, "{}: events drawn", p.title);
        let (w, h, rgb) = decode(&p.png);
        assert_eq!((w, h), (p.width, p.height));
        let nw = non_white_fraction(&rgb);
        assert!(nw > 0.05, "{}: only {nw} non-white", p.title);
        for g in &p.gates {
            if g.name == "DP" {
                // Boolean gate: no outline, but labelled.
                assert!(g.outline_pixels.is_empty());
                assert!(g.label.starts_with("DP "), "{}", g.label);
                continue;
            }
            assert!(
                g.outline_pixels.len() >= 2,
                "{}: gate {} has no outline on the view",
                p.title,
                g.name
            );
            // Each drawn segment's midpoint is covered by the gate colour
            // (pure black, used for nothing else) within one pixel.
            let black_at = |x: i32, y: i32| {
                (-1..=1).any(|dy| {
                    (-1..=1).any(|dx| {
                        let (xx, yy) = (x + dx, y + dy);
                        if xx < 0 || yy < 0 || xx >= w as i32 || yy >= h as i32 {
                            return false;
                        }
                        let o = (yy as usize * w as usize + xx as usize) * 3;
                        rgb[o..o + 3] == [0, 0, 0]
                    })
                })
            };
            let hits = g
                .outline_pixels
                .iter()
                .filter(|&&(x, y)| black_at(x, y))
                .count();
            assert!(
                hits * 10 >= g.outline_pixels.len() * 9,
                "{}: gate {}: only {hits}/{} outline points are black",
                p.title,
                g.name,
                g.outline_pixels.len()
            );
        }
    }
    // Gate labels carry the counts and % of parent the spec gave.
    let PlotOutcome::Drawn(nkplot) = &r.plots[1] else {
        panic!()
    };
    let nk_label = &nkplot.gates[0].label;
    let pct = 100.0 * count(&s.nk) as f64 / count(&s.lymph) as f64;
    assert!(nk_label.contains(&format!("({pct:.1}%)")), "{nk_label}");
    // The flow-rate plot shades the removed interval.
    let Some(PlotOutcome::Drawn(fr)) = &r.flow_rate else {
        panic!()
    };
    let (_, _, rgb) = decode(&fr.png);
    assert!(
        rgb.chunks(3).any(|p| p == [255, 205, 205]),
        "no shaded interval"
    );
}

#[test]
fn a_missing_column_or_population_is_reported_in_place_of_the_plot() {
    let s = synthetic(2_000, 3);
    let mut report = sample_report("odd.fcs", 0, &s);
    if let nkflow::report::PlotSpec::Density(d) = &mut report.plots[1] {
        d.x.column = "CD3-missing".into();
    }
    if let nkflow::report::PlotSpec::Histogram(h) = &mut report.plots[3] {
        h.parent = "NoSuchPopulation".into();
    }
    let r = render_sample(&report, RenderOptions::default());
    let failed: Vec<_> = r
        .plots
        .iter()
        .filter_map(|p| match p {
            PlotOutcome::Failed { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].contains("CD3-missing") && failed[0].contains("FSC-A"));
    assert!(failed[1].contains("NoSuchPopulation"));
    assert_eq!(r.warnings.len(), 2);
}

/// All `attr="…"` values in a document.
fn attr_values(doc: &str, attr: &str) -> Vec<String> {
    let pat = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&pat) {
        rest = &rest[i + pat.len()..];
        if let Some(j) = rest.find('"') {
            out.push(rest[..j].to_string());
            rest = &rest[j..];
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Checks an HTML file is self-contained and each link resolves; returns
/// the relative pages it links to.
fn check_links(path: &Path) -> Vec<PathBuf> {
    let doc = std::fs::read_to_string(path).unwrap();
    for bad in ["http:", "https:", "file:", "url("] {
        assert!(!doc.contains(bad), "{}: contains {bad}", path.display());
    }
    let ids: HashSet<String> = attr_values(&doc, "id").into_iter().collect();
    for src in attr_values(&doc, "src") {
        assert!(src.starts_with("data:image/png;base64,"), "src {src:.60}");
    }
    let mut pages = Vec::new();
    for href in attr_values(&doc, "href") {
        let href = unescape(&href);
        assert!(
            !href.starts_with("//") && !href.starts_with('/'),
            "href {href}"
        );
        assert!(!href.contains(':'), "href {href}");
        let (file, frag) = href
            .split_once('#')
            .map_or((href.as_str(), None), |(f, a)| (f, Some(a)));
        if file.is_empty() {
            let frag = frag.unwrap();
            assert!(
                ids.contains(frag),
                "{}: #{frag} has no target",
                path.display()
            );
        } else {
            let target = path.parent().unwrap().join(file);
            assert!(
                target.is_file(),
                "{}: link {href} does not resolve",
                path.display()
            );
            if let Some(frag) = frag {
                let t = std::fs::read_to_string(&target).unwrap();
                assert!(t.contains(&format!("id=\"{frag}\"")), "{href}: no #{frag}");
            }
            pages.push(target);
        }
    }
    pages
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[test]
fn report_html_is_self_contained_and_shows_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let files = small_batch(tmp.path());
    assert!(files.pages.is_empty());
    let doc = std::fs::read_to_string(&files.html).unwrap();
    // Every sample under its exact file name, in input order.
    let names = [
        "P01 <day30>.fcs",
        "P02&co.fcs",
        "P03.fcs",
        "P04-truncated.fcs",
        "P05 no row.fcs",
    ];
    let mut last = 0;
    for n in names {
        let h = format!("<h2>{}</h2>", html_escape(n));
        let at = doc.find(&h).unwrap_or_else(|| panic!("no section for {n}"));
        assert!(at > last, "{n} out of order");
        last = at;
    }
    // The failed file: its error, no plots, red row in the summary.
    let sec = &doc[doc.find("data-file=\"P04-truncated.fcs\"").unwrap()..];
    let sec = &sec[..sec.find("</section>").unwrap()];
    assert!(sec.contains("Error: P04-truncated.fcs: DATA: segment ends at byte 81234"));
    assert!(!sec.contains("<img"));
    assert!(doc.contains("<tr class=\"failed\">"));
    // The flagged file: highlighted row and its flags.
    assert!(doc.contains("<tr class=\"flagged\">"));
    assert!(doc.contains("<span class=\"flag\">valley_not_found:NKG2C</span>"));
    // The row-less file: warning shown, plots still there.
    let sec = &doc[doc.find("data-file=\"P05 no row.fcs\"").unwrap()..];
    let sec = &sec[..sec.find("</section>").unwrap()];
    assert!(sec.contains("no samplesheet row"));
    assert_eq!(sec.matches("<img").count(), 5);
    // Every figure drew exactly its parent's events; all gates present.
    let parents = attr_values(&doc, "data-parent-count");
    let plotted = attr_values(&doc, "data-events-plotted");
    assert_eq!(parents, plotted);
    let gates = attr_values(&doc, "data-gate");
    for g in [
        "Lymphocytes",
        "Monocytes",
        "NK",
        "NKG2C+KIR+",
        "NKG2C−KIR−",
        "NKG2C+",
        "DP",
    ] {
        assert_eq!(
            gates.iter().filter(|x| x.as_str() == g).count(),
            4,
            "gate {g}"
        );
    }
    // Cohort plot and FlowSOM heatmap present, images all decode.
    assert!(doc.contains("data-kind=\"cohort\""));
    assert!(doc.contains("data-kind=\"flowsom\""));
    for src in attr_values(&doc, "src") {
        use base64::Engine as _;
        let b64 = src.trim_start_matches("data:image/png;base64,");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let (_, _, rgb) = decode(&bytes);
        assert!(non_white_fraction(&rgb) > 0.01);
    }
    assert!(check_links(&files.html).is_empty());
    // PNGs also under plots/: 4 samples × (4 plots + flow rate) + cohort + heatmap.
    assert_eq!(files.pngs.len(), 4 * 5 + 2);
    for p in &files.pngs {
        assert!(p.starts_with(tmp.path().join("plots")));
        decode(&std::fs::read(p).unwrap());
    }
    if let Some(keep) = std::env::var_os("NKFLOW_KEEP_REPORT") {
        let dst = PathBuf::from(keep);
        std::fs::create_dir_all(&dst).unwrap();
        copy_dir(tmp.path(), &dst);
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

#[test]
fn large_batches_get_relative_per_sample_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let s = synthetic(1_500, 11);
    let builder = ReportBuilder::new(ReportOptions {
        write_pngs: false,
        ..Default::default()
    })
    .unwrap();
    // 51 samples, pushed from several threads in any order.
    use rayon::prelude::*;
    (0..51usize).into_par_iter().for_each(|k| {
        let name = format!("S{k:03} #{}.fcs", k % 3);
        builder.add(&sample_report(&name, k, &s));
    });
    let files = builder.finish(tmp.path(), &BatchInfo::default()).unwrap();
    assert_eq!(files.pages.len(), 51);
    let linked = check_links(&files.html);
    assert_eq!(linked.len(), 51);
    let doc = std::fs::read_to_string(&files.html).unwrap();
    assert!(
        !doc.contains("<img"),
        "the index page embeds no sample plots"
    );
    for (k, page) in linked.iter().enumerate() {
        assert!(page.starts_with(tmp.path().join("report")));
        let back = check_links(page);
        assert_eq!(back, [page.parent().unwrap().join("../report.html")]);
        let p = std::fs::read_to_string(page).unwrap();
        assert!(
            p.contains(&format!("<h2>S{k:03} #{}.fcs</h2>", k % 3)),
            "{}",
            page.display()
        );
        assert_eq!(p.matches("<img").count(), 5);
    }
}

#[test]
fn a_rerun_removes_the_previous_reports_plots_and_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let s = synthetic(1_500, 12);
    let write = |names: &[&str], split_over: usize| {
        let builder = ReportBuilder::new(ReportOptions {
            split_over,
            ..Default::default()
        })
        .unwrap();
        for (k, name) in names.iter().enumerate() {
            builder.add(&sample_report(name, k, &s));
        }
        builder.finish(tmp.path(), &BatchInfo::default()).unwrap()
    };
    let first = write(&["OLD1.fcs", "KEEP.fcs"], 1);
    assert!(first.pages.len() == 2 && !first.pngs.is_empty());
    // Something of the user's in plots/ is not ours to delete.
    let notes = tmp.path().join("plots").join("notes.txt");
    std::fs::write(&notes, "mine").unwrap();
    let second = write(&["KEEP.fcs"], 50);
    let mut on_disk = Vec::new();
    for dir in [tmp.path().join("plots"), tmp.path().join("report")] {
        for e in walk(&dir) {
            if e.extension().is_some_and(|x| x == "png" || x == "html") {
                on_disk.push(e);
            }
        }
    }
    on_disk.sort();
    let mut want = second.pngs.clone();
    want.extend(second.pages.iter().cloned());
    want.sort();
    assert_eq!(on_disk, want, "only this report's plots and pages remain");
    assert!(!second.pngs.is_empty() && second.pages.is_empty());
    assert!(notes.exists());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
