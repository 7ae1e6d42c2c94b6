//! The house's shape, checked from the source: which room may import which
//! (the arrows point one way, DESIGN.md "The house"), and how big a file or a
//! function may grow before it needs a written reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may import. Lowest first:
/// model ← config ← sources ← tools ← reason ← engine ← wire ← cli/tui/serve,
/// with store and export beside the engine as sinks of its events.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("config", &["model"]),
    ("sources", &["model", "config"]),
    ("tools", &["model", "config", "sources"]),
    ("reason", &["model", "config", "sources", "tools"]),
    ("engine", &["model", "config", "sources", "tools", "reason"]),
    ("store", &["model", "config", "tools"]),
    ("export", &["model", "config", "tools"]),
    (
        "wire",
        &[
            "model", "config", "sources", "tools", "reason", "engine", "store", "export",
        ],
    ),
    (
        "eval",
        &[
            "model", "config", "sources", "tools", "reason", "engine", "store", "export", "wire",
        ],
    ),
    (
        "intake",
        &["model", "config", "sources", "tools", "store", "export", "wire"],
    ),
    // The cockpit knows the model (events in, commands out), how tools'
    // answers are rendered and sanitised, and where its own files live.
    ("tui", &["model", "config", "tools"]),
    (
        "cli",
        &[
            "model", "config", "sources", "tools", "reason", "engine", "store", "export", "wire", "eval", "intake",
            "tui",
        ],
    ),
];

/// Paths inside a module that another module must not reach even where the module is allowed.
const FORBIDDEN_PATHS: &[(&str, &str, &str)] = &[
    (
        "engine",
        "reason::builtin",
        "the engine runs any Reasoner; wire picks the concrete one",
    ),
    (
        "engine",
        "reason::llm",
        "the engine runs any Reasoner; wire picks the concrete one",
    ),
];

/// Lines of non-test code a file may hold, and a function's length, before it needs a reason.
const FILE_LIMIT: usize = 800;
const FN_LIMIT: usize = 150;

/// Files and functions allowed past the limits, each with its reason.
const EXCEPTIONS: &[(&str, &str)] = &[];

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut v);
    v.sort();
    v
}

fn rel(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The top-level module a file belongs to (`src/reason/llm/mod.rs` → `reason`).
fn room(p: &str) -> Option<String> {
    let rest = p.strip_prefix("src/")?;
    let first = rest.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// Blanks comments, strings and char literals (keeping line breaks) so braces and paths in them are not read.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r' && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#')) && !ident_byte(b, i) {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..].iter().position(|&x| x == b'\'').map(|k| i + 2 + k)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) if end - i < 12 => {
                    out.push_str("' '");
                    i = end + 1;
                }
                _ => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            // Multi-byte UTF-8 passes through whole.
            let len = utf8_len(c);
            out.push_str(&src[i..i + len]);
            i += len;
        }
    }
    out
}

fn ident_byte(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn utf8_len(c: u8) -> usize {
    match c {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Lines of code outside `#[cfg(test)]` items, as (line number, text).
fn non_test_lines(code: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            // Skip the item that follows: to its closing brace or semicolon.
            let mut depth = 0i32;
            let mut opened = false;
            i += 1;
            while i < lines.len() {
                for ch in lines[i].chars() {
                    match ch {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                let ends = (opened && depth <= 0) || (!opened && lines[i].trim_end().ends_with(';'));
                i += 1;
                if ends {
                    break;
                }
            }
            continue;
        }
        out.push((i + 1, lines[i].to_string()));
        i += 1;
    }
    out
}

/// The `crate::` paths a file names, each as its first two segments (`reason::builtin`).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        collect(rest, "", &mut out);
    }
    out
}

/// Reads a path tail (`a::b`, `a::{b, c::d}`, `{a, b}`) into two-segment names.
fn collect(text: &str, prefix: &str, out: &mut BTreeSet<String>) {
    let t = text.trim_start();
    if let Some(group) = t.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        let g = group.as_bytes();
        for (k, &ch) in g.iter().enumerate() {
            match ch {
                b'{' => depth += 1,
                b'}' if depth == 0 => {
                    collect(&group[start..k], prefix, out);
                    return;
                }
                b'}' => depth -= 1,
                b',' if depth == 0 => {
                    collect(&group[start..k], prefix, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let ident: String = t.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if ident.is_empty() || ident == "self" {
        if !prefix.is_empty() {
            out.insert(prefix.to_string());
        }
        return;
    }
    if prefix.is_empty() {
        let after = &t[ident.len()..];
        match after.strip_prefix("::") {
            Some(more) => {
                let more_t = more.trim_start();
                if more_t.starts_with('{') {
                    out.insert(ident.clone());
                    collect(more_t, &ident, out);
                } else {
                    let second: String = more_t
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    out.insert(format!("{ident}::{second}"));
                }
            }
            None => {
                out.insert(ident);
            }
        }
    } else {
        out.insert(format!("{prefix}::{ident}"));
    }
}

#[test]
fn the_arrows_point_one_way() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in sources() {
        let p = rel(&path);
        let Some(from) = room(&p) else { continue };
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = non_test_lines(&code_only(&text))
            .into_iter()
            .map(|(_, l)| l + "\n")
            .collect();
        let Some(may) = allowed.get(from.as_str()) else {
            wrong.push(format!(
                "{p}: module `{from}` has no place in the house (tests/architecture.rs ALLOWED)"
            ));
            continue;
        };
        for name in crate_paths(&code) {
            let to = name.split("::").next().unwrap_or_default().to_string();
            if to == from {
                continue;
            }
            graph.entry(from.clone()).or_default().insert(to.clone());
            if !may.contains(&to.as_str()) {
                wrong.push(format!("{p}: `{from}` imports `crate::{name}`"));
            }
            for (f, forbidden, why) in FORBIDDEN_PATHS {
                if *f == from && name.starts_with(forbidden) {
                    wrong.push(format!("{p}: `{from}` imports `crate::{name}`: {why}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows that point the wrong way:\n{}",
        wrong.join("\n")
    );
    // ALLOWED is itself acyclic, so the graph is; check anyway, in case ALLOWED changes.
    fn visit(n: &str, g: &BTreeMap<String, BTreeSet<String>>, stack: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(n) {
            return;
        }
        if let Some(at) = stack.iter().position(|s| s == n) {
            panic!("a circle of imports: {} -> {n}", stack[at..].join(" -> "));
        }
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, stack, done);
        }
        stack.pop();
        done.insert(n.to_string());
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
}

fn excepted(key: &str) -> bool {
    EXCEPTIONS.iter().any(|(k, why)| *k == key && !why.trim().is_empty())
}

#[test]
fn files_stay_small() {
    let mut big = Vec::new();
    for path in sources() {
        let p = rel(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        let n = non_test_lines(&code_only(&text))
            .iter()
            .filter(|(_, l)| !l.trim().is_empty())
            .count();
        if n > FILE_LIMIT && !excepted(&p) {
            big.push(format!("{p}: {n} lines of non-test code (limit {FILE_LIMIT})"));
        }
    }
    assert!(big.is_empty(), "files over the limit:\n{}", big.join("\n"));
}

/// Each `fn` in the code with its first line and length in lines.
fn functions(lines: &[(usize, String)]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for (k, (no, l)) in lines.iter().enumerate() {
        let t = l.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let t = t.strip_prefix("const ").unwrap_or(t);
        let t = t.strip_prefix("async ").unwrap_or(t);
        let t = t.strip_prefix("unsafe ").unwrap_or(t);
        let Some(sig) = t.strip_prefix("fn ") else { continue };
        let name: String = sig.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // Find the body's opening brace, then its match.
        let mut depth = 0i32;
        let mut opened = false;
        let mut end = None;
        'scan: for (j, (eno, el)) in lines.iter().enumerate().skip(k) {
            for ch in el.chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth -= 1;
                        if opened && depth == 0 {
                            end = Some(*eno);
                            break 'scan;
                        }
                    }
                    ';' if !opened => break 'scan,
                    _ => {}
                }
            }
            let _ = j;
        }
        if let Some(end) = end {
            out.push((name, *no, end - no + 1));
        }
    }
    out
}

#[test]
fn functions_stay_short() {
    let mut long = Vec::new();
    for path in sources() {
        let p = rel(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = non_test_lines(&code_only(&text));
        for (name, line, len) in functions(&lines) {
            if len > FN_LIMIT && !excepted(&format!("{p}::{name}")) {
                long.push(format!("{p}:{line}: fn {name} is {len} lines (limit {FN_LIMIT})"));
            }
        }
    }
    assert!(long.is_empty(), "functions over the limit:\n{}", long.join("\n"));
}

#[test]
fn the_reader_sees_what_it_should() {
    // The checks above are only as good as this reading of the source.
    let code = code_only(
        "use crate::{model::{Event, Alert}, tools::render};\nlet s = \"crate::tui\"; // crate::cli\nfn f() { '{'; }\n",
    );
    let paths = crate_paths(&code);
    assert!(paths.contains("model") && paths.contains("tools::render"), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.starts_with("tui") || p.starts_with("cli")),
        "{paths:?}"
    );
    let lines = non_test_lines(&code);
    let fns = functions(&lines);
    assert_eq!(fns, vec![("f".to_string(), 3, 1)]);
    let with_tests = "fn a() {\n}\n#[cfg(test)]\nmod tests {\n    fn long() {\n    }\n}\n";
    assert_eq!(non_test_lines(with_tests).len(), 2);
}
