//! Drawing primitives shared by every plot: an RGB pixel buffer that plotters
//! draws text and lines into, the plot frame (data → pixel), axes with ticks,
//! segment clipping and PNG encoding.
//!
//! Why not plotters' chart builder: report axes need ticks at data values
//! mapped through an arbitrary transform, labels dropped where they would
//! collide, and density pixels written straight into the buffer (one write
//! per pixel instead of one draw call per bin). Plotters still does what it
//! is good at: anti-aliased text from the embedded DejaVu Sans font (no
//! system fontconfig needed), thick lines and shapes.

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use crate::report::axis::{declutter, ticks, AxisScale};

/// The font every label is drawn with (DejaVu Sans 2.37 from Debian's
/// fonts-dejavu-core; licence in `assets/fonts/DejaVu-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters once per process.
pub(crate) fn ensure_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .map_err(|_| "the embedded DejaVu Sans font could not be parsed".to_string())
    })
    .clone()
}

/// Colour of gate outlines: pure black, used by nothing else, so a test (or
/// an eye) can tell an outline from axes and text.
pub const GATE: RGBColor = RGBColor(0, 0, 0);
/// Axes, ticks and text.
pub const INK: RGBColor = RGBColor(45, 45, 45);

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Converts a plotters error into the report's message string.
pub(crate) fn perr<E: std::fmt::Display>(e: E) -> String {
    format!("drawing failed: {e}")
}

/// An RGB image being drawn.
pub(crate) struct Canvas {
    pub width: u32,
    pub height: u32,
    pub buf: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: u32, height: u32) -> Self {
        Canvas {
            width,
            height,
            buf: vec![255; width as usize * height as usize * 3],
        }
    }

    /// Fills a pixel rectangle `[x0, x1) × [y0, y1)` directly in the buffer.
    pub fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        let (w, h) = (self.width as i64, self.height as i64);
        let (x0, x1) = (x0.clamp(0, w), x1.clamp(0, w));
        let (y0, y1) = (y0.clamp(0, h), y1.clamp(0, h));
        for y in y0..y1 {
            let row = (y * w) as usize * 3;
            for x in x0..x1 {
                let o = row + x as usize * 3;
                if let Some(px) = self.buf.get_mut(o..o + 3) {
                    px.copy_from_slice(&c);
                }
            }
        }
    }

    /// Runs plotters drawing code on the buffer.
    pub fn draw(&mut self, f: impl FnOnce(&Area<'_>) -> Result<(), String>) -> Result<(), String> {
        ensure_font()?;
        let (w, h) = (self.width, self.height);
        let area = BitMapBackend::with_buffer(&mut self.buf, (w, h)).into_drawing_area();
        f(&area)?;
        area.present().map_err(perr)
    }

    /// Encodes the buffer as a PNG: indexed colour (1 byte per pixel, a
    /// third of the RGB size before compression) when the image has at most
    /// 256 colours, which plots do once anti-aliased greys are snapped to 16
    /// levels (invisible; pure black and white stay exact); RGB otherwise
    /// (heatmaps with text on many cell colours: unsnapped).
    pub fn to_png(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(self.buf.len() / 16);
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let indexed = palette(&self.buf);
        match &indexed {
            Some((pal, _)) => {
                enc.set_color(png::ColorType::Indexed);
                enc.set_palette(pal.clone());
            }
            None => enc.set_color(png::ColorType::Rgb),
        }
        let mut w = enc.write_header().map_err(|e| format!("PNG header: {e}"))?;
        let data = indexed.as_ref().map_or(&self.buf[..], |(_, idx)| &idx[..]);
        w.write_image_data(data)
            .map_err(|e| format!("PNG data: {e}"))?;
        w.finish().map_err(|e| format!("PNG end: {e}"))?;
        Ok(out)
    }
}

/// Snaps a near-grey pixel (text anti-aliasing on white) to 16 levels;
/// pure black and white stay exact.
#[inline]
fn snap_grey(px: [u8; 3]) -> [u8; 3] {
    let (lo, hi) = (px[0].min(px[1]).min(px[2]), px[0].max(px[1]).max(px[2]));
    if hi - lo <= 2 && lo != 0 && hi != 255 {
        let v = ((px[1] as u16 + 8) / 17 * 17).min(255) as u8;
        [v, v, v]
    } else {
        px
    }
}

/// `(palette RGB triples, one index per pixel)` when ≤ 256 colours.
///
/// An open-addressing table keyed by the 24-bit colour (1024 slots for at
/// most 256 colours, so probes stay short): this runs once per pixel of
/// every plot, where a SipHash map was a tenth of the render time.
fn palette(buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const SLOTS: usize = 1024;
    // Slot content: colour + 1 in the low 25 bits (0 = empty), index above.
    let mut table = [0u64; SLOTS];
    let mut pal = Vec::with_capacity(256 * 3);
    let mut idx = Vec::with_capacity(buf.len() / 3);
    let mut n = 0usize;
    let mut last = (u32::MAX, 0u8);
    for px in buf.chunks_exact(3) {
        let raw = (px[0] as u32) << 16 | (px[1] as u32) << 8 | px[2] as u32;
        // Runs of one colour are the common case: no snapping, no lookup.
        if raw == last.0 {
            idx.push(last.1);
            continue;
        }
        let px = snap_grey([px[0], px[1], px[2]]);
        let c = (px[0] as u32) << 16 | (px[1] as u32) << 8 | px[2] as u32;
        let key = c as u64 + 1;
        let mut slot = (c.wrapping_mul(0x9E37_79B1) >> 22) as usize % SLOTS;
        let i = loop {
            let e = table[slot];
            if e == 0 {
                if n == 256 {
                    return None;
                }
                table[slot] = key | (n as u64) << 32;
                pal.extend_from_slice(&[px[0], px[1], px[2]]);
                n += 1;
                break (n - 1) as u8;
            }
            if e & 0xFFFF_FFFF == key {
                break (e >> 32) as u8;
            }
            slot = (slot + 1) % SLOTS;
        };
        last = (raw, i);
        idx.push(i);
    }
    Some((pal, idx))
}

/// Text style helper.
pub(crate) fn style(size: f64, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle {
        font: (FAMILY, size).into_font(),
        color: color.to_backend_color(),
        pos: Pos::new(h, v),
    }
}

/// Draws a text at a pixel position with the given anchor.
pub(crate) fn text(
    area: &Area<'_>,
    s: &str,
    (x, y): (i32, i32),
    size: f64,
    color: RGBColor,
    (h, v): (HPos, VPos),
) -> Result<(), String> {
    area.draw_text(s, &style(size, color, h, v), (x, y))
        .map_err(perr)
}

/// Draws a text rotated to read bottom-to-top, centred on `(x, y)`.
pub(crate) fn text_vertical(
    area: &Area<'_>,
    s: &str,
    (x, y): (i32, i32),
    size: f64,
) -> Result<(), String> {
    let st = style(size, INK, HPos::Center, VPos::Center).transform(FontTransform::Rotate270);
    area.draw_text(s, &st, (x, y)).map_err(perr)
}

/// Pixel width of a text.
pub(crate) fn text_width(area: &Area<'_>, s: &str, size: f64) -> f64 {
    area.estimate_text_size(s, &style(size, INK, HPos::Left, VPos::Top))
        .map(|(w, _)| w as f64)
        .unwrap_or(s.chars().count() as f64 * size * 0.6)
}

/// A text on a translucent white box, so a gate label stays readable over
/// the density colours.
pub(crate) fn label_box(
    area: &Area<'_>,
    s: &str,
    (x, y): (i32, i32),
    size: f64,
    (h, v): (HPos, VPos),
) -> Result<(), String> {
    let w = text_width(area, s, size) as i32;
    let ht = (size * 1.15) as i32;
    let x0 = match h {
        HPos::Left => x,
        HPos::Center => x - w / 2,
        HPos::Right => x - w,
    };
    let y0 = match v {
        VPos::Top => y,
        VPos::Center => y - ht / 2,
        VPos::Bottom => y - ht,
    };
    // Opaque: a translucent box would blend into hundreds of colours and
    // defeat the palette PNG.
    area.draw(&Rectangle::new(
        [(x0 - 2, y0 - 1), (x0 + w + 2, y0 + ht + 1)],
        WHITE.filled(),
    ))
    .map_err(perr)?;
    text(
        area,
        s,
        (x0, y0 + ht / 2),
        size,
        INK,
        (HPos::Left, VPos::Center),
    )
}

/// A resolved axis: its scale and the visible range on the plotted coordinate.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub scale: AxisScale,
    pub lo: f64,
    pub hi: f64,
    pub title: String,
}

/// Where a plot's data rectangle sits on the canvas, and how plotted
/// coordinates map onto it.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// Left pixel column of the data rectangle.
    pub left: i32,
    /// Top pixel row.
    pub top: i32,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    pub x: Axis,
    pub y: Axis,
}

impl Frame {
    /// Pixel column (fractional) of a plotted x coordinate.
    pub fn px(&self, v: f64) -> f64 {
        self.left as f64 + (v - self.x.lo) / (self.x.hi - self.x.lo) * self.width as f64
    }

    /// Pixel row (fractional) of a plotted y coordinate (up is larger).
    pub fn py(&self, v: f64) -> f64 {
        (self.top + self.height) as f64
            - (v - self.y.lo) / (self.y.hi - self.y.lo) * self.height as f64
    }

    /// Clips a pixel segment to the data rectangle (Liang–Barsky); `None`
    /// when it lies wholly outside.
    pub fn clip(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (xmin, xmax) = (self.left as f64, (self.left + self.width) as f64);
        let (ymin, ymax) = (self.top as f64, (self.top + self.height) as f64);
        clip_segment(a, b, (xmin, ymin, xmax, ymax))
    }

    /// Draws the frame, ticks, tick labels and axis titles.
    pub fn draw_axes(&self, area: &Area<'_>) -> Result<(), String> {
        let (l, t, w, h) = (self.left, self.top, self.width, self.height);
        area.draw(&Rectangle::new(
            [(l - 1, t - 1), (l + w, t + h)],
            INK.stroke_width(1),
        ))
        .map_err(perr)?;
        // x ticks
        let xt = ticks(&self.x.scale, self.x.lo, self.x.hi);
        let widths: Vec<f64> = xt
            .iter()
            .map(|tk| {
                tk.label
                    .as_deref()
                    .map_or(0.0, |s| text_width(area, s, 11.0))
            })
            .collect();
        let keep = declutter(&xt, |p| self.px(p), &widths);
        let room = spaced(&xt, |p| self.px(p));
        for ((tk, &k), &r) in xt.iter().zip(&keep).zip(&room) {
            if !r {
                continue;
            }
            let x = self.px(tk.position).round() as i32;
            let len = if tk.major { 5 } else { 3 };
            area.draw(&PathElement::new(vec![(x, t + h), (x, t + h + len)], INK))
                .map_err(perr)?;
            if let (true, Some(s)) = (k, &tk.label) {
                text(
                    area,
                    s,
                    (x, t + h + 7),
                    11.0,
                    INK,
                    (HPos::Center, VPos::Top),
                )?;
            }
        }
        // y ticks (labels are horizontal; their height is what may collide)
        let yt = ticks(&self.y.scale, self.y.lo, self.y.hi);
        let heights = vec![12.0; yt.len()];
        let keep = declutter(&yt, |p| self.py(p), &heights);
        let room = spaced(&yt, |p| self.py(p));
        for ((tk, &k), &r) in yt.iter().zip(&keep).zip(&room) {
            if !r {
                continue;
            }
            let y = self.py(tk.position).round() as i32;
            let len = if tk.major { 5 } else { 3 };
            area.draw(&PathElement::new(vec![(l - 1 - len, y), (l - 1, y)], INK))
                .map_err(perr)?;
            if let (true, Some(s)) = (k, &tk.label) {
                text(area, s, (l - 8, y), 11.0, INK, (HPos::Right, VPos::Center))?;
            }
        }
        text(
            area,
            &self.x.title,
            (l + w / 2, t + h + 24),
            12.0,
            INK,
            (HPos::Center, VPos::Top),
        )?;
        let ytitle_x = (l - 50).max(8);
        text_vertical(area, &self.y.title, (ytitle_x, t + h / 2), 12.0)
    }

    /// Draws a polyline of plotted coordinates clipped to the data
    /// rectangle; returns pixels on the drawn segments, about every 8 px
    /// (the outline's evidence for tests). Non-finite points split the line.
    pub fn draw_polyline(
        &self,
        area: &Area<'_>,
        pts: &[(f64, f64)],
        color: RGBColor,
        width: u32,
    ) -> Result<Vec<(i32, i32)>, String> {
        let mut evidence = Vec::new();
        let mut run: Vec<(i32, i32)> = Vec::new();
        let flush = |run: &mut Vec<(i32, i32)>| -> Result<(), String> {
            if run.len() >= 2 {
                area.draw(&PathElement::new(
                    std::mem::take(run),
                    ShapeStyle {
                        color: color.to_rgba(),
                        filled: false,
                        stroke_width: width,
                    },
                ))
                .map_err(perr)?;
            }
            run.clear();
            Ok(())
        };
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let pa = (self.px(a.0), self.py(a.1));
            let pb = (self.px(b.0), self.py(b.1));
            let finite =
                pa.0.is_finite() && pa.1.is_finite() && pb.0.is_finite() && pb.1.is_finite();
            match finite.then(|| self.clip(pa, pb)).flatten() {
                Some((ca, cb)) => {
                    let ia = (ca.0.round() as i32, ca.1.round() as i32);
                    let ib = (cb.0.round() as i32, cb.1.round() as i32);
                    if run.last() != Some(&ia) {
                        flush(&mut run)?;
                        run.push(ia);
                    }
                    run.push(ib);
                    // Evidence: points every ~8 px along the segment
                    // (at least its midpoint).
                    let len = ((cb.0 - ca.0).powi(2) + (cb.1 - ca.1).powi(2)).sqrt();
                    let k = ((len / 8.0).floor() as usize).max(1);
                    for s in 0..k {
                        let f = (s as f64 + 0.5) / k as f64;
                        evidence.push((
                            (ca.0 + f * (cb.0 - ca.0)).round() as i32,
                            (ca.1 + f * (cb.1 - ca.1)).round() as i32,
                        ));
                    }
                }
                None => flush(&mut run)?,
            }
        }
        flush(&mut run)?;
        Ok(evidence)
    }
}

/// Which ticks to draw at all: every major tick, and a minor tick only when
/// at least 3 px from the last drawn tick and from the next major one (on
/// logicle/asinh axes the minor ticks of small decades pile up near zero).
fn spaced(ticks: &[crate::report::axis::Tick], pixel_of: impl Fn(f64) -> f64) -> Vec<bool> {
    let px: Vec<f64> = ticks.iter().map(|t| pixel_of(t.position)).collect();
    let mut keep = vec![false; ticks.len()];
    let mut last = f64::NEG_INFINITY;
    for i in 0..ticks.len() {
        if ticks[i].major {
            keep[i] = true;
            last = px[i];
            continue;
        }
        let next_major = (i + 1..ticks.len())
            .find(|&j| ticks[j].major)
            .map_or(f64::INFINITY, |j| px[j]);
        if (px[i] - last).abs() >= 3.0 && (next_major - px[i]).abs() >= 3.0 {
            keep[i] = true;
            last = px[i];
        }
    }
    keep
}

/// Liang–Barsky clipping of segment `a→b` to `(xmin, ymin, xmax, ymax)`.
pub(crate) fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (xmin, ymin, xmax, ymax): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-dx, a.0 - xmin),
        (dx, xmax - a.0),
        (-dy, a.1 - ymin),
        (dy, ymax - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// The FlowJo-like pseudocolour ramp: blue (sparse) → cyan → green →
/// yellow → red (dense), for `t` in `[0, 1]`.
pub(crate) fn pseudocolor(t: f64) -> [u8; 3] {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [30.0, 40.0, 210.0]),
        (0.25, [0.0, 170.0, 255.0]),
        (0.5, [20.0, 200.0, 60.0]),
        (0.75, [255.0, 215.0, 0.0]),
        (1.0, [225.0, 20.0, 20.0]),
    ];
    ramp(&STOPS, t)
}

/// A diverging-free sequential ramp for heatmaps (dark blue → yellow).
pub(crate) fn heatcolor(t: f64) -> [u8; 3] {
    const STOPS: [(f64, [f64; 3]); 4] = [
        (0.0, [49.0, 54.0, 149.0]),
        (0.4, [116.0, 173.0, 209.0]),
        (0.7, [254.0, 224.0, 144.0]),
        (1.0, [215.0, 48.0, 39.0]),
    ];
    ramp(&STOPS, t)
}

fn ramp(stops: &[(f64, [f64; 3])], t: f64) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for w in stops.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
            return [0, 1, 2].map(|i| (c0[i] + f * (c1[i] - c0[i])).round() as u8);
        }
    }
    stops.last().map_or([0, 0, 0], |(_, c)| c.map(|v| v as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping() {
        let r = (0.0, 0.0, 10.0, 10.0);
        assert_eq!(
            clip_segment((-5.0, 5.0), (15.0, 5.0), r),
            Some(((0.0, 5.0), (10.0, 5.0)))
        );
        assert_eq!(clip_segment((-5.0, -5.0), (-1.0, 20.0), r), None);
        assert_eq!(
            clip_segment((1.0, 1.0), (2.0, 2.0), r),
            Some(((1.0, 1.0), (2.0, 2.0)))
        );
    }

    #[test]
    fn ramps_hit_their_stops() {
        assert_eq!(pseudocolor(0.0), [30, 40, 210]);
        assert_eq!(pseudocolor(1.0), [225, 20, 20]);
        assert_eq!(pseudocolor(f64::NAN), [30, 40, 210]);
        assert!(pseudocolor(0.6) != GATE_RGB);
    }

    const GATE_RGB: [u8; 3] = [0, 0, 0];

    #[test]
    fn font_loads_and_text_draws() {
        let mut c = Canvas::new(80, 30);
        c.draw(|a| text(a, "10³", (5, 15), 14.0, INK, (HPos::Left, VPos::Center)))
            .unwrap();
        assert!(c.buf.iter().any(|&v| v < 200));
        let png = c.to_png().unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
