//! Compiles the shipped scenarios into the binary, so `inquest demo` needs no files.

use std::fs;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=scenarios");
    let mut entries: Vec<String> = fs::read_dir("scenarios")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let mut out = String::from("&[\n");
    for name in entries {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(&name);
        println!("cargo:rerun-if-changed={}", path.display());
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("scenarios.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}
