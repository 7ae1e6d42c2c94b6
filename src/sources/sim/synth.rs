//! Large scenarios made to order (`inquest sim generate`): any number of
//! services in a layered call graph the way a real estate of microservices is
//! laid out, with one fault, a red herring and background noise. They size
//! and exercise the simulator and the investigation at scale.
//!
//! The estate is split into domains of about 25 services, each in its own
//! namespace: gateways at the edge call the domains' front APIs, APIs call
//! internal services, and internal services call the domain's stores (a
//! database, a cache, a queue) and, now and then, another domain's API.
//! Workers consume the domain's queue. Every service has at least one caller
//! or is an entry point, and calls only go deeper, so the graph is acyclic.

use std::fmt::Write;

use super::rng::Rng;

/// Services in one domain (and namespace).
const DOMAIN: usize = 25;

/// Domain names; past the list they repeat with a number.
const DOMAINS: [&str; 24] = [
    "orders",
    "payments",
    "catalog",
    "search",
    "accounts",
    "shipping",
    "pricing",
    "inventory",
    "reviews",
    "ledger",
    "media",
    "identity",
    "billing",
    "loyalty",
    "fraud",
    "notify",
    "maps",
    "ads",
    "tax",
    "support",
    "returns",
    "chat",
    "fleet",
    "quotes",
];

/// Names of internal services within a domain.
const ROLES: [&str; 12] = [
    "core", "sync", "rules", "render", "export", "import", "audit", "index", "events", "policy", "router", "quota",
];

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Gateway,
    Api,
    Internal,
    Worker,
    Db,
    Cache,
    Queue,
}

impl Role {
    fn kind(self, r: &mut Rng) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Api => "http",
            Role::Internal if r.chance(0.3) => "grpc",
            Role::Internal => "http",
            Role::Worker => "worker",
            Role::Db => "db",
            Role::Cache => "cache",
            Role::Queue => "queue",
        }
    }
    /// Deeper layers are called by shallower ones only.
    fn layer(self) -> u8 {
        match self {
            Role::Gateway => 0,
            Role::Api => 1,
            Role::Internal | Role::Worker => 2,
            Role::Db | Role::Cache | Role::Queue => 3,
        }
    }
}

struct Svc {
    name: String,
    namespace: String,
    role: Role,
    domain: usize,
    calls: Vec<usize>,
}

/// The TOML text of a scenario with `services` services (at least 8), from
/// `seed`. The same arguments give the same text. The fault is a connection
/// pool exhausted on one domain's database after a config change; the alert
/// fires on that domain's API for its latency.
pub fn generate(services: usize, seed: u64) -> String {
    let services = services.max(8);
    let mut r = Rng::keyed(seed, "synth");
    let svcs = estate(services, &mut r);
    // The faulted domain: one in the middle of the estate, with its own API and database.
    let domains = svcs.iter().filter(|s| s.role == Role::Api).count();
    let fd = domains / 2;
    let db = svcs
        .iter()
        .position(|s| s.domain == fd && s.role == Role::Db)
        .expect("every domain has a database");
    let api = svcs
        .iter()
        .position(|s| s.domain == fd && s.role == Role::Api)
        .expect("every domain has an API");
    let herring = svcs
        .iter()
        .position(|s| s.domain == (fd + 1) % domains && s.role == Role::Internal)
        .unwrap_or(0);
    let noisy = svcs
        .iter()
        .position(|s| s.domain == (fd + domains - 1) % domains && s.role == Role::Api)
        .unwrap_or(0);

    let mut t = String::new();
    let _ = writeln!(
        t,
        "id = \"synth-{services}\"\ntitle = \"{services} services: {} connection pool exhausted after a config change\"\n\
         seed = {seed}\nwindow = \"60m\"\nstep = \"15s\"\nstart = \"2026-03-01T10:00:00Z\"\n\
         tags = [\"kubernetes\", \"postgres\", \"http\"]\n",
        svcs[db].name
    );
    let _ = writeln!(
        t,
        "[alert]\nname = \"ApiLatencyHigh\"\nat = \"48m\"\nseverity = \"page\"\n\
         labels = {{ service = \"{}\", namespace = \"{}\" }}\nsummary = \"{} p99 latency above 2s for 5m\"\n",
        svcs[api].name, svcs[api].namespace, svcs[api].name
    );
    for s in &svcs {
        let calls: Vec<String> = s.calls.iter().map(|c| format!("\"{}\"", svcs[*c].name)).collect();
        let _ = writeln!(
            t,
            "[[service]]\nname = \"{}\"\nkind = \"{}\"\nnamespace = \"{}\"",
            s.name,
            s.role.kind(&mut r),
            s.namespace
        );
        if !calls.is_empty() {
            let _ = writeln!(t, "calls = [{}]", calls.join(", "));
        }
        match s.role {
            Role::Gateway => {
                let _ = writeln!(t, "replicas = 3\nrps = {}", 100 + r.below(400));
            }
            Role::Worker => {
                let _ = writeln!(t, "rps = {}", 20 + r.below(40));
            }
            _ => {}
        }
        t.push('\n');
    }
    let _ = writeln!(
        t,
        "[[fault]]\nkind = \"connection_pool_exhaustion\"\ntarget = \"{0}\"\nat = \"40m\"\nseverity = 0.8\n\n\
         [[event]]\nat = \"39m\"\nkind = \"config_change\"\ntarget = \"{0}\"\nsummary = \"max_connections 200 -> 40\"\n\n\
         [[event]]\nat = \"35m\"\nkind = \"deploy\"\ntarget = \"{1}\"\nsummary = \"{1} v3.2.0\"\n\n\
         [[noise]]\nkind = \"log_errors\"\ntarget = \"{2}\"\nat = \"20m\"\n",
        svcs[db].name, svcs[herring].name, svcs[noisy].name
    );
    let _ = writeln!(
        t,
        "[truth]\nservice = \"{}\"\nkind = \"connection_pool_exhaustion\"\nalso_accept = []\n\
         note = \"A config change cut max_connections; {} waits on the pool.\"",
        svcs[db].name, svcs[api].name
    );
    t
}

/// The services and their calls.
fn estate(services: usize, r: &mut Rng) -> Vec<Svc> {
    let gateways = (services / 100).max(1);
    let domains = (services - gateways).div_ceil(DOMAIN);
    let mut svcs: Vec<Svc> = Vec::with_capacity(services);
    for g in 0..gateways {
        svcs.push(Svc {
            name: if g == 0 {
                "edge-gateway".into()
            } else {
                format!("edge-gateway-{g}")
            },
            namespace: "edge".into(),
            role: Role::Gateway,
            domain: usize::MAX,
            calls: vec![],
        });
    }
    // Each domain: API, store trio, then internals and a worker up to its size.
    let mut left = services - gateways;
    for d in 0..domains {
        let size = left.div_ceil(domains - d);
        left -= size;
        let base = DOMAINS[d % DOMAINS.len()];
        let dn = if d < DOMAINS.len() {
            base.to_string()
        } else {
            format!("{base}{}", d / DOMAINS.len() + 1)
        };
        let mut roles = vec![Role::Api, Role::Db, Role::Cache, Role::Queue, Role::Worker];
        roles.truncate(size);
        while roles.len() < size {
            roles.push(Role::Internal);
        }
        let mut internal = 0;
        for role in roles {
            let name = match role {
                Role::Api => format!("{dn}-api"),
                Role::Db => format!("{dn}-db"),
                Role::Cache => format!("{dn}-cache"),
                Role::Queue => format!("{dn}-queue"),
                Role::Worker => format!("{dn}-worker"),
                _ => {
                    internal += 1;
                    let role = ROLES[(internal - 1) % ROLES.len()];
                    match (internal - 1) / ROLES.len() {
                        0 => format!("{dn}-{role}"),
                        k => format!("{dn}-{role}-{}", k + 1),
                    }
                }
            };
            svcs.push(Svc {
                name,
                namespace: dn.clone(),
                role,
                domain: d,
                calls: vec![],
            });
        }
    }
    wire(&mut svcs, r);
    svcs
}

/// Gives every service its calls: deeper layers only, mostly within its domain.
fn wire(svcs: &mut [Svc], r: &mut Rng) {
    let n = svcs.len();
    let of = |svcs: &[Svc], d: usize, role: Role| -> Vec<usize> {
        (0..svcs.len())
            .filter(|i| svcs[*i].domain == d && svcs[*i].role == role)
            .collect()
    };
    let apis: Vec<usize> = (0..n).filter(|i| svcs[*i].role == Role::Api).collect();
    let domains = apis.len();
    for i in 0..n {
        let d = svcs[i].domain;
        let mut calls: Vec<usize> = Vec::new();
        match svcs[i].role {
            Role::Gateway => {
                // Each API behind some gateway; a gateway fronts a share of the domains.
                let gateways = (0..n).filter(|g| svcs[*g].role == Role::Gateway).count();
                calls.extend(apis.iter().copied().skip(i).step_by(gateways.max(1)));
            }
            Role::Api => {
                let internals = of(svcs, d, Role::Internal);
                for _ in 0..2.min(internals.len()) {
                    calls.push(*r.pick(&internals));
                }
                calls.extend(of(svcs, d, Role::Cache));
                if internals.is_empty() {
                    calls.extend(of(svcs, d, Role::Db));
                }
            }
            Role::Internal => {
                calls.extend(of(svcs, d, Role::Db));
                if r.chance(0.5) {
                    calls.extend(of(svcs, d, Role::Cache));
                }
                if r.chance(0.3) {
                    calls.extend(of(svcs, d, Role::Queue));
                }
                // Now and then another domain's store, through its cache.
                if domains > 1 && r.chance(0.2) {
                    let other = (d + 1 + r.below(domains - 1)) % domains;
                    calls.extend(of(svcs, other, Role::Cache));
                }
            }
            Role::Worker => {
                calls.extend(of(svcs, d, Role::Queue));
                calls.extend(of(svcs, d, Role::Db));
            }
            Role::Db | Role::Cache | Role::Queue => {}
        }
        calls.sort_unstable();
        calls.dedup();
        calls.retain(|c| *c != i && svcs[*c].role.layer() > svcs[i].role.layer());
        svcs[i].calls = calls;
    }
    // Internal services no API picked: their domain's API calls them too.
    for i in 0..n {
        if svcs[i].role == Role::Internal && !svcs.iter().any(|s| s.calls.contains(&i)) {
            let d = svcs[i].domain;
            if let Some(a) = (0..n).find(|a| svcs[*a].domain == d && svcs[*a].role == Role::Api) {
                svcs[a].calls.push(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::scenario;

    #[test]
    fn generated_scenarios_load_and_name_their_fault() {
        for n in [8, 30, 257] {
            let text = generate(n, 7);
            let sc = scenario::parse(&text, "synth.toml", None).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(sc.services.len(), n);
            let truth = sc.truth.as_ref().unwrap();
            assert!(sc.service(&truth.service).is_some());
            // The alerted API reaches the faulted database.
            let api = sc.alert.labels["service"].clone();
            let mut seen = vec![api];
            let mut k = 0;
            while k < seen.len() {
                for c in &sc.service(&seen[k]).unwrap().calls {
                    if !seen.contains(c) {
                        seen.push(c.clone());
                    }
                }
                k += 1;
            }
            assert!(
                seen.contains(&truth.service),
                "{n}: alerted API does not reach {}",
                truth.service
            );
        }
    }

    #[test]
    fn the_service_limit_loads_and_one_more_is_refused_at_its_line() {
        let max = scenario::limits::SERVICES;
        let text = generate(max, 1);
        let sc = scenario::parse(&text, "big.toml", None).expect("the limit itself loads");
        assert_eq!(sc.services.len(), max);
        let extra = format!("{text}\n[[service]]\nname = \"one-too-many\"\nkind = \"http\"\n");
        let err = scenario::parse(&extra, "big.toml", None).expect_err("one past the limit");
        let line = extra[..extra.find("name = \"one-too-many\"").unwrap()].lines().count() + 1;
        assert_eq!(err.path, "big.toml");
        assert!(
            err.line + 1 >= line && err.line <= line,
            "line {} for the service at {line}",
            err.line
        );
        assert!(
            err.message
                .contains(&format!("at most {max} services, found {}", max + 1)),
            "{}",
            err.message
        );
        // The same services over twice the window are past the service-steps limit.
        let long = text.replacen("window = \"60m\"", "window = \"120m\"", 1);
        let err = scenario::parse(&long, "big.toml", None).expect_err("past service-steps");
        assert!(err.message.contains("service-steps"), "{}", err.message);
        assert!(
            err.message.contains(&scenario::limits::SERVICE_STEPS.to_string()),
            "{}",
            err.message
        );
    }

    #[test]
    fn generation_is_deterministic_and_seeded() {
        assert_eq!(generate(120, 3), generate(120, 3));
        assert_ne!(generate(120, 3), generate(120, 4));
    }

    #[test]
    fn every_service_but_the_entry_points_has_a_caller() {
        let sc = scenario::parse(&generate(500, 1), "synth.toml", None).unwrap();
        for s in &sc.services {
            if !matches!(s.kind, scenario::ServiceKind::Gateway | scenario::ServiceKind::Worker) {
                assert!(!sc.callers(&s.name).is_empty(), "{} has no caller", s.name);
            }
        }
    }
}
