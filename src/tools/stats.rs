//! Robust statistics for change scoring around an onset (as BARO does), change
//! points, and personalised PageRank over the dependency graph (as MicroRCA does).

/// Median of the finite values; `None` when there are none.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Interquartile range of the finite values.
pub fn iqr(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    quantile(&v, 0.75) - quantile(&v, 0.25)
}

/// How far `after` moved from `before`, in robust units: (median after -
/// median before) / IQR before, with a floor on the scale so flat baselines do
/// not turn noise into huge scores.
pub fn robust_z(before: &[f64], after: &[f64], floor: f64) -> f64 {
    let (Some(mb), Some(ma)) = (median(before), median(after)) else {
        return 0.0;
    };
    let scale = iqr(before).max(floor).max(mb.abs() * 0.05);
    (ma - mb) / scale
}

/// Splits samples at `t` (ms): before and at-or-after.
pub fn split(samples: &[(i64, f64)], t: i64) -> (Vec<f64>, Vec<f64>) {
    let mut b = Vec::new();
    let mut a = Vec::new();
    for (ts, v) in samples {
        if *ts < t { b.push(*v) } else { a.push(*v) }
    }
    (b, a)
}

/// The first index where the next `run` values all sit more than `k` robust
/// units from everything before them (in the same direction). Needs `min_base` points of baseline.
pub fn change_point(xs: &[f64], min_base: usize, run: usize, k: f64, floor: f64) -> Option<usize> {
    if xs.len() < min_base + run {
        return None;
    }
    for i in min_base..=xs.len() - run {
        let base = &xs[..i];
        let Some(m) = median(base) else { continue };
        let scale = (iqr(base) * 0.75).max(floor).max(m.abs() * 0.08);
        let w = &xs[i..i + run];
        if w.iter().all(|x| (x - m) / scale > k) || w.iter().all(|x| (m - x) / scale > k) {
            return Some(i);
        }
    }
    None
}

/// Personalised PageRank on a weighted directed graph. `edges[i]` lists
/// (target, weight) for node i; `personal` is the restart distribution.
pub fn pagerank(edges: &[Vec<(usize, f64)>], personal: &[f64], damping: f64, iters: usize) -> Vec<f64> {
    let n = personal.len();
    if n == 0 {
        return vec![];
    }
    let total: f64 = personal.iter().sum::<f64>().max(1e-12);
    let p: Vec<f64> = personal.iter().map(|x| x / total).collect();
    let mut r = p.clone();
    for _ in 0..iters {
        let mut next = vec![0.0; n];
        let mut dangling = 0.0;
        for i in 0..n {
            let out: f64 = edges[i].iter().map(|e| e.1).sum();
            if out <= 0.0 {
                dangling += r[i];
                continue;
            }
            for (j, w) in &edges[i] {
                next[*j] += damping * r[i] * w / out;
            }
        }
        for i in 0..n {
            next[i] += (1.0 - damping) * p[i] + damping * dangling * p[i];
        }
        r = next;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_scores() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
        // IQR of 1..=9 is 7 - 3 = 4 (linear interpolation).
        let xs: Vec<f64> = (1..=9).map(f64::from).collect();
        assert!((iqr(&xs) - 4.0).abs() < 1e-9);
        // before median 5, IQR 4; after median 25 → z = 20 / 4 = 5
        let after = [25.0, 24.0, 26.0];
        assert!((robust_z(&xs, &after, 0.0) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn finds_the_change_point() {
        let mut xs = vec![1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.02, 0.98, 1.0];
        xs.extend([5.0, 5.2, 4.9, 5.1]);
        assert_eq!(change_point(&xs, 6, 3, 5.0, 0.01), Some(10));
        assert_eq!(change_point(&xs[..10], 6, 3, 5.0, 0.01), None);
    }

    #[test]
    fn pagerank_follows_weight() {
        // 0 → 1 (weight 9), 0 → 2 (weight 1); restart at 0.
        let edges = vec![vec![(1, 9.0), (2, 1.0)], vec![], vec![]];
        let r = pagerank(&edges, &[1.0, 0.0, 0.0], 0.85, 50);
        assert!(r[1] > r[2] * 5.0);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    }
}
