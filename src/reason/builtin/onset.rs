//! The onset: when the alerting service's trouble began. A sustained change
//! that still holds at the alert comes first; a change that ended before the
//! alert is an earlier incident, not this one. Without one, container restarts
//! and OOM kills mark when a crash loop began, and last, deviations that come
//! and go (a service that keeps dying) count if they cluster before the alert.

use super::board::Board;
use super::query::{Since, range};
use crate::model::Timestamp;
use crate::reason::{BranchCtx, BranchEnd};
use crate::tools::stats::{change_point, iqr, median};

use super::metrics::{BASELINE_MS, NO_ONSET_MS};

const STEP: &str = "30s";
/// How far back the onset is looked for, ms before the alert.
const LOOKBACK_MS: i64 = 60 * 60_000;
/// Points back at the baseline, in a row before the alert, that end an episode (3 min at 30 s).
const CALM: usize = 6;
/// Where deviations that come and go are counted, ms before the alert.
const RECENT_MS: i64 = 10 * 60_000;
/// Less data than this after the alert is too little to tell a change that holds from a blip, ms.
pub const SHORT_AFTER_MS: i64 = 90_000;
/// Robust units a point must move to count as deviant.
const K: f64 = 6.0;

/// How a series' values are judged deviant: the median and scale of a baseline.
struct Baseline {
    m: f64,
    scale: f64,
}

impl Baseline {
    fn of(xs: &[f64], floor: f64) -> Option<Baseline> {
        let m = median(xs)?;
        let scale = (iqr(xs) * 0.75).max(floor).max(m.abs() * 0.08);
        Some(Baseline { m, scale })
    }
    /// Signed robust units from the baseline.
    fn units(&self, x: f64) -> f64 {
        (x - self.m) / self.scale
    }
}

/// What one series says about the onset.
#[derive(Debug, Default, PartialEq)]
pub struct Reading {
    /// Where a sustained change that holds at the alert began.
    pub onset: Option<i64>,
    /// When the last earlier incident had ended (its first calm point).
    pub quiet_since: Option<i64>,
    /// The series with earlier incidents set to their baseline.
    pub cleaned: Vec<(i64, f64)>,
    /// Where the calm stretch before the onset began, when something deviant
    /// came before it: the baseline to compare with starts there.
    pub calm_from: Option<i64>,
}

/// Reads `samples` for the onset of a sustained change that still holds at `alert_ms`:
/// a change that went back to its baseline for [`CALM`] points in a row before
/// the alert is an earlier incident; its points are set to the baseline and
/// the search goes on after it.
pub fn read(samples: &[(i64, f64)], alert_ms: i64, floor: f64) -> Reading {
    let mut xs: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let mut out = Reading::default();
    // Where each episode that ended began, and whether it went up.
    let mut ended_at: Vec<(i64, bool)> = Vec::new();
    for _ in 0..6 {
        let Some(k) = change_point(&xs, 12, 3, K, floor) else {
            break;
        };
        let Some(base) = Baseline::of(&xs[..k], floor) else {
            break;
        };
        let up = base.units(xs[k]) > 0.0;
        // Still in the episode: well off the baseline and nearer the episode's level than the baseline's.
        let level = median(&xs[k..(k + 3).min(xs.len())]).unwrap_or(xs[k]);
        let mid = (base.m + level) / 2.0;
        let dev = |x: f64| {
            let u = base.units(x);
            if up {
                u > K / 2.0 && x > mid
            } else {
                -u > K / 2.0 && x < mid
            }
        };
        // The episode ended if it went quiet for a while before the alert.
        let mut calm = 0;
        let mut ended = None;
        for i in k + 1..xs.len() {
            if samples[i].0 > alert_ms {
                break;
            }
            calm = if dev(xs[i]) { 0 } else { calm + 1 };
            if calm >= CALM {
                ended = Some(i + 1 - CALM);
                break;
            }
        }
        let Some(end) = ended else {
            out.onset = Some(samples[k].0);
            break;
        };
        ended_at.push((samples[k].0, up));
        out.quiet_since = Some(samples[end].0);
        // An earlier incident: flatten it and look again.
        for x in xs.iter_mut().take(end).skip(k) {
            if dev(*x) {
                *x = base.m;
            }
        }
    }
    // A signal that left its baseline and came back twice before, the same
    // way it has left it now, is one trouble that comes and goes (a leak
    // killed again and again, a flapping dependency): it began with the first.
    if let Some(now) = out.onset {
        let i = samples.iter().position(|s| s.0 == now).unwrap_or(0);
        let up = xs
            .get(i)
            .is_some_and(|x| Baseline::of(&xs[..i], floor).is_some_and(|b| b.units(*x) > 0.0));
        let same: Vec<i64> = ended_at.iter().filter(|e| e.1 == up).map(|e| e.0).collect();
        if same.len() >= 2 {
            out.onset = same.first().copied();
            out.quiet_since = None;
        }
    }
    if out.onset.is_none() {
        out.onset = fresh(samples, &xs, alert_ms, floor);
    }
    if out.onset.is_none()
        && let Some((onset, calm_from)) = latest(samples, &xs, alert_ms, floor)
    {
        out.onset = Some(onset);
        out.calm_from = calm_from;
    }
    out.cleaned = samples.iter().zip(xs).map(|(s, x)| (s.0, x)).collect();
    out
}

/// A change too fresh for three points: when the data ends soon after the
/// alert, two deviant points in a row that reach its end count, since the
/// alert firing on them says they hold.
fn fresh(samples: &[(i64, f64)], xs: &[f64], alert_ms: i64, floor: f64) -> Option<i64> {
    let n = xs.len();
    let last = samples.last()?.0;
    if n < 14 || last >= alert_ms + SHORT_AFTER_MS || last < alert_ms - 60_000 {
        return None;
    }
    let base = Baseline::of(&xs[..n - 2], floor)?;
    let (a, b) = (base.units(xs[n - 2]), base.units(xs[n - 1]));
    ((a > K && b > K) || (a < -K && b < -K)).then_some(samples[n - 2].0)
}

/// The latest change that holds to the end of the data after a calm stretch.
/// When earlier incidents fill so much of the window that no baseline from its
/// start looks normal, the [`CALM`] points just before a run of deviant points
/// that reaches the end are the baseline. Gives the onset, and where the calm
/// stretch began when something deviant came before it.
fn latest(samples: &[(i64, f64)], xs: &[f64], alert_ms: i64, floor: f64) -> Option<(i64, Option<i64>)> {
    let n = xs.len();
    for k in (CALM..n.saturating_sub(1)).rev() {
        let t = samples[k].0;
        if t < alert_ms - RECENT_MS {
            break;
        }
        // The alert fired on something already under way.
        if t > alert_ms + 60_000 {
            continue;
        }
        let Some(base) = Baseline::of(&xs[k - CALM..k], floor) else {
            continue;
        };
        let run = &xs[k..];
        let held = run.iter().all(|x| base.units(*x) > K) || run.iter().all(|x| base.units(*x) < -K);
        if !held || base.units(xs[k - 1]).abs() > K {
            continue;
        }
        let mut c = k - CALM;
        while c > 0 && base.units(xs[c - 1]).abs() <= K {
            c -= 1;
        }
        return Some((t, (c > 0).then(|| samples[c].0)));
    }
    None
}

/// The onset of deviations that come and go: at least three deviant points in
/// the [`RECENT_MS`] before the alert (and after it), where the baseline before
/// had almost none. The first of them is the onset.
pub fn intermittent(samples: &[(i64, f64)], alert_ms: i64, floor: f64) -> Option<i64> {
    let cut = alert_ms - RECENT_MS;
    let old: Vec<f64> = samples.iter().filter(|s| s.0 < cut).map(|s| s.1).collect();
    if old.len() < 12 {
        return None;
    }
    let base = Baseline::of(&old, floor)?;
    let dev = |x: f64| base.units(x).abs() > K;
    let before = old.iter().filter(|x| dev(**x)).count();
    if before * 20 > old.len() {
        return None;
    }
    let recent: Vec<&(i64, f64)> = samples.iter().filter(|s| s.0 >= cut && dev(s.1)).collect();
    (recent.len() >= 3).then(|| recent[0].0)
}

/// The first sample where a counter's increase (restarts, OOM kills) is above
/// zero, in a run of them that reaches the last [`RECENT_MS`] before the alert;
/// the step before it, since trouble precedes the kill.
pub fn first_increase(samples: &[(i64, f64)], alert_ms: i64, step_ms: i64) -> Option<i64> {
    let hits: Vec<i64> = samples.iter().filter(|s| s.1 > 0.0).map(|s| s.0).collect();
    let last = *hits.last()?;
    if last < alert_ms - RECENT_MS {
        return None;
    }
    // Walk back over gaps of up to twice the recent span: one crash loop.
    let mut first = last;
    for t in hits.iter().rev() {
        if first - t > 2 * RECENT_MS {
            break;
        }
        first = *t;
    }
    Some(first - step_ms)
}

/// Finds when the alerting service's signals changed.
pub async fn onset(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let now = ctx.now.millis();
    let alert_ms = ctx.alert.starts_at.millis();
    let start = alert_ms - LOOKBACK_MS;
    let svc = ctx.alert.service().unwrap_or("").to_string();
    b.alert_service = Some(svc.clone());
    let sel = format!("service=\"{svc}\"");
    let since = Since::mark(ctx, "prometheus");
    let queries = [
        format!(
            "(sum(rate(http_server_request_duration_seconds_count{{{sel},http_response_status_code=~\"5..|401|403\"}}[1m])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count{{{sel}}}[1m]))"
        ),
        format!(
            "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{{{sel}}}[1m])))"
        ),
        format!(
            "histogram_quantile(0.99, sum by (le) (rate(http_client_request_duration_seconds_bucket{{peer_service=\"{svc}\"}}[1m])))"
        ),
        format!("max(kafka_consumergroup_lag{{{sel}}}) or max(kafka_consumergroup_lag{{topic=\"{svc}\"}})"),
    ];
    let mut found: Vec<i64> = Vec::new();
    let mut cleaned: Vec<(Vec<(i64, f64)>, f64)> = Vec::new();
    let mut quiet: Option<i64> = None;
    let mut calm: Option<i64> = None;
    for (i, q) in queries.iter().enumerate() {
        // What callers see (a slow network path) and queue lag, when the service's own signals show no change.
        if i >= 2 && !found.is_empty() {
            break;
        }
        let Some((series, _)) = range(ctx, q, start, now, STEP).await? else {
            continue;
        };
        let floor = match i {
            0 => 0.003,
            3 => 20.0,
            _ => 0.005,
        };
        for s in series.into_iter().filter(|s| !s.samples.is_empty()) {
            let r = read(&s.samples, alert_ms, floor);
            found.extend(r.onset);
            quiet = quiet.max(r.quiet_since);
            calm = calm.max(r.calm_from);
            cleaned.push((r.cleaned, floor));
        }
    }
    let mut how = "the alerting signal";
    // Restarts mark a crash loop's start when no change holds, and also when
    // the signal came and went before: a service killed again and again (a
    // leak ending in OOM kills) looks like a string of short episodes.
    let first = found.iter().min().copied();
    if (first.is_none() || quiet.is_some()) && !svc.contains(['"', '\\']) {
        for (q, what) in [
            ("kube_pod_container_status_restarts_total", "restarts"),
            ("container_oom_events_total", "OOM kills"),
        ] {
            let q = format!("sum(increase({q}{{{sel}}}[1m]))");
            let marks: Vec<i64> = match range(ctx, &q, start, now, STEP).await? {
                Some((series, _)) => series
                    .iter()
                    .filter_map(|s| first_increase(&s.samples, alert_ms, 30_000))
                    .collect(),
                None => Vec::new(),
            };
            if let Some(m) = marks.into_iter().min() {
                if first.is_none_or(|f| m < f) {
                    found.push(m);
                    how = what;
                }
                break;
            }
        }
    }
    if found.is_empty() {
        how = "deviations that come and go";
        found.extend(
            cleaned
                .iter()
                .filter_map(|(s, floor)| intermittent(s, alert_ms, *floor)),
        );
    }
    let clear = !found.is_empty();
    // Without an onset, the span compared starts no earlier than the end of an
    // earlier incident, so that incident sits in the baseline, not in what changed.
    let fallback = quiet.map_or(alert_ms - NO_ONSET_MS, |q| {
        q.clamp(alert_ms - NO_ONSET_MS, alert_ms - 60_000)
    });
    let onset = found.into_iter().min().unwrap_or(fallback);
    b.onset = Some(onset);
    // Earlier incidents right before a fresh one: the baseline is the calm between them.
    b.baseline_from = calm.filter(|c| onset - c >= 2 * 60_000);
    ctx.think(say(ctx, &since, &svc, clear.then_some((onset, how)), now - alert_ms));
    Ok(())
}

fn say(ctx: &BranchCtx, since: &Since, svc: &str, found: Option<(i64, &str)>, after_ms: i64) -> String {
    let alert_ms = ctx.alert.starts_at.millis();
    let fallback = format!(
        "comparing the {} min before the alert with the {} min before that",
        NO_ONSET_MS / 60_000,
        BASELINE_MS / 60_000
    );
    match found {
        Some((onset, how)) => format!(
            "Onset on {svc} from {how}: {} ({} min before the alert).",
            Timestamp::from_millis(onset).clock(),
            (alert_ms - onset) / 60_000
        ),
        None => match since.unread(ctx).filter(|_| since.read_nothing(ctx)) {
            Some(unread) => format!("Onset unknown: {unread}; {fallback}."),
            None if after_ms < SHORT_AFTER_MS => format!(
                "No clear onset yet: the data ends {} s after the alert, too soon to tell a change that holds from a blip; {fallback}.",
                after_ms.max(0) / 1000
            ),
            None => {
                format!("No clear onset in {svc}'s errors, latency, callers' latency, lag or restarts; {fallback}.")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sustained(samples: &[(i64, f64)], alert_ms: i64, floor: f64) -> Option<i64> {
        read(samples, alert_ms, floor).onset
    }

    const T0: i64 = 1_800_000_000_000;
    const S: i64 = 30_000;

    fn series(values: &[f64]) -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (T0 + i as i64 * S, *v))
            .collect()
    }

    /// 40 points of 1 % errors with a little noise.
    fn quiet(n: usize) -> Vec<f64> {
        (0..n).map(|i| 0.01 + 0.001 * (i % 3) as f64).collect()
    }

    #[test]
    fn a_change_that_holds_at_the_alert_is_the_onset() {
        let mut v = quiet(40);
        v.extend([0.3; 10]);
        let s = series(&v);
        let alert = s[45].0;
        assert_eq!(sustained(&s, alert, 0.003), Some(s[40].0));
    }

    #[test]
    fn an_earlier_incident_that_ended_before_the_alert_is_not_the_onset() {
        // Errors for three minutes, back to normal for ten, then this incident.
        let mut v = quiet(30);
        v.extend([0.9; 6]);
        v.extend(quiet(20));
        v.extend([0.2; 6]);
        let s = series(&v);
        let alert = s[58].0;
        assert_eq!(sustained(&s, alert, 0.003), Some(s[56].0));
        // With nothing after it, the ended episode gives no onset at all.
        let s = series(&[quiet(30), vec![0.9; 6], quiet(20)].concat());
        assert_eq!(sustained(&s, s[55].0, 0.003), None);
    }

    #[test]
    fn a_change_two_points_old_counts_only_when_the_data_ends_at_the_alert() {
        let s = series(&[quiet(40), vec![0.4, 0.5]].concat());
        // The alert fired at the last point: the investigation began seconds after it.
        assert_eq!(read(&s, s[41].0 - 5_000, 0.003).onset, Some(s[40].0));
        // Long after the alert, two points are a blip.
        assert_eq!(read(&s, s[41].0 - 5 * 60_000, 0.003).onset, None);
    }

    #[test]
    fn an_earlier_incident_ends_even_if_the_calm_after_it_has_an_ordinary_blip() {
        // p99 around 95 ms with the odd 190 ms, 700 ms for seven points, calm (one ordinary blip), then this incident.
        let mut v: Vec<f64> = (0..30).map(|i| if i % 9 == 4 { 0.19 } else { 0.095 }).collect();
        v.extend([0.7; 7]);
        v.extend([0.073, 0.075, 0.19, 0.099, 0.075, 0.094, 0.093]);
        v.extend([2.4; 6]);
        let s = series(&v);
        assert_eq!(read(&s, s[46].0, 0.005).onset, Some(s[44].0));
    }

    #[test]
    fn a_change_after_a_calm_stretch_counts_when_earlier_incidents_fill_the_window() {
        // Errors at 50 % for most of the window (two earlier incidents), four calm
        // minutes, then this incident: no baseline from the window's start is normal.
        let mut v = vec![0.0, 0.05];
        v.extend([0.5; 8]);
        v.extend([0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.39, 0.5, 0.5, 0.5, 0.84]);
        v.extend([0.0; 8]);
        v.extend([0.5; 3]);
        let s = series(&v);
        let r = read(&s, s[29].0, 0.003);
        assert_eq!(r.onset, Some(s[29].0));
        assert_eq!(r.calm_from, Some(s[21].0));
    }

    #[test]
    fn a_signal_that_keeps_coming_back_is_one_trouble_from_its_first_episode() {
        // A sawtooth: three rises of five minutes, each followed by four calm minutes.
        let mut v = quiet(20);
        for _ in 0..3 {
            v.extend([0.3; 10]);
            v.extend(quiet(8));
        }
        v.extend([0.3; 4]);
        let s = series(&v);
        assert_eq!(read(&s, s[76].0, 0.003).onset, Some(s[20].0));
        // One earlier incident of the same kind is another incident.
        let s = series(&[quiet(20), vec![0.3; 10], quiet(8), vec![0.3; 4]].concat());
        assert_eq!(read(&s, s[40].0, 0.003).onset, Some(s[38].0));
    }

    #[test]
    fn restarts_mark_a_crash_loop_that_reaches_the_alert() {
        // increase(restarts[1m]) per step: one restart long ago, then a loop.
        let mut v = vec![0.0; 60];
        v[5] = 1.0;
        for i in [48, 50, 52, 55] {
            v[i] = 1.0;
        }
        let s = series(&v);
        assert_eq!(first_increase(&s, s[54].0, S), Some(s[48].0 - S));
        // OOM kills twelve minutes apart are one loop.
        let mut v = vec![0.0; 80];
        for i in [30, 54, 78] {
            v[i] = 1.0;
        }
        let s = series(&v);
        assert_eq!(first_increase(&s, s[76].0, S), Some(s[30].0 - S));
        // A restart long before the alert marks nothing.
        let old = series(&[vec![0.0; 5], vec![1.0], vec![0.0; 54]].concat());
        assert_eq!(first_increase(&old, old[59].0, S), None);
    }

    #[test]
    fn deviations_that_come_and_go_count_when_they_cluster_before_the_alert() {
        // p99 blips every couple of minutes near the alert, never three in a row.
        let mut v = quiet(50);
        for i in [42, 45, 49] {
            v[i] = 0.2;
        }
        let s = series(&v);
        assert_eq!(sustained(&s, s[49].0, 0.005), None);
        assert_eq!(intermittent(&s, s[49].0, 0.005), Some(s[42].0));
        // One blip is noise.
        let mut one = quiet(50);
        one[45] = 0.2;
        let s = series(&one);
        assert_eq!(intermittent(&s, s[49].0, 0.005), None);
    }
}
