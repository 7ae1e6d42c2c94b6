//! `inquest sim export`: a scenario's telemetry as OpenMetrics, for promtool backfill.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;
use crate::sources::sim::Simulator;

pub(super) fn sim_export(scenario: &str, path: &std::path::Path) -> Result<ExitCode, Failure> {
    let sc = Simulator::load(scenario).map_err(|e| Failure::BadInput(e.to_string()))?;
    let sim = Simulator::new(sc).map_err(|e| Failure::BadInput(e.to_string()))?;
    let file = std::fs::File::create(path).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    let mut out = std::io::BufWriter::new(file);
    let n = crate::sources::sim::export::openmetrics(sim.series(), &mut out)
        .and_then(|n| out.flush().map(|_| n))
        .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    eprintln!("{}: {} series, {n} samples", path.display(), sim.series().len());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn sim_generate(services: usize, seed: u64) -> Result<ExitCode, Failure> {
    let max = crate::sources::sim::scenario::limits::SERVICES;
    if !(8..=max).contains(&services) {
        return Err(Failure::BadInput(format!(
            "--services {services}: expected between 8 and {max} (the simulator's limit)"
        )));
    }
    let text = crate::sources::sim::synth::generate(services, seed);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Failure::Other(format!("stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
