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

/// What `config.toml` says. Sections other inquest parts own are left to them.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub ui: Ui,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ui {
    /// Key map name: `default`, `emacs`, or a file in the config directory.
    pub keymap: Option<String>,
    /// Theme name: `default`, `light`, `mono`, `dusk`, or a file in the config directory.
    pub theme: Option<String>,
}

/// Reads `config.toml` from `dir`; a missing file is the defaults, a bad one
/// is the defaults and a message naming the file and line.
pub fn settings(dir: Option<&std::path::Path>) -> (Settings, Vec<String>) {
    let Some(path) = dir.map(|d| d.join("config.toml")) else {
        return (Settings::default(), vec![]);
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (Settings::default(), vec![]);
    };
    match toml::from_str::<Settings>(&text) {
        Ok(s) => (s, vec![]),
        Err(e) => {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            let msg = format!("{}:{line}: {}; using the defaults", path.display(), e.message());
            (Settings::default(), vec![msg])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_chooses_key_map_and_theme_and_a_bad_one_is_named() {
        let dir = std::env::temp_dir().join(format!("inquest-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            "[ui]\nkeymap = \"emacs\"\ntheme = \"light\"\n\n[llm]\nmodel = \"x\"\n",
        )
        .unwrap();
        let (s, msgs) = settings(Some(&dir));
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(s.ui.keymap.as_deref(), Some("emacs"));
        assert_eq!(s.ui.theme.as_deref(), Some("light"));
        std::fs::write(dir.join("config.toml"), "[ui]\nkeymap = \"emacs\"\ncolour = \"blue\"\n").unwrap();
        let (s, msgs) = settings(Some(&dir));
        assert_eq!(s, Settings::default());
        assert!(
            msgs[0].contains("config.toml:3") && msgs[0].contains("colour"),
            "{msgs:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
