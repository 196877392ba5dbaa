//! Looks at the report as a user would: headless Chromium renders
//! report.html to a PNG screenshot, which must show the page (not blank,
//! with the report's colours: the summary's flagged/failed rows and the
//! density plots). Runs when `/usr/bin/chromium` exists; under `CI=true`
//! it must (`.ci/run` installs Debian's chromium).
//!
//! Set `NKFLOW_KEEP_SCREENSHOT=path.png` to keep the screenshot.

mod report_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium() -> Option<&'static Path> {
    let p = Path::new(CHROMIUM);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{CHROMIUM} is missing (CI=true: .ci/run must install Debian's chromium)");
    }
    eprintln!("SKIP: {CHROMIUM} not installed");
    None
}

/// Runs chromium with a hard time limit (a hung browser must not hang CI).
fn screenshot(browser: &Path, html: &Path, png: &Path, profile: &Path, height: u32) {
    let url = format!("file://{}", html.canonicalize().unwrap().display());
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size=1400,{height}"))
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(
                status.success() && png.exists(),
                "chromium failed ({status}): {err}"
            );
            return;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let f = std::fs::File::open(path).unwrap();
    let mut dec = png::Decoder::new(f);
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(ch)
        .map(|p| {
            if ch >= 3 {
                [p[0], p[1], p[2]]
            } else {
                [p[0], p[0], p[0]]
            }
        })
        .collect();
    (info.width, info.height, px)
}

#[test]
fn chromium_renders_the_report_with_content() {
    let Some(browser) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let files = report_support::small_batch(tmp.path());
    let shot = tmp.path().join("shot.png");
    let profile = tmp.path().join("profile");
    screenshot(browser, &files.html, &shot, &profile, 2000);
    let (w, h, px) = decode(&shot);
    assert_eq!((w, h), (1400, 2000));
    // Not blank: many distinct colours, a good share of non-background.
    let bg = [250, 250, 250];
    let non_bg = px
        .iter()
        .filter(|p| **p != bg && **p != [255, 255, 255])
        .count();
    assert!(
        non_bg * 20 > px.len(),
        "only {non_bg} of {} pixels differ from the background",
        px.len()
    );
    let mut colours: Vec<[u8; 3]> = px.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 200,
        "only {} colours: blank or unstyled page",
        colours.len()
    );
    // The summary's highlighted rows (CSS #fff4d6 flagged, #fde0e0 failed)
    // and the plots' density colours are on screen.
    assert!(
        px.contains(&[0xff, 0xf4, 0xd6]),
        "no flagged row highlight visible"
    );
    assert!(
        px.contains(&[0xfd, 0xe0, 0xe0]),
        "no failed row highlight visible"
    );
    let hot = px
        .iter()
        .filter(|p| p[0] > 200 && p[1] < 60 && p[2] < 60)
        .count();
    let blue = px
        .iter()
        .filter(|p| p[2] > 180 && p[0] < 60 && p[1] < 80)
        .count();
    assert!(
        hot > 20 && blue > 100,
        "density colours missing (red {hot}, blue {blue})"
    );
    if let Some(keep) = std::env::var_os("NKFLOW_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
