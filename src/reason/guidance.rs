//! Reading what the engineer typed: which services they name as suspect and
//! which as innocent or to ignore.

/// How guidance weighs a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Suspect,
    Innocent,
}

const NEGATIVE: &[&str] = &[
    "innocent",
    "ignore",
    "not ",
    "isn't",
    "is fine",
    "is healthy",
    "healthy",
    "red herring",
    "rule out",
    "ruled out",
    "unrelated",
    "not the",
    "exclude",
    "skip",
    "fine",
    "n't",
];

/// What the guidance text says about each of `services`, by the words around each mention.
pub fn verdicts(text: &str, services: &[String]) -> Vec<(String, Verdict)> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    // Longer names first, so "orders-db" is not read as "orders".
    let mut names: Vec<&String> = services.iter().collect();
    names.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut taken: Vec<(usize, usize)> = Vec::new();
    for name in names {
        let n = name.to_lowercase();
        let mut from = 0;
        while let Some(pos) = lower[from..].find(&n) {
            let start = from + pos;
            let end = start + n.len();
            from = end;
            let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'));
            if !boundary(lower[..start].chars().last()) || !boundary(lower[end..].chars().next()) {
                continue;
            }
            if taken.iter().any(|(a, b)| start < *b && end > *a) {
                continue;
            }
            taken.push((start, end));
            // The clause around the mention decides.
            let clause_start = lower[..start].rfind(['.', ';', ',', '\n']).map_or(0, |i| i + 1);
            let clause_end = lower[end..]
                .find(['.', ';', ',', '\n'])
                .map_or(lower.len(), |i| end + i);
            let clause = &lower[clause_start..clause_end];
            let neg = NEGATIVE.iter().any(|w| clause.contains(w));
            // A mention is a suspicion unless its clause clears it.
            let v = if neg { Verdict::Innocent } else { Verdict::Suspect };
            if !out.iter().any(|(s, _): &(String, Verdict)| s == name) {
                out.push((name.clone(), v));
            }
        }
    }
    out
}

/// The weight guidance puts on a service's score: above 1 for suspects, below for innocents.
pub fn weight(guidance: &[String], service: &str, services: &[String]) -> f64 {
    let mut w = 1.0;
    for g in guidance {
        for (s, v) in verdicts(g, services) {
            if s == service {
                w = match v {
                    Verdict::Suspect => 1.6,
                    Verdict::Innocent => 0.15,
                };
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svcs() -> Vec<String> {
        ["frontend", "orders", "orders-db", "catalog"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn reads_innocent_and_suspect() {
        let v = verdicts("frontend is innocent, the deploy was fine. Suspect orders-db", &svcs());
        assert!(v.contains(&("frontend".into(), Verdict::Innocent)));
        assert!(v.contains(&("orders-db".into(), Verdict::Suspect)));
        assert!(!v.iter().any(|(s, _)| s == "orders"));
        let v = verdicts("ignore catalog", &svcs());
        assert_eq!(v, vec![("catalog".into(), Verdict::Innocent)]);
    }

    #[test]
    fn weights_follow_the_latest_word() {
        let g = vec!["look at catalog".to_string(), "catalog is a red herring".to_string()];
        assert!(weight(&g, "catalog", &svcs()) < 1.0);
        assert_eq!(weight(&g, "frontend", &svcs()), 1.0);
    }
}
