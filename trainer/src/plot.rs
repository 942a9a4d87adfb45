//! PNG plots: training curves and spike rasters.
//!
//! Everything is drawn with `plotters`' bitmap backend. Text is rendered with
//! `ab_glyph` from the DejaVu Sans font embedded in the binary (crate
//! `dejavu`), so no system fonts or fontconfig are needed: the plots render
//! the same on a bare CI machine as on a desktop.
//!
//! Bad numbers never panic: non-finite values (and non-positive ones on a log
//! axis) are skipped, spikes outside the time axis or beyond the panel's rows
//! are dropped, and empty inputs give an empty, labelled chart.

use std::fmt::Display;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::error::{Error, Result};

/// Width and height of [`curves`] images, in pixels.
const CURVES_SIZE: (u32, u32) = (900, 600);
/// Width of [`spike_raster`] images, in pixels.
const RASTER_WIDTH: u32 = 1100;
/// Width of the legend column right of each raster panel.
const RASTER_LEGEND_WIDTH: u32 = 150;
/// Font family used for every text; registered by [`ensure_font`].
const FONT: &str = "sans-serif";

/// Line colours of [`curves`] (matplotlib's "tab10").
const CURVE_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Tick colours of [`spike_raster`] layers: the first is dark (drawn in front,
/// short ticks), the others light (drawn behind, taller and wider ticks).
const LAYER_COLORS: [RGBColor; 5] = [
    RGBColor(20, 30, 110),
    RGBColor(255, 160, 60),
    RGBColor(110, 200, 110),
    RGBColor(230, 120, 200),
    RGBColor(120, 190, 230),
];

/// One named curve over epochs (x = epoch index starting at the given first epoch).
///
/// `values[i]` is plotted at epoch `i + 1`; non-finite values leave a gap.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Legend label; an empty label gets no legend entry.
    pub label: &'a str,
    /// One value per epoch, the first at epoch 1.
    pub values: &'a [f64],
}

/// One group of spike rows in a raster figure.
#[derive(Debug, Clone)]
pub struct RasterPanel<'a> {
    /// Caption drawn above the panel.
    pub title: &'a str,
    /// Number of rows (neurons); rows are numbered from 0 at the bottom.
    pub rows: usize,
    /// Spike layers, each in its own colour. The first layer is drawn in front
    /// with short dark ticks; later layers are drawn behind it with taller,
    /// wider ticks in light colours (pass `[output, target]` so that targets
    /// show as light bars behind the output spikes).
    pub layers: Vec<RasterLayer<'a>>,
}

/// Spikes drawn in one colour with a legend label; `spikes` are (time_ms, row) pairs.
#[derive(Debug, Clone, Copy)]
pub struct RasterLayer<'a> {
    /// Legend label; an empty label gets no legend entry.
    pub label: &'a str,
    /// `(time in ms, row)` pairs; spikes with a non-finite time, a time outside
    /// `[0, duration_ms]` or a row `>= rows` are not drawn. The legend shows
    /// the number of spikes drawn.
    pub spikes: &'a [(f64, u32)],
}

/// Registers the embedded DejaVu Sans as the `sans-serif` family, once per process.
fn ensure_font(path: &Path) -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "embedded DejaVu Sans font could not be parsed".to_string())?;
            register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "embedded DejaVu Sans Bold font could not be parsed".to_string())
        })
        .clone()
        .map_err(|msg| plot_err(path, msg))
}

/// Wraps a drawing error as [`Error::Plot`].
fn plot_err(path: &Path, e: impl Display) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Formats an axis value compactly: `0.25`, `1200`, `1e-4`, `3.5e6`.
fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 {
            "0".to_string()
        } else {
            v.to_string()
        };
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        let s = format!("{v:.2e}");
        // "1.50e-4" -> "1.5e-4", "1.00e6" -> "1e6"
        match s.split_once('e') {
            Some((m, e)) => {
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            }
            None => s,
        }
    }
}

/// Formats an integer-valued tick; other ticks get no label.
fn fmt_int_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// Line chart of one or more series against epoch, e.g. train/validation loss. `log_y` uses a log10 axis
/// (skip non-positive values then). Non-finite values are skipped, never a panic. Size 900x600.
///
/// `values[i]` of each series is drawn at epoch `i + 1`; skipped values leave
/// gaps in the line. The image format follows the extension of `path`
/// (use `.png`). Fails with [`Error::Plot`] if the file cannot be written.
pub fn curves(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    log_y: bool,
) -> Result<()> {
    ensure_font(path)?;
    let keep = |v: f64| v.is_finite() && (!log_y || v > 0.0);
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|&v| keep(v))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let has_data = lo <= hi;
    let x_range = if n <= 1 { 0..2 } else { 1..n as i64 };
    let x_labels = n.clamp(2, 12);

    let root = BitMapBackend::new(path, CURVES_SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    if log_y {
        let (lo, hi) = match (has_data, lo < hi) {
            (false, _) => (0.1, 10.0),
            (true, false) => (lo / 2.0, hi * 2.0),
            (true, true) => {
                // A little headroom in log space.
                let pad = (hi / lo).powf(0.05);
                (lo / pad, hi * pad)
            }
        };
        draw_curves(
            &root,
            path,
            title,
            y_label,
            series,
            &keep,
            x_range,
            x_labels,
            (lo..hi).log_scale(),
        )?;
    } else {
        let (lo, hi) = match (has_data, lo < hi) {
            (false, _) => (0.0, 1.0),
            (true, false) => {
                let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
                (lo - pad, hi + pad)
            }
            (true, true) => {
                let pad = (hi - lo) * 0.05;
                // Keep a non-negative quantity (a loss) from dipping below zero.
                let bottom = if lo >= 0.0 {
                    (lo - pad).max(0.0)
                } else {
                    lo - pad
                };
                (bottom, hi + pad)
            }
        };
        draw_curves(
            &root,
            path,
            title,
            y_label,
            series,
            &keep,
            x_range,
            x_labels,
            lo..hi,
        )?;
    }
    root.present().map_err(|e| plot_err(path, e))
}

/// Draws the chart of [`curves`] on `root` with the y axis `y_range`
/// (linear or logarithmic).
#[allow(clippy::too_many_arguments)]
fn draw_curves<Y>(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    keep: &dyn Fn(f64) -> bool,
    x_range: std::ops::Range<i64>,
    x_labels: usize,
    y_range: Y,
) -> Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<_>| plot_err(path, e);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(x_range, y_range)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .x_labels(x_labels)
        .y_labels(10)
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(err)?;

    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let markers = n <= 60;
    let mut any_label = false;
    for (i, s) in series.iter().enumerate() {
        let color = CURVE_COLORS[i % CURVE_COLORS.len()];
        let line = color.stroke_width(2);
        // Split at skipped values so that gaps stay visible.
        let mut segments: Vec<Vec<(i64, f64)>> = vec![Vec::new()];
        for (j, &v) in s.values.iter().enumerate() {
            if keep(v) {
                if let Some(seg) = segments.last_mut() {
                    seg.push((j as i64 + 1, v));
                }
            } else if segments.last().is_some_and(|seg| !seg.is_empty()) {
                segments.push(Vec::new());
            }
        }
        // An empty series carries the legend entry, even when nothing is drawn.
        let legend = chart
            .draw_series(LineSeries::new(std::iter::empty(), line))
            .map_err(err)?;
        if !s.label.is_empty() {
            any_label = true;
            legend.label(s.label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
        }
        for seg in segments.iter().filter(|seg| !seg.is_empty()) {
            chart
                .draw_series(LineSeries::new(seg.iter().copied(), line))
                .map_err(err)?;
            if markers || seg.len() == 1 {
                chart
                    .draw_series(
                        seg.iter()
                            .map(|&p| Circle::new(p, 3, color.filled()).into_dyn()),
                    )
                    .map_err(err)?;
            }
        }
    }
    if any_label {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .margin(12)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Height in pixels of the plotting area of a panel with `rows` rows:
/// grows like `sqrt(rows)` so that a one-row output panel stays visible next
/// to a several-hundred-row input panel.
fn panel_plot_height(rows: usize) -> u32 {
    let h = 26.0 * (rows.max(1) as f64).sqrt();
    h.clamp(56.0, 520.0).round() as u32
}

/// Height of a raster panel's caption.
const PANEL_CAPTION: u32 = 30;
/// Height of a raster panel's x tick labels.
const PANEL_X_LABELS: u32 = 28;
/// Margin around each raster panel.
const PANEL_MARGIN: u32 = 8;
/// Extra room under the last panel for the "time (ms)" axis description.
const X_DESC: u32 = 24;
/// Height of the figure title band.
const TITLE_BAND: u32 = 44;

/// Stacked spike raster: panels top to bottom sharing the time axis [0, duration_ms]; panel heights
/// proportional to sqrt(rows) or similar so a 1-row output panel stays visible next to a 250-row input panel;
/// each spike a short vertical tick (or small dot) at (t, row); different layers in different colours
/// (e.g. "output" vs "target" in the output panel: make target ticks visibly distinct, e.g. taller/behind in a light colour).
///
/// The first layer of a panel is drawn in front with short dark ticks, later
/// layers behind it with taller, wider ticks in light colours; each panel has
/// its legend in a column at its right. A non-finite or non-positive
/// `duration_ms` falls back to the latest spike time (or 1 ms). The image
/// format follows the extension of `path` (use `.png`). Fails with
/// [`Error::Plot`] if the file cannot be written.
pub fn spike_raster(
    path: &Path,
    title: &str,
    duration_ms: f64,
    panels: &[RasterPanel<'_>],
) -> Result<()> {
    ensure_font(path)?;
    let duration = if duration_ms.is_finite() && duration_ms > 0.0 {
        duration_ms
    } else {
        panels
            .iter()
            .flat_map(|p| p.layers.iter())
            .flat_map(|l| l.spikes.iter())
            .map(|&(t, _)| t)
            .filter(|t| t.is_finite() && *t > 0.0)
            .fold(1.0, f64::max)
    };

    let heights: Vec<u32> = panels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let last = i + 1 == panels.len();
            panel_plot_height(p.rows)
                + PANEL_CAPTION
                + PANEL_X_LABELS
                + 2 * PANEL_MARGIN
                + if last { X_DESC } else { 0 }
        })
        .collect();
    let total = TITLE_BAND + heights.iter().sum::<u32>().max(60) + PANEL_MARGIN;

    let root = BitMapBackend::new(path, (RASTER_WIDTH, total)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| plot_err(path, e);
    root.fill(&WHITE).map_err(err)?;
    let body = root
        .titled(title, (FONT, 24).into_font().style(FontStyle::Bold))
        .map_err(err)?;
    // `titled` takes the title's height; the panels are laid out in what remains.
    let mut breaks = Vec::with_capacity(panels.len());
    let mut y = 0i32;
    for h in heights.iter().take(panels.len().saturating_sub(1)) {
        y += *h as i32;
        breaks.push(y);
    }
    let areas =
        body.split_by_breakpoints([RASTER_WIDTH as i32 - RASTER_LEGEND_WIDTH as i32], breaks);
    if panels.is_empty() {
        body.draw(&Text::new(
            "(no panels)",
            (RASTER_WIDTH as i32 / 2 - 40, 20),
            (FONT, 16),
        ))
        .map_err(err)?;
    }
    for (i, panel) in panels.iter().enumerate() {
        let (Some(chart_area), Some(legend_area)) = (areas.get(2 * i), areas.get(2 * i + 1)) else {
            break;
        };
        let last = i + 1 == panels.len();
        draw_panel(chart_area, legend_area, path, panel, duration, last)?;
    }
    root.present().map_err(err)
}

/// Pixel geometry of the ticks of layer `k` when one row is `row_px` pixels high:
/// (half height, stroke width).
fn tick_shape(k: usize, row_px: f64) -> (i32, u32) {
    if k == 0 {
        let half = (row_px * 0.3).round().max(1.0) as i32;
        let width = if row_px >= 6.0 { 2 } else { 1 };
        (half, width)
    } else {
        let half = (row_px * 0.46).round().max(2.0) as i32;
        let width = if row_px >= 6.0 { 5 } else { 3 };
        (half, width)
    }
}

/// Draws one raster panel on `area` and its legend on `legend_area`.
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    legend_area: &DrawingArea<BitMapBackend<'_>, Shift>,
    path: &Path,
    panel: &RasterPanel<'_>,
    duration: f64,
    last: bool,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<_>| plot_err(path, e);
    let rows = panel.rows.max(1);
    let x_area = PANEL_X_LABELS + if last { X_DESC } else { 0 };
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, (FONT, 17))
        .margin(PANEL_MARGIN)
        .margin_left(15)
        .x_label_area_size(x_area)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..duration, -0.5..rows as f64 - 0.5)
        .map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .x_labels(12)
        .y_labels(rows.min(6))
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_int_tick(*v))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .y_desc(if rows == 1 { "" } else { "neuron" });
    if last {
        mesh.x_desc("time (ms)");
    }
    mesh.draw().map_err(err)?;

    let visible =
        |t: f64, r: u32| t.is_finite() && (0.0..=duration).contains(&t) && (r as usize) < rows;
    let plot_h = f64::from(chart.plotting_area().dim_in_pixel().1);
    let row_px = plot_h / rows as f64;
    // Back to front: later (light, tall) layers first, the first layer on top.
    for (k, layer) in panel.layers.iter().enumerate().rev() {
        let color = LAYER_COLORS[k % LAYER_COLORS.len()];
        let (half, width) = tick_shape(k, row_px);
        let style = color.stroke_width(width);
        let ticks = layer
            .spikes
            .iter()
            .filter(|&&(t, r)| visible(t, r))
            .map(move |&(t, r)| {
                EmptyElement::at((t, f64::from(r)))
                    + PathElement::new(vec![(0, -half), (0, half)], style)
            });
        chart.draw_series(ticks).map_err(err)?;
    }

    // Legend column: a sample tick and the label of each layer.
    let mut y = PANEL_CAPTION as i32 + PANEL_MARGIN as i32 + 6;
    for (k, layer) in panel.layers.iter().enumerate() {
        if layer.label.is_empty() {
            continue;
        }
        let color = LAYER_COLORS[k % LAYER_COLORS.len()];
        let (half, width) = tick_shape(k, 16.0);
        legend_area
            .draw(&PathElement::new(
                vec![(12, y + 8 - half), (12, y + 8 + half)],
                color.stroke_width(width),
            ))
            .map_err(err)?;
        let n = layer.spikes.iter().filter(|&&(t, r)| visible(t, r)).count();
        let text = format!("{} ({n})", layer.label);
        legend_area
            .draw(&Text::new(text, (26, y), (FONT, 14)))
            .map_err(err)?;
        y += 24;
    }
    Ok(())
}

/// Colour stops of [`confusion_matrix`] cells, from 0 to 1 of the row total
/// (matplotlib's "Blues").
const CONFUSION_STOPS: [(f64, RGBColor); 5] = [
    (0.0, RGBColor(247, 251, 255)),
    (0.25, RGBColor(198, 219, 239)),
    (0.5, RGBColor(107, 174, 214)),
    (0.75, RGBColor(33, 113, 181)),
    (1.0, RGBColor(8, 48, 107)),
];

/// The colour of a cell holding the fraction `f` of its row.
fn confusion_color(f: f64) -> RGBColor {
    let f = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    };
    for w in CONFUSION_STOPS.windows(2) {
        let ((f0, RGBColor(r0, g0, b0)), (f1, RGBColor(r1, g1, b1))) = (w[0], w[1]);
        if f <= f1 {
            let t = (f - f0) / (f1 - f0);
            let mix =
                |a: u8, b: u8| (f64::from(a) + t * (f64::from(b) - f64::from(a))).round() as u8;
            return RGBColor(mix(r0, r1), mix(g0, g1), mix(b0, b1));
        }
    }
    CONFUSION_STOPS[CONFUSION_STOPS.len() - 1].1
}

/// Shortens a class label to at most `max` characters (with a trailing "…").
fn short_label(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Confusion-matrix heat map: `counts[true][pred]`, one row per true class
/// (top to bottom), one column per predicted class (left to right), the count
/// printed in every cell; axes "true class" (left) and "predicted class"
/// (bottom), class names from `labels`.
///
/// Cells are coloured by their fraction of the row total (the recall of the
/// true class: the diagonal is dark for a good classifier even when classes
/// are unbalanced), with a colour bar at the right; the caption adds the
/// overall accuracy (trace / total) and the number of samples. Sized for
/// about 10-11 classes (cells of ~60 px); more classes get smaller cells and
/// text.
///
/// The number of classes is the largest of `labels.len()`, `counts.len()` and
/// the longest row; missing cells (ragged rows) count 0, classes without a
/// label are named by their index, and labels longer than 22 characters are
/// shortened. All-zero counts give white cells, empty input an empty,
/// labelled chart; nothing panics. The image format follows the extension of
/// `path` (use `.png`). Fails with [`Error::Plot`] if the file cannot be
/// written.
pub fn confusion_matrix(
    path: &Path,
    title: &str,
    labels: &[String],
    counts: &[Vec<u64>],
) -> Result<()> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    use plotters::style::FontTransform;

    ensure_font(path)?;
    let err = |e: DrawingAreaErrorKind<_>| plot_err(path, e);
    let n = counts
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .max(counts.len())
        .max(labels.len());
    let count = |t: usize, p: usize| {
        counts
            .get(t)
            .and_then(|row| row.get(p))
            .copied()
            .unwrap_or(0)
    };
    let names: Vec<String> = (0..n)
        .map(|i| match labels.get(i) {
            Some(l) if !l.is_empty() => short_label(l, 22),
            _ => i.to_string(),
        })
        .collect();
    // Sums in u128 cannot overflow (fewer than 2^64 cells of at most 2^64).
    let total: u128 = counts.iter().flatten().map(|&c| u128::from(c)).sum();
    let correct: u128 = (0..n).map(|i| u128::from(count(i, i))).sum();

    // Layout, in pixels.
    let cell = (640 / n.max(1)).clamp(14, 64) as i32;
    let grid = if n == 0 { 320 } else { cell * n as i32 };
    let label_size = f64::from(cell).mul_add(0.2, 6.0).clamp(10.0, 16.0);
    let label_font = (FONT, label_size).into_font();
    // Width of the longest class name (a generous estimate if the font fails).
    let text_w = names
        .iter()
        .map(|s| {
            label_font
                .box_size(s)
                .map_or(s.chars().count() as f64 * label_size * 0.62, |(w, _)| {
                    f64::from(w)
                })
        })
        .fold(0.0, f64::max)
        .ceil() as i32;
    let label_w = text_w + 12;
    let x_vertical = text_w + 6 > cell;
    let left = 50 + label_w;
    let top = 78;
    let x_labels_h = if x_vertical {
        label_w
    } else {
        label_size as i32 + 14
    };
    let bottom = x_labels_h + 44;
    let bar_w = 120;
    let width = (left + grid + bar_w + 20).max(560) as u32;
    let height = (top + grid + bottom).max(300) as u32;

    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let center = Pos::new(HPos::Center, VPos::Center);
    let title_style = TextStyle::from((FONT, 24).into_font().style(FontStyle::Bold)).pos(center);
    let caption = if total > 0 {
        format!(
            "accuracy {:.1} % ({correct} of {total} samples)",
            100.0 * correct as f64 / total as f64
        )
    } else {
        "no samples".to_string()
    };
    let mid_x = left + grid / 2;
    root.draw(&Text::new(title, (width as i32 / 2, 22), title_style))
        .map_err(err)?;
    root.draw(&Text::new(
        caption,
        (width as i32 / 2, 50),
        TextStyle::from((FONT, 15).into_font()).pos(center),
    ))
    .map_err(err)?;

    if n == 0 {
        root.draw(&Rectangle::new(
            [(left, top), (left + grid, top + grid)],
            BLACK.mix(0.3).stroke_width(1),
        ))
        .map_err(err)?;
        root.draw(&Text::new(
            "(no classes)",
            (mid_x, top + grid / 2),
            TextStyle::from((FONT, 16).into_font()).pos(center),
        ))
        .map_err(err)?;
    }

    // Cells with their counts.
    for t in 0..n {
        let row_total: u128 = (0..n).map(|p| u128::from(count(t, p))).sum();
        for p in 0..n {
            let c = count(t, p);
            let f = if row_total > 0 {
                c as f64 / row_total as f64
            } else {
                0.0
            };
            let (x0, y0) = (left + p as i32 * cell, top + t as i32 * cell);
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                confusion_color(f).filled(),
            ))
            .map_err(err)?;
            if cell < 20 {
                continue; // too small for text: the colour tells
            }
            let text = c.to_string();
            let size = (f64::from(cell) * 0.34)
                .min(f64::from(cell) * 1.6 / text.len().max(1) as f64)
                .clamp(6.0, 18.0);
            let ink = if f > 0.55 { WHITE } else { BLACK };
            let style = TextStyle::from((FONT, size).into_font())
                .color(&ink)
                .pos(center);
            root.draw(&Text::new(text, (x0 + cell / 2, y0 + cell / 2), style))
                .map_err(err)?;
        }
    }
    // Grid lines and frame.
    for i in 0..=n as i32 {
        let style = BLACK.mix(if i == 0 || i == n as i32 { 0.6 } else { 0.12 });
        root.draw(&PathElement::new(
            vec![(left + i * cell, top), (left + i * cell, top + grid)],
            style,
        ))
        .map_err(err)?;
        root.draw(&PathElement::new(
            vec![(left, top + i * cell), (left + grid, top + i * cell)],
            style,
        ))
        .map_err(err)?;
    }

    // Class names: true classes at the left, predicted classes below.
    let right_mid = Pos::new(HPos::Right, VPos::Center);
    let top_mid = Pos::new(HPos::Center, VPos::Top);
    for (i, name) in names.iter().enumerate() {
        let c = i as i32 * cell + cell / 2;
        root.draw(&Text::new(
            name.as_str(),
            (left - 8, top + c),
            TextStyle::from(label_font.clone()).pos(right_mid),
        ))
        .map_err(err)?;
        if x_vertical {
            // Rotated a quarter turn, reading upwards, ending at the grid.
            let style = TextStyle::from(label_font.clone().transform(FontTransform::Rotate270))
                .pos(right_mid);
            root.draw(&Text::new(name.as_str(), (left + c, top + grid + 8), style))
                .map_err(err)?;
        } else {
            root.draw(&Text::new(
                name.as_str(),
                (left + c, top + grid + 7),
                TextStyle::from(label_font.clone()).pos(top_mid),
            ))
            .map_err(err)?;
        }
    }
    let desc = (FONT, 17).into_font();
    root.draw(&Text::new(
        "predicted class",
        (mid_x, top + grid + x_labels_h + 24),
        TextStyle::from(desc.clone()).pos(center),
    ))
    .map_err(err)?;
    root.draw(&Text::new(
        "true class",
        ((left - label_w - 22).max(12), top + grid / 2),
        TextStyle::from(desc.transform(FontTransform::Rotate270)).pos(center),
    ))
    .map_err(err)?;

    // Colour bar: fraction of the row.
    let (bx, bw) = (left + grid + 24, 18);
    let bar_h = grid;
    let steps = bar_h.max(1);
    for s in 0..steps {
        let f = 1.0 - f64::from(s) / f64::from(steps - 1).max(1.0);
        root.draw(&Rectangle::new(
            [(bx, top + s), (bx + bw, top + s + 1)],
            confusion_color(f).filled(),
        ))
        .map_err(err)?;
    }
    root.draw(&Rectangle::new(
        [(bx, top), (bx + bw, top + bar_h)],
        BLACK.mix(0.5).stroke_width(1),
    ))
    .map_err(err)?;
    let left_mid = Pos::new(HPos::Left, VPos::Center);
    for (f, text) in [(0.0, "0 %"), (0.5, "50 %"), (1.0, "100 %")] {
        let y = top + ((1.0 - f) * f64::from(bar_h)).round() as i32;
        root.draw(&PathElement::new(
            vec![(bx + bw, y), (bx + bw + 4, y)],
            BLACK,
        ))
        .map_err(err)?;
        root.draw(&Text::new(
            text,
            (bx + bw + 7, y),
            TextStyle::from((FONT, 14).into_font()).pos(left_mid),
        ))
        .map_err(err)?;
    }
    root.draw(&Text::new(
        "fraction of the true class",
        (bx + bw + 60, top + bar_h / 2),
        TextStyle::from((FONT, 14).into_font().transform(FontTransform::Rotate270)).pos(center),
    ))
    .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, unique per test and process.
    fn temp_dir(name: &str) -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "slayer-plot-{}-{}-{}",
            name,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Removes a test directory, unless `SLAYER_KEEP_PLOTS` is set (to look at the images).
    fn cleanup(dir: &Path) {
        if std::env::var_os("SLAYER_KEEP_PLOTS").is_none() {
            std::fs::remove_dir_all(dir).unwrap();
        } else {
            eprintln!("plots kept in {}", dir.display());
        }
    }

    /// Checks the PNG signature and returns the IHDR (width, height).
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 33, "{} too short", path.display());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR", "first chunk is IHDR");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        (w, h)
    }

    #[test]
    fn curves_writes_png() {
        let dir = temp_dir("curves");
        let path = dir.join("loss.png");
        let train: Vec<f64> = (0..40)
            .map(|i| 2.0 * (-0.1 * f64::from(i)).exp() + 0.05)
            .collect();
        let val: Vec<f64> = (0..40)
            .map(|i| 2.2 * (-0.08 * f64::from(i)).exp() + 0.12)
            .collect();
        let series = [
            Series {
                label: "train",
                values: &train,
            },
            Series {
                label: "validation",
                values: &val,
            },
        ];
        curves(&path, "Loss", "spike-count loss", &series, false).unwrap();
        assert_eq!(png_size(&path), (900, 600));
        let log = dir.join("loss_log.png");
        curves(&log, "Loss (log)", "loss", &series, true).unwrap();
        assert_eq!(png_size(&log), (900, 600));
        cleanup(&dir);
    }

    #[test]
    fn curves_survive_bad_values() {
        let dir = temp_dir("curves-bad");
        let nan = [
            f64::NAN,
            1.0,
            f64::INFINITY,
            0.5,
            f64::NAN,
            0.25,
            f64::NEG_INFINITY,
        ];
        let zeros = [0.0, 0.0, -1.0, 1e-3, 0.0];
        let all_nan = [f64::NAN; 3];
        let cases: Vec<(&str, Vec<Series<'_>>)> = vec![
            ("none", vec![]),
            (
                "empty",
                vec![Series {
                    label: "empty",
                    values: &[],
                }],
            ),
            (
                "nan",
                vec![Series {
                    label: "nan",
                    values: &nan,
                }],
            ),
            (
                "allnan",
                vec![Series {
                    label: "",
                    values: &all_nan,
                }],
            ),
            (
                "zeros",
                vec![Series {
                    label: "zeros",
                    values: &zeros,
                }],
            ),
            (
                "single",
                vec![Series {
                    label: "one",
                    values: &[3.0],
                }],
            ),
            (
                "flat",
                vec![Series {
                    label: "flat",
                    values: &[0.0, 0.0, 0.0],
                }],
            ),
        ];
        for (name, series) in &cases {
            for log_y in [false, true] {
                let path = dir.join(format!("{name}-{log_y}.png"));
                curves(&path, name, "value", series, log_y).unwrap();
                assert_eq!(png_size(&path), (900, 600));
            }
        }
        cleanup(&dir);
    }

    #[test]
    fn raster_writes_png() {
        let dir = temp_dir("raster");
        let path = dir.join("raster.png");
        let input: Vec<(f64, u32)> = (0..3000u32)
            .map(|i| (f64::from(i * 37 % 300) + 0.3, i * 11 % 250))
            .collect();
        let hidden: Vec<(f64, u32)> = (0..400u32)
            .map(|i| (f64::from(i * 13 % 300), i % 25))
            .collect();
        let output = [(40.0, 0), (95.5, 0), (170.0, 0)];
        let target = [(42.0, 0), (130.0, 0), (170.0, 0), (250.0, 0)];
        let panels = [
            RasterPanel {
                title: "input (250 neurons)",
                rows: 250,
                layers: vec![RasterLayer {
                    label: "input",
                    spikes: &input,
                }],
            },
            RasterPanel {
                title: "hidden (25 neurons)",
                rows: 25,
                layers: vec![RasterLayer {
                    label: "hidden",
                    spikes: &hidden,
                }],
            },
            RasterPanel {
                title: "output",
                rows: 1,
                layers: vec![
                    RasterLayer {
                        label: "output",
                        spikes: &output,
                    },
                    RasterLayer {
                        label: "target",
                        spikes: &target,
                    },
                ],
            },
        ];
        spike_raster(&path, "Sample 0: class 3", 300.0, &panels).unwrap();
        let (w, h) = png_size(&path);
        assert_eq!(w, RASTER_WIDTH);
        assert!(h > 300, "height {h}");
        cleanup(&dir);
    }

    #[test]
    fn raster_survives_empty_and_bad_input() {
        let dir = temp_dir("raster-bad");
        let bad = [
            (f64::NAN, 0),
            (-5.0, 0),
            (1e9, 0),
            (10.0, 99),
            (f64::INFINITY, 1),
            (20.0, 1),
        ];
        let cases: Vec<(&str, f64, Vec<RasterPanel<'_>>)> = vec![
            ("nopanels", 100.0, vec![]),
            (
                "nolayers",
                100.0,
                vec![RasterPanel {
                    title: "empty",
                    rows: 0,
                    layers: vec![],
                }],
            ),
            (
                "nospikes",
                100.0,
                vec![RasterPanel {
                    title: "quiet",
                    rows: 10,
                    layers: vec![RasterLayer {
                        label: "none",
                        spikes: &[],
                    }],
                }],
            ),
            (
                "bad",
                f64::NAN,
                vec![RasterPanel {
                    title: "bad",
                    rows: 2,
                    layers: vec![RasterLayer {
                        label: "bad",
                        spikes: &bad,
                    }],
                }],
            ),
            (
                "zeroduration",
                0.0,
                vec![RasterPanel {
                    title: "z",
                    rows: 3,
                    layers: vec![RasterLayer {
                        label: "",
                        spikes: &bad,
                    }],
                }],
            ),
        ];
        for (name, duration, panels) in &cases {
            let path = dir.join(format!("{name}.png"));
            spike_raster(&path, name, *duration, panels).unwrap();
            assert_eq!(png_size(&path).0, RASTER_WIDTH);
        }
        cleanup(&dir);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = temp_dir("unwritable");
        let path = dir.join("no").join("such").join("dir").join("x.png");
        let series = [Series {
            label: "a",
            values: &[1.0, 2.0],
        }];
        let e = curves(&path, "t", "y", &series, false).unwrap_err();
        assert!(matches!(e, Error::Plot { .. }), "{e}");
        let panels = [RasterPanel {
            title: "p",
            rows: 1,
            layers: vec![RasterLayer {
                label: "s",
                spikes: &[(1.0, 0)],
            }],
        }];
        let e = spike_raster(&path, "t", 10.0, &panels).unwrap_err();
        assert!(matches!(e, Error::Plot { .. }), "{e}");
        assert!(e.to_string().contains("x.png"), "{e}");
        cleanup(&dir);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(1200.0), "1200");
        assert_eq!(fmt_num(1e-4), "1e-4");
        assert_eq!(fmt_num(1.5e-5), "1.5e-5");
        assert_eq!(fmt_int_tick(3.0), "3");
        assert_eq!(fmt_int_tick(2.5), "");
    }

    #[test]
    fn confusion_matrix_writes_png() {
        let dir = temp_dir("confusion");
        // MNIST-like: 10 classes, mostly right.
        let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        let counts: Vec<Vec<u64>> = (0..10u64)
            .map(|t| {
                (0..10u64)
                    .map(|p| {
                        if t == p {
                            50 + 9 * t
                        } else {
                            (t * 7 + p * 3) % 5 * u64::from((t + p) % 3 == 0)
                        }
                    })
                    .collect()
            })
            .collect();
        let path = dir.join("digits.png");
        confusion_matrix(&path, "FSDD validation, epoch 40", &digits, &counts).unwrap();
        let (w, h) = png_size(&path);
        assert!(
            (500..1400).contains(&w) && (500..1400).contains(&h),
            "{w}x{h}"
        );
        // 11 DVS Gesture classes with long names (x labels turn vertical).
        let gestures: Vec<String> = [
            "hand clap",
            "right hand wave",
            "left hand wave",
            "right arm clockwise",
            "right arm counter-clockwise",
            "left arm clockwise",
            "left arm counter-clockwise",
            "arm roll",
            "air drums",
            "air guitar",
            "other gestures",
        ]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
        let counts: Vec<Vec<u64>> = (0..11u64)
            .map(|t| {
                (0..11u64)
                    .map(|p| if t == p { 20 } else { (t + 2 * p) % 4 })
                    .collect()
            })
            .collect();
        let path = dir.join("gestures.png");
        confusion_matrix(&path, "DVS Gesture test", &gestures, &counts).unwrap();
        let (w, h) = png_size(&path);
        assert!(w >= 500 && h >= 500, "{w}x{h}");
        cleanup(&dir);
    }

    #[test]
    fn confusion_matrix_survives_degenerate_input() {
        let dir = temp_dir("confusion-bad");
        let ten: Vec<String> = (0..10).map(|d| format!("class {d}")).collect();
        let zeros = vec![vec![0u64; 10]; 10];
        let ragged = vec![vec![3u64], vec![], vec![1, 2, 3, 4], vec![0, 0, 9]];
        let huge = vec![vec![u64::MAX, u64::MAX], vec![1, u64::MAX]];
        let many: Vec<Vec<u64>> = (0..40u64)
            .map(|t| (0..40u64).map(|p| t * p).collect())
            .collect();
        let no_labels: Vec<String> = Vec::new();
        let none: Vec<Vec<u64>> = Vec::new();
        let cases = [
            ("zeros", &ten[..], &zeros),
            ("empty", &no_labels[..], &none),
            ("labels-only", &ten[..], &none),
            ("counts-only", &no_labels[..], &zeros),
            ("ragged", &ten[..2], &ragged),
            ("huge", &no_labels[..], &huge),
            ("many", &no_labels[..], &many),
        ];
        for (name, labels, counts) in cases {
            let path = dir.join(format!("{name}.png"));
            confusion_matrix(&path, name, labels, counts).unwrap();
            let (w, h) = png_size(&path);
            assert!(w >= 300 && h >= 300, "{name}: {w}x{h}");
        }
        let bad = dir.join("no").join("such").join("cm.png");
        let e = confusion_matrix(&bad, "t", &ten, &zeros).unwrap_err();
        assert!(
            matches!(e, Error::Plot { .. }) && e.to_string().contains("cm.png"),
            "{e}"
        );
        cleanup(&dir);
    }
}
