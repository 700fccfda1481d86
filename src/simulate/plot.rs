//! `--plot FILE.svg`: one panel per strategy, on one time axis and one
//! scale: tokens per second served by each backend, stacked by priority
//! (first priority at the bottom, one colour family per priority), the
//! demand as a dashed line, and client 429s per second in red on the right
//! axis. With several gateway regions, one more panel per region: the
//! share of the tokens served to that gateway's requests that a backend in
//! the region itself served, one line per strategy. Plain SVG text,
//! deterministic for a seed.

use std::fmt::Write as _;

use super::metrics::Metrics;
use super::report::Report;
use super::world::World;
use super::StrategyKind;

const WIDTH: f64 = 960.0;
const PANEL: f64 = 210.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 60.0;
const TOP: f64 = 56.0;
const GAP: f64 = 46.0;
/// Columns per panel at most: the measured bins are summed into wider
/// ones, so that short-lived noise does not hide the shape.
const COLUMNS: usize = 120;

/// Columns of a region panel at most: a share needs more requests per
/// column than a rate to be read.
const REGION_COLUMNS: usize = 30;

/// Line colours of the strategies in the region panels, in
/// [`StrategyKind`] order.
const STRATEGY_COLOURS: [&str; 4] = ["#1f4e9a", "#c25400", "#1d7a3a", "#555555"];

/// Colour families by priority rank (blue, orange, green, purple, grey),
/// darker to lighter for the backends inside one priority.
const FAMILIES: [[&str; 4]; 5] = [
    ["#1f4e9a", "#3b73c4", "#6b9be0", "#a4c2f0"],
    ["#c25400", "#e67e22", "#f3a55c", "#f8c898"],
    ["#1d7a3a", "#2fa055", "#62c283", "#a2dfb5"],
    ["#5b2c8f", "#8250b8", "#a987d6", "#cdb9ea"],
    ["#555555", "#777777", "#999999", "#bbbbbb"],
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round axis maximum at or above `v`, and its tick step.
fn nice(v: f64) -> (f64, f64) {
    let v = v.max(1.0);
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            let top = m * mag;
            let step = if m == 2.5 { top / 5.0 } else { top / 4.0 };
            return (top, step);
        }
    }
    (10.0 * mag, 2.5 * mag)
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A round step for at most 8 ticks over `span` seconds.
fn time_step(span: f64) -> f64 {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 86400.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8.0)
        .unwrap_or(span / 8.0)
}

/// Time label: seconds under 3 minutes, then minutes, then hours.
fn time_label(s: f64, span: f64) -> String {
    if span <= 180.0 {
        format!("{} s", trim(s))
    } else if span <= 3.0 * 3600.0 {
        format!("{} min", trim(s / 60.0))
    } else {
        format!("{} h", trim(s / 3600.0))
    }
}

/// A horizontal grid line across a panel at `y`, labelled on the left.
fn grid_line(o: &mut String, y: f64, label: &str) {
    let _ = writeln!(
        o,
        r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#e5e5e5"/><text x="{2}" y="{3:.1}" text-anchor="end">{4}</text>"##,
        y,
        WIDTH - RIGHT,
        LEFT - 6.0,
        y + 4.0,
        label
    );
}

/// Ticks and labels of the time axis under a panel whose bottom is at
/// `bottom`; `x` maps seconds to the horizontal position.
fn time_axis(o: &mut String, x: &dyn Fn(f64) -> f64, bottom: f64, span: f64) {
    let step = time_step(span);
    let mut s = 0.0;
    while s <= span + 1e-9 {
        let _ = writeln!(
            o,
            r##"<line x1="{0:.1}" y1="{bottom:.1}" x2="{0:.1}" y2="{1:.1}" stroke="#333"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle">{3}</text>"##,
            x(s),
            bottom + 4.0,
            bottom + 17.0,
            esc(&time_label(s, span))
        );
        s += step;
    }
}

pub fn svg(world: &World, report: &Report, runs: &[(StrategyKind, Metrics)]) -> String {
    let Some((_, first)) = runs.first() else {
        return String::new();
    };
    let series = &first.series;
    let group = series.bins.div_ceil(COLUMNS).max(1);
    let bins = series.bins.div_ceil(group);
    let bin_s = series.bin_us as f64 / 1e6 * group as f64;
    let span = series.bins as f64 * series.bin_us as f64 / 1e6;
    // Column `k` sums measured bins `k*group ..`; the last may be narrower.
    let width =
        |k: usize| ((series.bins - k * group).min(group) as f64) * series.bin_us as f64 / 1e6;
    let col = |v: &[f64], k: usize| {
        v[k * group..((k + 1) * group).min(v.len())]
            .iter()
            .sum::<f64>()
            / width(k)
    };
    let col_u = |v: &[u64], k: usize| {
        v[k * group..((k + 1) * group).min(v.len())]
            .iter()
            .sum::<u64>() as f64
            / width(k)
    };
    // Backends bottom-up: by priority, then topology order.
    let mut order: Vec<usize> = (0..world.backends.len()).collect();
    order.sort_by_key(|g| (world.backends[*g].priority, *g));
    let mut prios: Vec<u32> = world.backends.iter().map(|b| b.priority).collect();
    prios.sort_unstable();
    prios.dedup();
    let colour = |g: usize| {
        let b = &world.backends[g];
        let rank = prios.iter().position(|p| *p == b.priority).unwrap_or(0);
        let within = order
            .iter()
            .filter(|h| world.backends[**h].priority == b.priority)
            .position(|h| *h == g)
            .unwrap_or(0);
        FAMILIES[rank.min(FAMILIES.len() - 1)][within % 4]
    };
    let mut ymax: f64 = 0.0;
    let mut rmax: f64 = 0.0;
    for (_, m) in runs {
        for k in 0..bins {
            let stacked: f64 = (0..world.backends.len())
                .map(|g| col(m.series.served(g), k))
                .sum();
            ymax = ymax.max(stacked).max(col(&m.series.demand, k));
            rmax = rmax.max(col_u(&m.series.client_429, k));
        }
    }
    let (ytop, ystep) = nice(ymax * 1.05);
    let (rtop, rstep) = nice(rmax.max(1.0) * 1.05);
    let plot_w = WIDTH - LEFT - RIGHT;
    let regions = if world.gateway_regions.len() > 1 {
        world.gateway_regions.len()
    } else {
        0
    };
    let height = TOP + (runs.len() + regions) as f64 * (PANEL + GAP) + 30.0;
    let x = |s: f64| LEFT + s / span * plot_w;

    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">Tokens/s served per backend, stacked by priority — {} requests over {}</text>"#,
        report.requests,
        esc(&time_label(span, span))
    );
    // Legend.
    let mut lx = LEFT;
    let ly = 38.0;
    for g in &order {
        let b = &world.backends[*g];
        let label = format!("{} (p{})", b.label, b.priority);
        let _ = writeln!(
            o,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            ly - 10.0,
            colour(*g),
            lx + 16.0,
            ly,
            esc(&label)
        );
        lx += 26.0 + 7.0 * label.len() as f64;
    }
    let _ = writeln!(
        o,
        r##"<line x1="{lx}" y1="{0}" x2="{1}" y2="{0}" stroke="black" stroke-width="2" stroke-dasharray="6 3"/><text x="{2}" y="{ly}">demand</text>"##,
        ly - 4.0,
        lx + 22.0,
        lx + 26.0
    );
    lx += 86.0;
    let _ = writeln!(
        o,
        r##"<line x1="{lx}" y1="{0}" x2="{1}" y2="{0}" stroke="#d62728" stroke-width="2"/><text x="{2}" y="{ly}" fill="#d62728">client 429/s (right axis)</text>"##,
        ly - 4.0,
        lx + 22.0,
        lx + 26.0
    );

    for (pi, (kind, m)) in runs.iter().enumerate() {
        let top = TOP + pi as f64 * (PANEL + GAP) + 22.0;
        let bottom = top + PANEL;
        let y = |v: f64| bottom - v / ytop * PANEL;
        let yr = |v: f64| bottom - v / rtop * PANEL;
        let s = report.strategies.iter().find(|s| s.name == kind.as_str());
        let title = match s {
            Some(s) => format!(
                "{}: {:.2} % success, {} client 429, {:.1} wasted calls /1k, {:.1} % spill",
                kind.as_str(),
                s.success_percent,
                s.client_429,
                s.wasted_per_1k,
                s.spill_percent
            ),
            None => kind.as_str().to_string(),
        };
        let _ = writeln!(
            o,
            r#"<text x="{LEFT}" y="{}" font-size="13" font-weight="bold">{}</text>"#,
            top - 6.0,
            esc(&title)
        );
        // Grid and left axis.
        let mut v = 0.0;
        while v <= ytop + 1e-9 {
            grid_line(&mut o, y(v), &si(v));
            v += ystep;
        }
        let mut v = 0.0;
        while v <= rtop + 1e-9 {
            let _ = writeln!(
                o,
                r##"<text x="{0}" y="{1:.1}" fill="#d62728">{2}</text>"##,
                WIDTH - RIGHT + 6.0,
                yr(v) + 4.0,
                si(v)
            );
            v += rstep;
        }
        let _ = writeln!(
            o,
            r#"<text transform="translate(16,{0:.1}) rotate(-90)" text-anchor="middle">tokens/s</text>"#,
            top + PANEL / 2.0
        );
        // Stacked areas, step-shaped per bin.
        let mut base = vec![0.0f64; bins];
        for g in &order {
            let mut upper = Vec::with_capacity(bins * 2);
            let mut lower = Vec::with_capacity(bins * 2);
            for (k, level) in base.iter_mut().enumerate() {
                let lo = *level;
                let hi = lo + col(m.series.served(*g), k);
                let (x0, x1) = (
                    x(k as f64 * bin_s),
                    x((k as f64 * bin_s + width(k)).min(span)),
                );
                upper.push(format!("{x0:.1},{:.1} {x1:.1},{:.1}", y(hi), y(hi)));
                lower.push(format!("{x1:.1},{:.1} {x0:.1},{:.1}", y(lo), y(lo)));
                *level = hi;
            }
            lower.reverse();
            let _ = writeln!(
                o,
                r#"<polygon fill="{}" stroke="none" points="{} {}"/>"#,
                colour(*g),
                upper.join(" "),
                lower.join(" ")
            );
        }
        // Demand, and client 429s on the right axis.
        let steps = |f: &dyn Fn(usize) -> f64| -> String {
            (0..bins)
                .map(|k| {
                    let v = f(k);
                    let (x0, x1) = (x(k as f64 * bin_s), x(k as f64 * bin_s + width(k)));
                    format!("{x0:.1},{v:.1} {x1:.1},{v:.1}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="black" stroke-width="1.5" stroke-dasharray="6 3" points="{}"/>"#,
            steps(&|k| y(col(&m.series.demand, k)))
        );
        let _ = writeln!(
            o,
            r##"<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="{}"/>"##,
            steps(&|k| yr(col_u(&m.series.client_429, k)))
        );
        // Frame and time axis.
        let _ = writeln!(
            o,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#333"/>"##
        );
        time_axis(&mut o, &x, bottom, span);
    }
    for (ri, name) in world.gateway_regions.iter().enumerate().take(regions) {
        let top = TOP + (runs.len() + ri) as f64 * (PANEL + GAP) + 22.0;
        let bottom = top + PANEL;
        let y = |share: f64| bottom - share / 100.0 * PANEL;
        let _ = writeln!(
            o,
            r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{} gateway: % of its tokens served in its own region</text>"#,
            top - 6.0,
            esc(name)
        );
        for v in [0.0, 25.0, 50.0, 75.0, 100.0] {
            grid_line(&mut o, y(v), &format!("{v} %"));
        }
        let _ = writeln!(
            o,
            r##"<rect x="{LEFT}" y="{top:.1}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#333"/>"##
        );
        // One line per strategy over wider columns; a column in which
        // nothing was served to the region's requests breaks it.
        let rgroup = series.bins.div_ceil(REGION_COLUMNS).max(1);
        let rbins = series.bins.div_ceil(rgroup);
        let span_of = |k: usize| k * rgroup..((k + 1) * rgroup).min(series.bins);
        // The legend right-aligned on the title's line.
        let legend_w: f64 = runs
            .iter()
            .map(|(k, _)| 30.0 + 7.0 * k.as_str().len() as f64)
            .sum();
        let mut lx = WIDTH - RIGHT - legend_w;
        for (kind, m) in runs {
            let colour = STRATEGY_COLOURS[*kind as usize % STRATEGY_COLOURS.len()];
            let dash = if *kind == StrategyKind::Ideal {
                r#" stroke-dasharray="6 3""#
            } else {
                ""
            };
            let mut segment: Vec<String> = Vec::new();
            let flush = |segment: &mut Vec<String>, o: &mut String| {
                if !segment.is_empty() {
                    let _ = writeln!(
                        o,
                        r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
                        segment.join(" ")
                    );
                    segment.clear();
                }
            };
            for k in 0..rbins {
                let served: f64 = m.series.region_served(ri)[span_of(k)].iter().sum();
                if served <= 0.0 {
                    flush(&mut segment, &mut o);
                    continue;
                }
                let local: f64 = m.series.region_local(ri)[span_of(k)].iter().sum();
                let share = 100.0 * local / served;
                let bin_w = series.bin_us as f64 / 1e6;
                let (x0, x1) = (
                    x(span_of(k).start as f64 * bin_w),
                    x(span_of(k).end as f64 * bin_w),
                );
                segment.push(format!("{x0:.1},{0:.1} {x1:.1},{0:.1}", y(share)));
            }
            flush(&mut segment, &mut o);
            let _ = writeln!(
                o,
                r#"<line x1="{lx}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{2}" y="{3:.1}">{4}</text>"#,
                top - 10.0,
                lx + 18.0,
                lx + 22.0,
                top - 6.0,
                kind.as_str()
            );
            lx += 30.0 + 7.0 * kind.as_str().len() as f64;
        }
        time_axis(&mut o, &x, bottom, span);
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice(4321.0), (5000.0, 1250.0));
        assert_eq!(nice(0.3), (1.0, 0.25));
        assert_eq!(nice(2400.0), (2500.0, 500.0));
        assert_eq!(si(12_500.0), "12.5k");
        assert_eq!(time_label(90.0, 120.0), "90 s");
        assert_eq!(time_label(1800.0, 3600.0), "30 min");
        assert_eq!(time_step(25.0), 5.0);
        assert_eq!(time_step(3600.0), 600.0);
    }
}
