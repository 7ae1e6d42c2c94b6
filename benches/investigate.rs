//! One whole investigation of the largest built-in scenario (30 services) with
//! all six strategies: simulation, every tool call, ranking. Target: 2 s.
//! And the same at scale: a generated scenario of 1,000 services (the
//! simulator's limit), simulated, then investigated. Target: under 10 s.

use criterion::{Criterion, criterion_group, criterion_main};
use inquest::engine::{EventSink, start};
use inquest::sources::sim::Simulator;
use inquest::wire::{Options, for_scenario};

fn largest() -> inquest::sources::sim::Scenario {
    Simulator::builtin()
        .into_iter()
        .filter_map(Result::ok)
        .max_by_key(|s| (s.services.len(), s.id.clone()))
        .expect("built-in scenarios")
}

fn investigate(c: &mut Criterion) {
    let sc = largest();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let name = format!("investigate/{} ({} services, all strategies)", sc.id, sc.services.len());
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.bench_function(&name, |b| {
        b.iter(|| {
            rt.block_on(async {
                let setup = for_scenario(sc.clone(), &Options::default()).unwrap();
                let sinks: Vec<Box<dyn EventSink>> = Vec::new();
                let st = start(setup, sinks).wait().await.unwrap();
                assert!(!st.root_causes.is_empty());
                st
            })
        })
    });
    g.bench_function("simulate/largest scenario", |b| {
        b.iter(|| Simulator::new(sc.clone()).unwrap())
    });
    g.finish();
}

fn at_scale(c: &mut Criterion) {
    let n = inquest::sources::sim::scenario::limits::SERVICES;
    let text = inquest::sources::sim::synth::generate(n, 1);
    let sc = inquest::sources::sim::scenario::parse(&text, "synth.toml", None).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("scale");
    g.sample_size(10);
    g.bench_function(format!("simulate/{n} services"), |b| {
        b.iter(|| Simulator::new(sc.clone()).unwrap())
    });
    g.bench_function(format!("investigate/{n} services, all strategies"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let setup = for_scenario(sc.clone(), &Options::default()).unwrap();
                let sinks: Vec<Box<dyn EventSink>> = Vec::new();
                let st = start(setup, sinks).wait().await.unwrap();
                assert!(!st.root_causes.is_empty());
                st
            })
        })
    });
    g.finish();
}

criterion_group!(benches, investigate, at_scale);
criterion_main!(benches);
