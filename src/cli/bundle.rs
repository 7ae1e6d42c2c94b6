//! `inquest bundle show`, and `--bundle FILE` read and applied for run, eval,
//! serve and replay.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Failure;
use super::settings;
use crate::tools::Catalog;
use crate::wire::Options;
use crate::wire::bundle::{Bundle, Loaded};

/// This build's default bundle (the built-in reasoner, every strategy, the default budget).
pub(super) fn default_bundle() -> Result<(Bundle, String), Failure> {
    let p = crate::wire::parts(&Options::default())?;
    Ok((p.bundle, p.id))
}

/// A bundle file, read over this build's default.
pub(super) fn load(path: &Path) -> Result<Loaded, Failure> {
    let (base, _) = default_bundle()?;
    crate::wire::bundle::load(path, &base).map_err(|e| Failure::BadInput(e.to_string()))
}

/// Applies a bundle to an investigation's options: its reasoner and model
/// route (the endpoint and key stay config.toml's `[llm]`), then its
/// strategies and budget where the command line left them.
pub(super) fn apply(loaded: &Loaded, opts: &mut Options) -> Result<(), Failure> {
    let b = &loaded.bundle;
    let bad = |m: String| Failure::BadInput(format!("{}: {m}", loaded.file));
    match b.reasoner.kind.as_str() {
        "builtin" => {
            opts.llm = None;
            opts.hybrid = false;
        }
        kind => {
            let s = settings()?;
            let llm = s
                .llm
                .ok_or_else(|| bad(format!("reasoner {kind} needs the [llm] section of config.toml")))?;
            let mut cfg = llm.config().map_err(Failure::BadInput)?;
            if let Some(m) = &b.model {
                if m.provider != cfg.provider {
                    return Err(bad(format!(
                        "model.provider {:?}: config.toml's [llm] is {:?}, whose endpoint and key would not fit",
                        m.provider, cfg.provider
                    )));
                }
                cfg.model = m.model.clone();
                cfg.temperature = m.temperature;
            }
            opts.llm = Some(cfg);
            opts.hybrid = kind == "hybrid";
        }
    }
    opts.bundle = Some(loaded.bundle.clone());
    Ok(())
}

/// Options for `path`'s bundle, or the default's when there is none.
pub(super) fn options_for(path: Option<&PathBuf>, base: Options) -> Result<(Options, Option<Loaded>), Failure> {
    let mut opts = base;
    match path {
        Some(p) => {
            let loaded = load(p)?;
            apply(&loaded, &mut opts)?;
            Ok((opts, Some(loaded)))
        }
        None => Ok((opts, None)),
    }
}

pub(super) fn bundle_show(file: Option<PathBuf>, json: bool) -> Result<ExitCode, Failure> {
    let (bundle, id) = match &file {
        None => default_bundle()?,
        Some(p) => {
            let loaded = load(p)?;
            // As it would run here (a model's fingerprint needs config.toml's [llm]);
            // a bundle that would not run here is shown as written, with why.
            let mut opts = Options::default();
            match apply(&loaded, &mut opts).and_then(|_| Ok(crate::wire::parts(&opts)?)) {
                Ok(parts) => (parts.bundle, parts.id),
                Err(Failure::BadInput(why) | Failure::Other(why)) => {
                    eprintln!(
                        "inquest: {}: would not run here: {}",
                        p.display(),
                        crate::tools::sanitize::clean(&why)
                    );
                    let catalog = Catalog::builtin().map_err(|e| Failure::Other(e.to_string()))?;
                    let id = loaded.bundle.id(&catalog);
                    ((*loaded.bundle).clone(), id)
                }
            }
        }
    };
    let text = if json {
        crate::tools::sanitize::json_pretty(&bundle.to_json(&id)) + "\n"
    } else {
        crate::tools::sanitize::clean(&bundle.to_toml(&id))
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}
