//! What a simulation shows: a timeline for a terminal, JSON lines, and one
//! self-contained HTML page (inline SVG and CSS, no scripts, nothing fetched).

use super::{Event, EventKind, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `m:ss.s` of simulated seconds.
pub fn clock(t: f64) -> String {
    let tenths = (t * 10.0).round() as u64;
    format!("{}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
}

fn percent(weights: &BTreeMap<String, f64>) -> String {
    weights
        .iter()
        .map(|(v, w)| format!("version {v} {:.0}%", w * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line of the readable timeline.
pub fn line(e: &Event) -> String {
    format!(
        "{:>8}  {:<11}  {}",
        clock(e.t),
        e.deployment_id,
        describe(e)
    )
}

/// What happened, in words.
pub fn describe(e: &Event) -> String {
    match &e.kind {
        EventKind::DeploymentCreated {
            function,
            alias,
            from,
            to,
            config,
            creator,
        } => format!("deployment created by {creator}: {function}:{alias} from version {from} to {to}, {config}"),
        EventKind::LifecycleEvent { name, status } => format!("{name} {status}"),
        EventKind::HookInvoked {
            phase,
            function,
            attempt,
        } => {
            let again = if *attempt > 1 {
                format!(" (Lambda's retry {})", attempt - 1)
            } else {
                String::new()
            };
            format!("{phase}-traffic hook {function} invoked{again}")
        }
        EventKind::HookContinued {
            phase,
            function,
            continuation,
        } => format!(
            "{phase}-traffic hook {function} goes on in continuation {continuation} (its bake is longer than one invocation)"
        ),
        EventKind::HookReported {
            phase,
            status,
            reason,
        } => format!("{phase}-traffic hook reported {status}: {reason}"),
        EventKind::WeightsShifted { weights } => format!("weights: {}", percent(weights)),
        EventKind::AlarmState {
            alarm,
            state,
            reason,
        } => format!("alarm {alarm}: {state} ({reason})"),
        EventKind::DeploymentStopped { reason } => format!("deployment stopped: {reason}"),
        EventKind::RollbackStarted {
            rollback_deployment_id,
        } => format!("rollback started: deployment {rollback_deployment_id}"),
        EventKind::DeploymentFinished { status, reason } => {
            format!("deployment finished: {} ({reason})", status.to_uppercase())
        }
    }
}

/// One JSON line.
pub fn json_line(e: &Event) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

/// `d-SIM000002` → `#2`, for labels.
fn short(id: &str) -> String {
    id.trim_start_matches("d-SIM")
        .trim_start_matches('0')
        .parse::<u32>()
        .map(|n| format!("#{n}"))
        .unwrap_or_else(|_| id.to_owned())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 190.0;
const PLOT: f64 = WIDTH - LEFT - 20.0;
const COLOURS: [&str; 4] = ["#4c78a8", "#f58518", "#54a24b", "#b279a2"];

/// The whole page.
pub fn html(outcome: &Outcome) -> String {
    let end = outcome
        .events
        .iter()
        .map(|e| e.t)
        .chain(outcome.minutes.iter().map(|m| m.t + 60.0))
        .fold(60.0_f64, f64::max);
    let x = |t: f64| LEFT + PLOT * t / end;
    let versions: Vec<String> = {
        let mut v: Vec<String> = outcome
            .minutes
            .iter()
            .flat_map(|m| m.versions.keys().cloned())
            .chain(
                outcome
                    .events
                    .iter()
                    .filter_map(|e| match &e.kind {
                        EventKind::DeploymentCreated { from, to, .. } => {
                            Some(vec![from.clone(), to.clone()])
                        }
                        _ => None,
                    })
                    .flatten(),
            )
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let colour =
        |v: &str| COLOURS[versions.iter().position(|x| x == v).unwrap_or(0) % COLOURS.len()];
    let mut svg = String::new();
    let mut y = 20.0;

    // Weights.
    let lane = 120.0;
    let _ = write!(
        svg,
        r#"<text x="10" y="{}" class="lane">alias weights</text>"#,
        y + lane / 2.0
    );
    let _ = write!(
        svg,
        r#"<rect x="{LEFT}" y="{y}" width="{PLOT}" height="{lane}" class="frame"/>"#
    );
    let shifts: Vec<(f64, &BTreeMap<String, f64>)> = outcome
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WeightsShifted { weights } => Some((e.t, weights)),
            _ => None,
        })
        .collect();
    let initial: BTreeMap<String, f64> = outcome
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::DeploymentCreated { from, .. } => {
                Some(BTreeMap::from([(from.clone(), 1.0)]))
            }
            _ => None,
        })
        .unwrap_or_default();
    for v in &versions {
        let mut points = Vec::new();
        let mut share = initial.get(v).copied().unwrap_or(0.0);
        points.push((0.0, share));
        for (t, w) in &shifts {
            points.push((*t, share));
            share = w.get(v).copied().unwrap_or(0.0);
            points.push((*t, share));
        }
        points.push((end, share));
        let path: Vec<String> = points
            .iter()
            .map(|(t, s)| format!("{:.1},{:.1}", x(*t), y + lane - s * lane))
            .collect();
        let area = format!(
            "{:.1},{:.1} {} {:.1},{:.1}",
            x(0.0),
            y + lane,
            path.join(" "),
            x(end),
            y + lane
        );
        let _ = write!(
            svg,
            r#"<polygon points="{area}" fill="{0}" fill-opacity="0.12"/><polyline points="{1}" fill="none" stroke="{0}" stroke-width="2.5"><title>version {2}</title></polyline>"#,
            colour(v),
            path.join(" "),
            esc(v)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" class="axis">100%</text>"#,
        LEFT - 4.0,
        y + 10.0
    );
    y += lane + 30.0;

    // Error rate per version, per minute.
    let _ = write!(
        svg,
        r#"<text x="10" y="{}" class="lane">error rate per version</text>"#,
        y + lane / 2.0
    );
    let _ = write!(
        svg,
        r#"<rect x="{LEFT}" y="{y}" width="{PLOT}" height="{lane}" class="frame"/>"#
    );
    let peak = outcome
        .minutes
        .iter()
        .flat_map(|m| m.versions.values())
        .filter(|(c, _)| *c > 0)
        .map(|(c, e)| *e as f64 / *c as f64)
        .fold(0.01_f64, f64::max);
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" class="axis">{:.0}%</text>"#,
        LEFT - 4.0,
        y + 10.0,
        peak * 100.0
    );
    for v in &versions {
        let bars: Vec<String> = outcome
            .minutes
            .iter()
            .filter_map(|m| {
                let (c, e) = m.versions.get(v)?;
                (*c > 0).then(|| {
                    let rate = *e as f64 / *c as f64;
                    format!(
                        "{:.1},{:.1} {:.1},{:.1}",
                        x(m.t),
                        y + lane - rate / peak * lane,
                        x(m.t + 60.0),
                        y + lane - rate / peak * lane
                    )
                })
            })
            .collect();
        for b in bars {
            let _ = write!(
                svg,
                r#"<polyline points="{b}" stroke="{}" stroke-width="3" fill="none"/>"#,
                colour(v)
            );
        }
    }
    y += lane + 30.0;

    // Alarm bands.
    for alarm in &outcome.alarms {
        let _ = write!(
            svg,
            r#"<text x="10" y="{}" class="lane">{}</text>"#,
            y + 14.0,
            esc(alarm)
        );
        let mut changes: Vec<(f64, &str)> = outcome
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::AlarmState {
                    alarm: a, state, ..
                } if a == alarm => Some((e.t, state.as_str())),
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            changes.push((0.0, "INSUFFICIENT_DATA"));
        }
        for (i, (t, state)) in changes.iter().enumerate() {
            let until = changes.get(i + 1).map(|c| c.0).unwrap_or(end);
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y}" width="{:.1}" height="20" class="s-{state}"><title>{state} from {}</title></rect>"#,
                x(*t),
                (x(until) - x(*t)).max(1.0),
                clock(*t)
            );
        }
        y += 28.0;
    }
    y += 10.0;

    // Hook verdicts and deployment milestones: a line each, labels in rows below so
    // that milestones at the same moment stay readable.
    let marks_top = 20.0;
    let mut rows_end: Vec<f64> = Vec::new();
    let mut labels = String::new();
    for e in &outcome.events {
        let id = short(&e.deployment_id);
        let verdict = |status: &str| if status == "Succeeded" { "ok" } else { "bad" };
        let (label, class) = match &e.kind {
            EventKind::HookReported { phase, status, .. } => (
                format!("{id} {phase}-traffic hook: {status}"),
                verdict(status),
            ),
            EventKind::DeploymentStopped { .. } => (format!("{id} stopped by an alarm"), "bad"),
            EventKind::RollbackStarted { .. } => (format!("{id} rollback started"), "bad"),
            EventKind::DeploymentFinished { status, .. } => {
                (format!("{id} {status}"), verdict(status))
            }
            _ => continue,
        };
        let at = x(e.t);
        let width = label.chars().count() as f64 * 6.2 + 8.0;
        let row = match rows_end.iter().position(|end| *end < at) {
            Some(r) => {
                rows_end[r] = at + width;
                r
            }
            None => {
                rows_end.push(at + width);
                rows_end.len() - 1
            }
        };
        let ly = y + 14.0 + row as f64 * 16.0;
        let _ = write!(
            svg,
            r#"<line x1="{at:.1}" x2="{at:.1}" y1="{marks_top}" y2="{ly}" class="mark {class}"/>"#
        );
        let _ = write!(
            labels,
            r#"<text x="{:.1}" y="{ly}" class="mark-label {class}">{}</text>"#,
            at + 3.0,
            esc(&label)
        );
    }
    svg.push_str(&labels);
    y += 50.0 + rows_end.len() as f64 * 16.0;
    // Time axis.
    let step = if end > 1800.0 {
        600.0
    } else if end > 600.0 {
        120.0
    } else {
        60.0
    };
    let mut t = 0.0;
    while t <= end {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" class="axis tick">{}</text>"#,
            x(t),
            y - 20.0,
            clock(t)
        );
        t += step;
    }
    let legend: String = versions
        .iter()
        .map(|v| {
            format!(
                r#"<span class="key" style="background:{}"></span>version {}"#,
                colour(v),
                esc(v)
            )
        })
        .collect();
    let rows: String = outcome
        .events
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                clock(e.t),
                esc(&e.deployment_id),
                esc(&describe(e))
            )
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>traffic-sim: {title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 18px; }} .status {{ font-weight: bold; }}
.lane {{ font-size: 12px; fill: #333; }} .axis {{ font-size: 11px; fill: #666; text-anchor: end; }} .tick {{ text-anchor: middle; }}
.frame {{ fill: #fafafa; stroke: #ddd; }}
.s-OK {{ fill: #8fd19e; }} .s-ALARM {{ fill: #e45756; }} .s-INSUFFICIENT_DATA {{ fill: #ccc; }}
.mark {{ stroke-dasharray: 4 3; stroke-width: 1.5; }} .mark.ok {{ stroke: #2e7d32; }} .mark.bad {{ stroke: #c62828; }}
.mark-label {{ font-size: 11px; }} .mark-label.ok {{ fill: #2e7d32; }} .mark-label.bad {{ fill: #c62828; }}
.key {{ display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }}
table {{ border-collapse: collapse; margin-top: 16px; }} td {{ padding: 2px 10px; border-bottom: 1px solid #eee; font: 12px monospace; vertical-align: top; }}
td:nth-child(-n+2) {{ white-space: nowrap; }} th {{ text-align: left; padding: 2px 10px; }}
</style></head>
<body><h1>traffic-sim: {title}</h1>
<p>Deployment <span class="status">{status}</span>. Versions: {legend}. Alarm states: <span class="key s-OK" style="background:#8fd19e"></span>OK <span class="key" style="background:#e45756"></span>ALARM <span class="key" style="background:#ccc"></span>INSUFFICIENT_DATA</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" viewBox="0 0 {WIDTH} {y}">{svg}</svg>
<table><tr><th>time</th><th>deployment</th><th>event</th></tr>{rows}</table>
</body></html>
"#,
        title = esc(&outcome.title),
        status = esc(&outcome.status),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_minutes_and_seconds() {
        assert_eq!(clock(0.0), "0:00.0");
        assert_eq!(clock(61.25), "1:01.3");
        assert_eq!(clock(3600.0), "60:00.0");
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_text() {
        let outcome = Outcome {
            status: "Stopped".into(),
            events: vec![Event {
                t: 0.0,
                deployment_id: "d-1".into(),
                kind: EventKind::DeploymentStopped {
                    reason: "alarm <x> & y".into(),
                },
            }],
            minutes: vec![],
            alarms: vec!["a".into()],
            title: "F".into(),
        };
        let page = html(&outcome);
        assert!(page.contains("alarm &lt;x&gt; &amp; y"));
        for fetched in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(fetched), "nothing is fetched: {fetched}");
        }
    }
}
