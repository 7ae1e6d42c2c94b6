//! Where inquest keeps its settings and data: `$INQUEST_CONFIG_HOME` and
//! `$INQUEST_DATA_DIR` first, else the XDG directories.

use std::path::PathBuf;

/// The directory user key maps, themes and config.toml are read from.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("INQUEST_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "inquest").map(|p| p.config_dir().to_path_buf())
}

/// The directory the store and the log files live in.
pub fn data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("INQUEST_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "inquest").map(|p| p.data_dir().to_path_buf())
}

/// Whether colour is off by the user's wish (<https://no-color.org>).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
