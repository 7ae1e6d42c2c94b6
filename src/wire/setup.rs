//! Wiring one investigation: the backend (the simulator, or the configured
//! sources through a router) behind the read-only guard, the reasoner (built-in,
//! a model, or the hybrid of both), the strategies, the budget and the bundle id.

use std::sync::Arc;
use std::time::Duration;

use super::bundle::{Bundle, Fixed, ModelRoute};
use crate::config::Settings;
use crate::engine::{Recheck, Setup};
use crate::model::{Alert, Budget, Timestamp};
use crate::reason::Reasoner;
use crate::reason::builtin::Builtin;
use crate::sources::Backend;
use crate::sources::sim::{Scenario, Simulator};
use crate::tools::{Catalog, Guard, Strategy};

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Strategy names; all of the catalog's when empty.
    pub strategies: Vec<String>,
    pub budget_calls: Option<u32>,
    /// Model tokens for the whole investigation.
    pub budget_tokens: Option<u64>,
    /// Tool calls and model tokens one branch may spend.
    pub branch_calls: Option<u32>,
    pub branch_tokens: Option<u64>,
    /// Simulated backend latency per tool call (min, max), for demos.
    pub pace: Option<(Duration, Duration)>,
    pub author: String,
    /// A model instead of the built-in reasoner.
    pub llm: Option<crate::reason::llm::LlmConfig>,
    /// With `llm`: the built-in analysis first, its findings checked by the model.
    pub hybrid: bool,
    /// A bundle file applied: its strategies and budget where the fields above
    /// leave them, and its fixed parts checked against this build.
    pub bundle: Option<Arc<Bundle>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("unknown strategy `{name}` (known: {known})")]
    UnknownStrategy { name: String, known: String },
    #[error("{0}")]
    Scenario(#[from] crate::sources::sim::ScenarioError),
    #[error("the built-in skills do not load: {0}")]
    Catalog(String),
    #[error("{0}")]
    Reasoner(String),
    #[error("{0}")]
    Sources(String),
    #[error("the bundle does not match this build: {0}")]
    Bundle(String),
}

/// The strategies to run, in the order asked for.
pub fn strategies(catalog: &Catalog, names: &[String]) -> Result<Vec<Strategy>, SetupError> {
    if names.is_empty() {
        return Ok(catalog
            .strategy_names()
            .iter()
            .filter_map(|n| catalog.strategy(n).cloned())
            .collect());
    }
    names
        .iter()
        .map(|n| {
            catalog
                .strategy(n.trim())
                .cloned()
                .ok_or_else(|| SetupError::UnknownStrategy {
                    name: n.trim().to_string(),
                    known: catalog.strategy_names().join(", "),
                })
        })
        .collect()
}

/// What an investigation runs with, and the bundle that names it.
pub struct Parts {
    pub catalog: Arc<Catalog>,
    pub strategies: Vec<Strategy>,
    pub reasoner: Arc<dyn Reasoner>,
    pub budget: Budget,
    pub bundle: Bundle,
    pub id: String,
}

/// The catalog, strategies, reasoner and budget `opts` ask for, and the bundle they make.
pub fn parts(opts: &Options) -> Result<Parts, SetupError> {
    let catalog = Arc::new(Catalog::builtin().map_err(|e| SetupError::Catalog(e.to_string()))?);
    let file = opts.bundle.as_deref();
    let names = match file {
        Some(b) if opts.strategies.is_empty() => b.strategies.clone(),
        _ => opts.strategies.clone(),
    };
    let strategies = strategies(&catalog, &names)?;
    let reasoner: Arc<dyn Reasoner> = match &opts.llm {
        // One reasoner per investigation: its redactions are the investigation's.
        Some(cfg) => {
            let llm = crate::reason::llm::Llm::new(cfg).map_err(SetupError::Reasoner)?;
            if opts.hybrid {
                Arc::new(crate::reason::hybrid::Hybrid::new(llm))
            } else {
                Arc::new(llm)
            }
        }
        None => Arc::new(Builtin::new()),
    };
    let mut budget = file.map(|b| b.budget.budget()).unwrap_or_default();
    if let Some(n) = opts.budget_calls {
        budget.tool_calls = n;
    }
    if let Some(n) = opts.budget_tokens {
        budget.tokens = n;
    }
    if opts.branch_calls.is_some() || file.is_none() {
        budget.branch_tool_calls = opts.branch_calls;
    }
    if opts.branch_tokens.is_some() || file.is_none() {
        budget.branch_tokens = opts.branch_tokens;
    }
    let kind = match (&opts.llm, opts.hybrid) {
        (None, _) => "builtin",
        (Some(_), true) => "hybrid",
        (Some(_), false) => "llm",
    };
    let model = opts.llm.as_ref().map(|c| ModelRoute {
        provider: c.provider.clone(),
        model: c.model.clone(),
        temperature: c.temperature,
    });
    let fixed = Fixed::of(&reasoner.fingerprint(), &catalog);
    if let Some(b) = file {
        let mut wrong = b.mismatches(&fixed);
        if b.reasoner.kind != kind {
            wrong.push(format!(
                "reasoner.kind: the bundle says {:?}, this run uses {kind:?}",
                b.reasoner.kind
            ));
        }
        if b.model.is_some() && b.model != model {
            wrong.push("[model]: the bundle's model route is not the one this run uses".into());
        }
        if !wrong.is_empty() {
            return Err(SetupError::Bundle(wrong.join("; ")));
        }
    }
    let names = strategies.iter().map(|s| s.name.clone()).collect();
    let bundle = Bundle::effective(fixed, kind, model, names, &budget, file.and_then(|b| b.eval.clone()));
    let id = bundle.id(&catalog);
    Ok(Parts {
        catalog,
        strategies,
        reasoner,
        budget,
        bundle,
        id,
    })
}

/// Everything `engine::start` needs to investigate `scenario` in the simulator.
pub fn for_scenario(scenario: Scenario, opts: &Options) -> Result<Setup, SetupError> {
    let mut sim = Simulator::new(scenario)?;
    if let Some((lo, hi)) = opts.pace {
        sim = sim.with_pace(lo, hi);
    }
    let alert = sim.alert();
    let now = sim.now();
    for_backend(alert, Arc::new(sim), now, opts)
}

/// An investigation of `alert` against `backend` (real sources, the simulator, or both through a router).
pub fn for_backend(
    alert: Alert,
    backend: Arc<dyn Backend>,
    now: Timestamp,
    opts: &Options,
) -> Result<Setup, SetupError> {
    let Parts {
        catalog,
        strategies,
        reasoner,
        budget,
        id: bundle,
        ..
    } = parts(opts)?;
    let (clock, ids) = Setup::default_clock();
    Ok(Setup {
        alert,
        guard: Arc::new(Guard::new(catalog, backend)),
        reasoner,
        strategies,
        budget,
        now,
        author: opts.author.clone(),
        learned: Vec::new(),
        shared_patterns: Vec::new(),
        records: Vec::new(),
        bundle_id: bundle,
        clock,
        ids,
        // Recorded or simulated telemetry ends where it ends; a live stack says so below.
        recheck: Recheck::fixed(),
    })
}

/// An alert investigated against the sources config.toml names. It looks back
/// from just after the alert fired, or from now if that is sooner.
/// The changes posted to the default store answer `changes_list` too, when that store exists.
pub fn for_alert(alert: Alert, settings: &Settings, opts: &Options) -> Result<Setup, SetupError> {
    let store = crate::store::Store::default_path().ok().filter(|p| p.exists());
    for_alert_with_store(alert, settings, opts, store)
}

/// [`for_alert`] with the changes posted to the store at `store` (if any) among the change sources.
pub fn for_alert_with_store(
    alert: Alert,
    settings: &Settings,
    opts: &Options,
    store: Option<std::path::PathBuf>,
) -> Result<Setup, SetupError> {
    let now = Timestamp::now().min(alert.starts_at + LOOK_PAST_START_NS);
    let posted: Vec<Arc<dyn Backend>> = store
        .map(|p| Arc::new(super::changes::Posted::new(p, now)) as Arc<dyn Backend>)
        .into_iter()
        .collect();
    let router = crate::sources::configured_with(settings, now, posted).map_err(SetupError::Sources)?;
    let mut setup = for_backend(alert, Arc::new(router), now, opts)?;
    // Live sources keep receiving data: an alert investigated as it fires is looked at again.
    setup.recheck = Recheck::live();
    Ok(setup)
}

/// How far past an alert's start an investigation looks, at most.
const LOOK_PAST_START_NS: i64 = 120_000_000_000;
