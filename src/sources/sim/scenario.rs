//! Scenario files (SCENARIOS.md): loaded strictly. Any unknown key, bad value or
//! dangling reference is an error naming the file, the line and what was expected.

use crate::config::located::line_col;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::model::{FaultKind, Timestamp, parse_duration_ms};

/// The default wall-clock start when a scenario gives none.
pub const DEFAULT_START: &str = "2026-03-01T10:00:00Z";

/// Hard limits on what a scenario file may ask of the simulator: past them it
/// is refused with the file, the line and the limit, never run out of memory,
/// time or stack.
pub mod limits {
    /// The largest scenario file, bytes.
    pub const FILE_BYTES: usize = 2 << 20;
    /// Services in one scenario.
    pub const SERVICES: usize = 1_000;
    /// Pods: the sum of every service's replicas.
    pub const PODS: u64 = 5_000;
    /// Replicas of one service.
    pub const REPLICAS: u32 = 500;
    /// Requests per second of one service.
    pub const RPS: f64 = 100_000.0;
    /// The longest telemetry window, ms (7 days).
    pub const WINDOW_MS: i64 = 7 * 24 * 3_600_000;
    /// Steps (samples per series) in the window.
    pub const STEPS: i64 = 20_000;
    /// Services times steps: what the simulator's memory and time grow with.
    pub const SERVICE_STEPS: i64 = 250_000;
    /// Longest service or namespace name (a DNS label).
    pub const NAME: usize = 63;
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub seed: u64,
    pub window_ms: i64,
    pub step_ms: i64,
    pub start: Timestamp,
    pub tags: Vec<String>,
    pub alert: AlertSpec,
    pub services: Vec<ServiceSpec>,
    pub faults: Vec<FaultSpec>,
    pub events: Vec<ChangeSpec>,
    pub noise: Vec<NoiseSpec>,
    pub truth: Option<Truth>,
    pub recorded: Option<Recorded>,
    /// Where it was loaded from, if from a file.
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertSpec {
    pub name: String,
    pub at_ms: i64,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    Http,
    Grpc,
    Db,
    Cache,
    Queue,
    Worker,
    Gateway,
}

impl ServiceKind {
    /// Whether it serves HTTP/gRPC requests (and so has server request metrics).
    pub fn serves_requests(self) -> bool {
        matches!(self, ServiceKind::Http | ServiceKind::Grpc | ServiceKind::Gateway)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub kind: ServiceKind,
    pub calls: Vec<String>,
    pub replicas: u32,
    pub rps: Option<f64>,
    pub namespace: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub kind: FaultKind,
    pub target: String,
    pub at_ms: i64,
    pub severity: f64,
    pub duration_ms: Option<i64>,
    pub params: BTreeMap<String, toml::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Deploy,
    ConfigChange,
    Scale,
    FeatureFlag,
    Restart,
    /// A rollout back to an earlier version (Kubernetes rollout history, pipelines).
    Rollback,
    /// Any other change a pipeline posted.
    Other,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Deploy => "deploy",
            ChangeKind::ConfigChange => "config_change",
            ChangeKind::Scale => "scale",
            ChangeKind::FeatureFlag => "feature_flag",
            ChangeKind::Restart => "restart",
            ChangeKind::Rollback => "rollback",
            ChangeKind::Other => "other",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChangeSpec {
    pub at_ms: i64,
    pub kind: ChangeKind,
    pub target: String,
    pub summary: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    LogErrors,
    LatencyBlip,
    Restart,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSpec {
    pub kind: NoiseKind,
    pub target: String,
    pub at_ms: i64,
    pub duration_ms: Option<i64>,
    pub severity: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    pub service: String,
    pub kind: FaultKind,
    pub also_accept: Vec<(String, FaultKind)>,
    pub note: String,
}

impl Truth {
    pub fn accepts_service(&self, s: &str) -> bool {
        self.service == s || self.also_accept.iter().any(|(a, _)| a == s)
    }
    pub fn accepts(&self, s: &str, k: FaultKind) -> bool {
        (self.service == s && self.kind == k) || self.also_accept.iter().any(|(a, b)| a == s && *b == k)
    }
}

/// Recorded telemetry files, resolved against the scenario's folder.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Recorded {
    pub metrics: Option<PathBuf>,
    pub logs: Option<PathBuf>,
    pub spans: Option<PathBuf>,
    pub kubernetes: Option<PathBuf>,
}

/// A scenario that cannot be loaded: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

// ---- raw, as written in the file ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    id: Spanned<String>,
    title: String,
    seed: u64,
    window: Dur,
    step: Dur,
    #[serde(default)]
    start: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<String>,
    alert: RawAlert,
    #[serde(rename = "service")]
    services: Vec<Spanned<RawService>>,
    #[serde(default, rename = "fault")]
    faults: Vec<Spanned<RawFault>>,
    #[serde(default, rename = "event")]
    events: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    noise: Vec<Spanned<RawNoise>>,
    #[serde(default)]
    truth: Option<Spanned<RawTruth>>,
    #[serde(default)]
    recorded: Option<RawRecorded>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    name: String,
    at: Dur,
    #[serde(default = "default_severity")]
    severity: Spanned<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    summary: String,
}

fn default_severity() -> Spanned<String> {
    Spanned::new(0..0, "page".to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    kind: ServiceKind,
    #[serde(default)]
    calls: Vec<Spanned<String>>,
    #[serde(default)]
    replicas: Option<Spanned<u32>>,
    #[serde(default)]
    rps: Option<Spanned<f64>>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: FaultKind,
    target: Spanned<String>,
    at: Dur,
    #[serde(default)]
    severity: Option<Spanned<f64>>,
    #[serde(default)]
    duration: Option<Dur>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Dur,
    kind: ChangeKind,
    target: Spanned<String>,
    #[serde(default)]
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoise {
    kind: NoiseKind,
    target: Spanned<String>,
    at: Dur,
    #[serde(default)]
    duration: Option<Dur>,
    #[serde(default)]
    severity: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTruth {
    service: Spanned<String>,
    kind: FaultKind,
    #[serde(default)]
    also_accept: Vec<RawAccept>,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccept {
    service: String,
    kind: FaultKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecorded {
    #[serde(default)]
    metrics: Option<String>,
    #[serde(default)]
    logs: Option<String>,
    #[serde(default)]
    spans: Option<String>,
    #[serde(default)]
    kubernetes: Option<String>,
}

/// A duration string, checked where it is read so the error carries its line.
struct Dur {
    ms: i64,
    span: Range<usize>,
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<String>::deserialize(d)?;
        let span = s.span();
        let ms = parse_duration_ms(s.get_ref()).map_err(serde::de::Error::custom)?;
        Ok(Dur { ms, span })
    }
}

/// Loads and validates a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > limits::FILE_BYTES as u64);
    if too_big {
        return Err(ScenarioError {
            path: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("the scenario is larger than {} bytes", limits::FILE_BYTES),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        path: path.display().to_string(),
        line: 0,
        column: 0,
        message: format!("cannot read the scenario: {e}"),
    })?;
    let mut sc = parse(&text, &path.display().to_string(), path.parent())?;
    sc.path = Some(path.to_path_buf());
    Ok(sc)
}

/// Parses and validates scenario text. `name` is used in errors; `dir` resolves `[recorded]` paths.
///
/// The checks run in the file's reading order (header, services, timeline,
/// alert, truth), so the first error reported is the first one a reader meets.
pub fn parse(text: &str, name: &str, dir: Option<&Path>) -> Result<Scenario, ScenarioError> {
    let mut ck = Check { text, name, window: 0 };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let msg = e.message().trim().replace('\n', " ");
        ck.at(span, explain(&msg))
    })?;
    let id = ck.header(&raw)?;
    ck.window = raw.window.ms;
    let start = match &raw.start {
        Some(s) => Timestamp::parse_rfc3339(s.get_ref()).map_err(|m| ck.at(s.span(), m))?,
        None => Timestamp::parse_rfc3339(DEFAULT_START).map_err(|m| ck.at(0..0, m))?,
    };
    let names = ck.names(&raw.services)?;
    let services = ck.services(&raw.services, &names)?;
    let (faults, events, noise) = ck.timeline(&raw, &names)?;
    let alert = ck.alert(&raw.alert)?;
    let truth = match &raw.truth {
        Some(t) => {
            let r = t.get_ref();
            Some(Truth {
                service: ck.known(&names, &r.service, "truth service")?,
                kind: r.kind,
                also_accept: r.also_accept.iter().map(|a| (a.service.clone(), a.kind)).collect(),
                note: r.note.clone(),
            })
        }
        None => None,
    };
    let recorded = raw.recorded.as_ref().map(|r| {
        let resolve = |p: &Option<String>| {
            p.as_ref()
                .map(|p| dir.map(|d| d.join(p)).unwrap_or_else(|| PathBuf::from(p)))
        };
        Recorded {
            metrics: resolve(&r.metrics),
            logs: resolve(&r.logs),
            spans: resolve(&r.spans),
            kubernetes: resolve(&r.kubernetes),
        }
    });
    if faults.is_empty() && recorded.is_none() {
        return Err(ck.at(0..0, "expected at least one [[fault]] or a [recorded] section".into()));
    }

    Ok(Scenario {
        id,
        title: raw.title,
        seed: raw.seed,
        window_ms: raw.window.ms,
        step_ms: raw.step.ms,
        start,
        tags: raw.tags,
        alert,
        services,
        faults,
        events,
        noise,
        truth,
        recorded,
        path: None,
    })
}

/// The service names in file order, and where each one is.
struct Names {
    index: HashMap<String, usize>,
    names: Vec<String>,
}

/// Validation of one scenario text: every error points into it.
struct Check<'a> {
    text: &'a str,
    name: &'a str,
    /// The window's length, ms, once the header is checked.
    window: i64,
}

impl Check<'_> {
    fn at(&self, span: Range<usize>, message: String) -> ScenarioError {
        let (line, column) = line_col(self.text, span.start);
        ScenarioError {
            path: self.name.to_string(),
            line,
            column,
            message,
        }
    }

    /// The id, the window and the step.
    fn header(&self, raw: &RawScenario) -> Result<String, ScenarioError> {
        let id = raw.id.get_ref().clone();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(self.at(
                raw.id.span(),
                format!("expected an id of lowercase letters, digits and '-', found {id:?}"),
            ));
        }
        if raw.window.ms <= 0 || raw.window.ms > limits::WINDOW_MS {
            return Err(self.at(
                raw.window.span.clone(),
                "expected a window longer than zero and at most 7d".into(),
            ));
        }
        if raw.step.ms <= 0 || raw.step.ms > raw.window.ms {
            return Err(self.at(
                raw.step.span.clone(),
                "expected a step longer than zero and no longer than the window".into(),
            ));
        }
        if raw.window.ms / raw.step.ms > limits::STEPS {
            return Err(self.at(
                raw.step.span.clone(),
                format!(
                    "expected at most {} steps in the window, this step gives {}",
                    limits::STEPS,
                    raw.window.ms / raw.step.ms
                ),
            ));
        }
        let steps = raw.window.ms / raw.step.ms;
        let services = raw.services.len() as i64;
        if services > limits::SERVICES as i64 {
            let at = raw.services.get(limits::SERVICES).map(|s| s.span()).unwrap_or(0..0);
            return Err(self.at(
                at,
                format!("expected at most {} services, found {services}", limits::SERVICES),
            ));
        }
        if services.saturating_mul(steps) > limits::SERVICE_STEPS {
            return Err(self.at(
                raw.step.span.clone(),
                format!(
                    "{services} services over {steps} steps is more than the simulator's limit of {} \
                     service-steps; use a longer step, a shorter window or fewer services",
                    limits::SERVICE_STEPS
                ),
            ));
        }
        Ok(id)
    }

    fn in_window(&self, d: &Dur, what: &str) -> Result<i64, ScenarioError> {
        if d.ms > self.window {
            Err(self.at(
                d.span.clone(),
                format!(
                    "expected {what} within the window (0 to {})",
                    crate::model::format_duration_ms(self.window)
                ),
            ))
        } else {
            Ok(d.ms)
        }
    }

    fn severity(&self, v: &Option<Spanned<f64>>, default: f64) -> Result<f64, ScenarioError> {
        match v {
            Some(s) if !(0.0..=1.0).contains(s.get_ref()) => Err(self.at(
                s.span(),
                format!("expected a severity between 0 and 1, found {}", s.get_ref()),
            )),
            Some(s) => Ok(*s.get_ref()),
            None => Ok(default),
        }
    }

    /// A reference to a service, which must exist.
    fn known(&self, names: &Names, n: &Spanned<String>, what: &str) -> Result<String, ScenarioError> {
        if names.index.contains_key(n.get_ref()) {
            Ok(n.get_ref().clone())
        } else {
            Err(self.at(
                n.span(),
                format!(
                    "{what} {:?} names no service; expected one of: {}",
                    n.get_ref(),
                    names.names.join(", ")
                ),
            ))
        }
    }

    /// Service names: present and unique, and at least one.
    fn names(&self, raw: &[Spanned<RawService>]) -> Result<Names, ScenarioError> {
        let mut names = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for s in raw {
            let name = s.get_ref().name.get_ref().clone();
            if !dns_label(&name) {
                return Err(self.at(
                    s.get_ref().name.span(),
                    format!(
                        "expected a service name of lowercase letters, digits and '-' (a DNS label, at most {} \
                         characters, starting and ending with a letter or digit), found {name:?}",
                        limits::NAME,
                    ),
                ));
            }
            if let Some(ns) = &s.get_ref().namespace
                && !dns_label(ns)
            {
                return Err(self.at(
                    s.span(),
                    format!("expected a namespace of lowercase letters, digits and '-' (a DNS label), found {ns:?}"),
                ));
            }
            if index.insert(name.clone(), names.len()).is_some() {
                return Err(self.at(
                    s.get_ref().name.span(),
                    format!("service {name:?} is defined twice; expected unique service names"),
                ));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(self.at(0..0, "expected at least one [[service]]".into()));
        }
        Ok(Names { index, names })
    }

    /// Services: resolvable calls, sane replicas and rates, no cycles.
    fn services(&self, raw: &[Spanned<RawService>], names: &Names) -> Result<Vec<ServiceSpec>, ScenarioError> {
        let mut specs = Vec::new();
        let mut pods: u64 = 0;
        for s in raw {
            let r = s.get_ref();
            let mut calls = Vec::new();
            for c in &r.calls {
                let c = self.known(names, c, "calls entry")?;
                if c == *r.name.get_ref() {
                    return Err(self.at(r.name.span(), format!("service {c:?} calls itself")));
                }
                if !calls.contains(&c) {
                    calls.push(c);
                }
            }
            let replicas = match &r.replicas {
                Some(v) if *v.get_ref() == 0 || *v.get_ref() > limits::REPLICAS => {
                    return Err(self.at(
                        v.span(),
                        format!("expected replicas between 1 and {}", limits::REPLICAS),
                    ));
                }
                Some(v) => *v.get_ref(),
                None => 2,
            };
            let rps = match &r.rps {
                Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0 && *v.get_ref() <= limits::RPS) => {
                    return Err(self.at(
                        v.span(),
                        format!(
                            "expected rps above zero and at most {}, found {:e}",
                            limits::RPS,
                            v.get_ref()
                        ),
                    ));
                }
                Some(v) => Some(*v.get_ref()),
                None => None,
            };
            pods += u64::from(replicas);
            if pods > limits::PODS {
                return Err(self.at(
                    s.span(),
                    format!(
                        "expected at most {} pods (replicas over all services) in all",
                        limits::PODS
                    ),
                ));
            }
            specs.push(ServiceSpec {
                name: r.name.get_ref().clone(),
                kind: r.kind,
                calls,
                replicas,
                rps,
                namespace: r.namespace.clone().unwrap_or_else(|| "default".into()),
            });
        }
        if let Some(cycle) = find_cycle(&specs) {
            let at = raw
                .iter()
                .find(|s| s.get_ref().name.get_ref() == &cycle[0])
                .map(|s| s.span())
                .unwrap_or(0..0);
            return Err(self.at(
                at,
                format!(
                    "calls form a cycle ({}); expected an acyclic call graph",
                    cycle.join(" -> ")
                ),
            ));
        }
        Ok(specs)
    }

    /// Faults, change events and noise, each on a known service within the window.
    #[allow(clippy::type_complexity)]
    fn timeline(
        &self,
        raw: &RawScenario,
        names: &Names,
    ) -> Result<(Vec<FaultSpec>, Vec<ChangeSpec>, Vec<NoiseSpec>), ScenarioError> {
        let mut faults = Vec::new();
        for f in &raw.faults {
            let r = f.get_ref();
            faults.push(FaultSpec {
                kind: r.kind,
                target: self.known(names, &r.target, "fault target")?,
                at_ms: self.in_window(&r.at, "the fault's start")?,
                severity: self.severity(&r.severity, 0.7)?,
                duration_ms: r.duration.as_ref().map(|d| d.ms),
                params: r.params.clone(),
            });
        }
        let mut events = Vec::new();
        for e in &raw.events {
            let r = e.get_ref();
            events.push(ChangeSpec {
                at_ms: self.in_window(&r.at, "the event")?,
                kind: r.kind,
                target: self.known(names, &r.target, "event target")?,
                summary: r.summary.clone(),
            });
        }
        let mut noise = Vec::new();
        for n in &raw.noise {
            let r = n.get_ref();
            noise.push(NoiseSpec {
                kind: r.kind,
                target: self.known(names, &r.target, "noise target")?,
                at_ms: self.in_window(&r.at, "the noise")?,
                duration_ms: r.duration.as_ref().map(|d| d.ms),
                severity: Some(self.severity(&r.severity, 0.5)?),
            });
        }
        Ok((faults, events, noise))
    }

    fn alert(&self, raw: &RawAlert) -> Result<AlertSpec, ScenarioError> {
        let sev = raw.severity.get_ref().clone();
        if !["page", "ticket", "info"].contains(&sev.as_str()) {
            return Err(self.at(
                raw.severity.span(),
                format!("expected alert severity page, ticket or info, found {sev:?}"),
            ));
        }
        Ok(AlertSpec {
            name: raw.name.clone(),
            at_ms: self.in_window(&raw.at, "the alert")?,
            severity: sev,
            labels: raw.labels.clone(),
            summary: raw.summary.clone(),
        })
    }
}

/// Rewords serde's messages into what the file should have held.
fn explain(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        return format!("unknown key {rest}");
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        return format!("unknown value {rest}");
    }
    msg.to_string()
}

/// A cycle in the call graph, if any: a depth-first search with its own stack,
/// so a long chain of calls in the file cannot overflow the thread's.
fn find_cycle(specs: &[ServiceSpec]) -> Option<Vec<String>> {
    let idx: HashMap<&str, usize> = specs.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let calls: Vec<Vec<usize>> = specs
        .iter()
        .map(|s| s.calls.iter().filter_map(|c| idx.get(c.as_str()).copied()).collect())
        .collect();
    // 0 unvisited, 1 on the path, 2 done
    let mut state = vec![0u8; specs.len()];
    for root in 0..specs.len() {
        if state[root] != 0 {
            continue;
        }
        // (service, next call to follow)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (i, ref mut next)) = path.last_mut() {
            if let Some(&j) = calls[i].get(*next) {
                *next += 1;
                match state[j] {
                    1 => {
                        let pos = path.iter().position(|(k, _)| *k == j).unwrap_or(0);
                        let mut cyc: Vec<String> = path[pos..].iter().map(|(k, _)| specs[*k].name.clone()).collect();
                        cyc.push(specs[j].name.clone());
                        return Some(cyc);
                    }
                    0 => {
                        state[j] = 1;
                        path.push((j, 0));
                    }
                    _ => {}
                }
            } else {
                state[i] = 2;
                path.pop();
            }
        }
    }
    None
}

/// A DNS label: lowercase letters, digits and '-', 1 to 63 long, starting and
/// ending with a letter or digit.
fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= limits::NAME
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl Scenario {
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }
    /// The alert's wall-clock time.
    pub fn alert_time(&self) -> Timestamp {
        self.start + self.alert.at_ms * 1_000_000
    }
    pub fn end_time(&self) -> Timestamp {
        self.start + self.window_ms * 1_000_000
    }
    /// Services that call `name`.
    pub fn callers(&self, name: &str) -> Vec<&ServiceSpec> {
        self.services
            .iter()
            .filter(|s| s.calls.iter().any(|c| c == name))
            .collect()
    }
}
