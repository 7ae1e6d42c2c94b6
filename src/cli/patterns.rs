//! `inquest learned --export FILE --anonymize` and `inquest learned --import FILE`:
//! what this store learned, shared without its names, and patterns another store shared.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use super::{Failure, open_store};
use crate::store::parse_patterns;

pub(super) fn learned_export(file: &Path, anonymize: bool) -> Result<ExitCode, Failure> {
    if !anonymize {
        return Err(Failure::BadInput(
            "--export writes shared patterns only with --anonymize: guidance lines and strategy records name \
             your services and stay in this store"
                .into(),
        ));
    }
    let store = open_store()?;
    let exported = store.export_patterns()?;
    let text = exported.to_jsonl();
    if file == Path::new("-") {
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    } else {
        // Written beside the target, then moved over it: a reader never sees half a file.
        let tmp = file.with_extension("part");
        std::fs::write(&tmp, &text)
            .and_then(|_| std::fs::rename(&tmp, file))
            .map_err(|e| Failure::Other(format!("{}: {e}", file.display())))?;
    }
    eprintln!(
        "wrote {} shared pattern{} from {} graded root cause{}{} to {}",
        exported.patterns.len(),
        if exported.patterns.len() == 1 { "" } else { "s" },
        exported.graded,
        if exported.graded == 1 { "" } else { "s" },
        match exported.dropped {
            0 => String::new(),
            n => format!(
                " ({n} left out: no role next to the alert could be derived, or the alert's name spells a name)"
            ),
        },
        if file == Path::new("-") {
            "stdout".to_string()
        } else {
            file.display().to_string()
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn learned_import(file: &Path) -> Result<ExitCode, Failure> {
    let shown = file.display();
    let bytes = std::fs::read(file).map_err(|e| Failure::BadInput(format!("{shown}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| Failure::BadInput(format!("{shown}: not UTF-8 text")))?;
    let patterns = parse_patterns(&text).map_err(|e| match e.line {
        0 => Failure::BadInput(format!("{shown}: {}", e.message)),
        n => Failure::BadInput(format!("{shown}:{n}: {}", e.message)),
    })?;
    let store = open_store()?;
    let n = store.import_patterns(&patterns)?;
    eprintln!(
        "imported {n} shared pattern{} from {shown}: investigations of matching alerts start with them as \"shared pattern\" guidance and a lower-weight strategy prior",
        if n == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
