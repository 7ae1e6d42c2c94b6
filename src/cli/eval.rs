//! `inquest eval` and `inquest scenarios`: the scenario suite, scored.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::Failure;
use super::author;
use super::run::llm_for;
use super::runtime;
use crate::sources::sim::BUILTIN;
use crate::sources::sim::Simulator;
use crate::wire::Options;

pub(super) fn scenarios(json: bool) -> Result<ExitCode, Failure> {
    let mut rows = Vec::new();
    for (file, _) in BUILTIN {
        let id = file.trim_end_matches(".toml");
        let sc = Simulator::load(id).map_err(|e| Failure::Other(e.to_string()))?;
        rows.push(serde_json::json!({
            "id": sc.id,
            "title": sc.title,
            "services": sc.services.len(),
            "tags": sc.tags,
            "alert": sc.alert.name,
        }));
    }
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", crate::tools::sanitize::json_pretty(&rows));
    } else {
        for r in &rows {
            let _ = writeln!(
                out,
                "{:<34} {:>3} services  {}",
                crate::tools::sanitize::clean(r["id"].as_str().unwrap_or("")),
                r["services"],
                crate::tools::sanitize::clean(r["title"].as_str().unwrap_or(""))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn eval(
    dir: Option<PathBuf>,
    reasoner: &str,
    json: bool,
    markdown: bool,
    jobs: Option<usize>,
    bundle: Option<PathBuf>,
    heatmap: bool,
) -> Result<ExitCode, Failure> {
    use std::io::IsTerminal;
    let llm = llm_for(reasoner)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let (run, loaded) = super::bundle::options_for(
        bundle.as_ref(),
        Options {
            author: author(),
            llm,
            hybrid: super::run::is_hybrid(reasoner),
            ..Options::default()
        },
    )?;
    // A bundle that does not fit this build is refused before the suite runs.
    crate::wire::parts(&run)?;
    let opts = crate::eval::EvalOptions { jobs, run };
    let dir = dir.or_else(|| loaded.and_then(|l| l.bundle.suite_dir(&l.dir)));
    let paths = match &dir {
        Some(d) => {
            let paths = crate::eval::discover(d).map_err(|e| Failure::BadInput(format!("{}: {e}", d.display())))?;
            if paths.is_empty() {
                return Err(Failure::BadInput(format!(
                    "{}: no scenario files (*.toml) found",
                    d.display()
                )));
            }
            Some(paths)
        }
        None => None,
    };
    let rt = runtime(jobs.clamp(1, 8))?;
    let report = rt.block_on(async {
        match &paths {
            Some(p) => crate::eval::run(p, &opts).await,
            None => crate::eval::run_builtin(&opts).await,
        }
    });
    let text = if heatmap {
        let map = crate::eval::heatmap::heat_map(&report);
        if json {
            crate::tools::sanitize::json_pretty(&map.to_json()) + "\n"
        } else if markdown {
            super::heatmap::markdown(&map)
        } else {
            super::heatmap::text(&map, super::insights::colour())
        }
    } else if json {
        crate::tools::sanitize::json_safe(
            &serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))?,
        ) + "\n"
    } else if markdown {
        crate::eval::report::markdown(&report)
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        crate::eval::report::table(&report, colour)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}
