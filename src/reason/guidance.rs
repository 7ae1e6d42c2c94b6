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

/// The fault kinds guidance rules out for `service`: "the kind was not
/// bad_deploy" (what a "partly" grade teaches) in a line that names it.
pub fn rejected_kinds(guidance: &[String], service: &str) -> Vec<String> {
    const MARK: &str = "kind was not ";
    let names = [service.to_string()];
    let mut out = Vec::new();
    for g in guidance {
        let lower = g.to_lowercase();
        if verdicts(&lower, &names).is_empty() {
            continue;
        }
        let mut rest = lower.as_str();
        while let Some(i) = rest.find(MARK) {
            rest = &rest[i + MARK.len()..];
            let kind: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !kind.is_empty() && !out.contains(&kind) {
                out.push(kind);
            }
        }
    }
    out
}

/// The weight guidance puts on a service's score: above 1 for suspects, below for innocents.
pub fn weight(guidance: &[String], service: &str, services: &[String]) -> f64 {
    let mut w = 1.0;
    for g in guidance {
        // "Suspect X; the kind was not K" (a partly grade) must not raise X as K,
        // and the weight cannot tell kinds apart: such a line leaves X's weight be.
        if !rejected_kinds(std::slice::from_ref(g), service).is_empty() {
            continue;
        }
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
    fn a_partly_line_rules_out_its_kind_for_its_service_only() {
        let g = vec![
            "Learned from trace 1234, graded partly right by a: suspect catalog; the kind was not bad_deploy."
                .to_string(),
        ];
        assert_eq!(rejected_kinds(&g, "catalog"), vec!["bad_deploy".to_string()]);
        assert!(rejected_kinds(&g, "frontend").is_empty());
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
