//! One key press, and the notation key map files write it in: `"j"`,
//! `"<C-n>"`, `"<S-Tab>"`, `"<F5>"`.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key press, normalised so that what the terminal reports compares equal to what a key map file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

/// Named keys of the notation, as written between angle brackets.
const NAMED: &[(&str, KeyCode)] = &[
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("Backspace", KeyCode::Backspace),
    ("Delete", KeyCode::Delete),
    ("Insert", KeyCode::Insert),
    ("Space", KeyCode::Char(' ')),
];

const EXPECTED_KEY: &str = "expected a single character (\"j\", \"G\", \"+\") or a key in angle brackets: \
    <Enter> <Esc> <Tab> <S-Tab> <Up> <Down> <Left> <Right> <PageUp> <PageDown> <Home> <End> <Backspace> \
    <Space> <F1>..<F12>, optionally with modifiers as in <C-x> <A-x> <C-A-x>";

impl Key {
    fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    /// The key of a terminal event: SHIFT is dropped for characters (an uppercase letter is its own key) and
    /// BackTab is the same key as `<S-Tab>`.
    pub fn from_event(event: &KeyEvent) -> Key {
        Key::new(event.code, event.modifiers)
    }

    /// Parses one key of the notation: `"j"`, `"G"`, `"<Space>"`, `"<Enter>"`, `"<C-n>"`, `"<A-Enter>"`,
    /// `"<S-Tab>"`, `"<F5>"`, `"<C-A-x>"`.
    pub fn parse(text: &str) -> Result<Key, String> {
        let bad = || format!("bad key \"{text}\": {EXPECTED_KEY}");
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (None, _) => return Err(format!("empty key: {EXPECTED_KEY}")),
            (Some(c), None) => return Ok(Key::new(KeyCode::Char(c), KeyModifiers::NONE)),
            _ => {}
        }
        let Some(mut inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
            return Err(bad());
        };
        let mut mods = KeyModifiers::NONE;
        loop {
            let mut it = inner.chars();
            let (Some(m), Some('-'), Some(_)) = (it.next(), it.next(), it.next()) else {
                break;
            };
            let flag = match m {
                'C' | 'c' => KeyModifiers::CONTROL,
                'A' | 'a' | 'M' | 'm' => KeyModifiers::ALT,
                'S' | 's' => KeyModifiers::SHIFT,
                _ => break,
            };
            mods |= flag;
            inner = &inner[2..];
        }
        let mut it = inner.chars();
        let code = match (it.next(), it.next()) {
            (None, _) => return Err(bad()),
            (Some(c), None) => {
                if mods.contains(KeyModifiers::SHIFT) && c.is_lowercase() {
                    KeyCode::Char(c.to_uppercase().next().unwrap_or(c))
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => {
                if let Some(code) = NAMED
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(inner))
                    .map(|(_, c)| *c)
                {
                    code
                } else if let Some(n) = inner
                    .strip_prefix(['F', 'f'])
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| (1..=12).contains(n))
                {
                    KeyCode::F(n)
                } else {
                    return Err(bad());
                }
            }
        };
        Ok(Key::new(code, mods))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut mods = self.mods;
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if mods.is_empty() && c != ' ' => return write!(f, "{c}"),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::BackTab => {
                mods |= KeyModifiers::SHIFT;
                "Tab".to_string()
            }
            KeyCode::F(n) => format!("F{n}"),
            code => match NAMED.iter().find(|(_, c)| *c == code) {
                Some((n, _)) => n.to_string(),
                None => format!("{code:?}"),
            },
        };
        f.write_str("<")?;
        for (flag, prefix) in [
            (KeyModifiers::CONTROL, "C-"),
            (KeyModifiers::ALT, "A-"),
            (KeyModifiers::SHIFT, "S-"),
        ] {
            if mods.contains(flag) {
                f.write_str(prefix)?;
            }
        }
        write!(f, "{name}>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventKind;

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    #[test]
    fn parses_every_notation_form() {
        let cases: &[(&str, KeyCode, KeyModifiers)] = &[
            ("j", KeyCode::Char('j'), KeyModifiers::NONE),
            ("G", KeyCode::Char('G'), KeyModifiers::NONE),
            ("?", KeyCode::Char('?'), KeyModifiers::NONE),
            ("+", KeyCode::Char('+'), KeyModifiers::NONE),
            ("-", KeyCode::Char('-'), KeyModifiers::NONE),
            ("<", KeyCode::Char('<'), KeyModifiers::NONE),
            ("<Space>", KeyCode::Char(' '), KeyModifiers::NONE),
            (" ", KeyCode::Char(' '), KeyModifiers::NONE),
            ("<Enter>", KeyCode::Enter, KeyModifiers::NONE),
            ("<Esc>", KeyCode::Esc, KeyModifiers::NONE),
            ("<Tab>", KeyCode::Tab, KeyModifiers::NONE),
            ("<S-Tab>", KeyCode::BackTab, KeyModifiers::NONE),
            ("<BackTab>", KeyCode::BackTab, KeyModifiers::NONE),
            ("<Up>", KeyCode::Up, KeyModifiers::NONE),
            ("<Down>", KeyCode::Down, KeyModifiers::NONE),
            ("<Left>", KeyCode::Left, KeyModifiers::NONE),
            ("<Right>", KeyCode::Right, KeyModifiers::NONE),
            ("<PageUp>", KeyCode::PageUp, KeyModifiers::NONE),
            ("<PageDown>", KeyCode::PageDown, KeyModifiers::NONE),
            ("<Home>", KeyCode::Home, KeyModifiers::NONE),
            ("<End>", KeyCode::End, KeyModifiers::NONE),
            ("<Backspace>", KeyCode::Backspace, KeyModifiers::NONE),
            ("<F1>", KeyCode::F(1), KeyModifiers::NONE),
            ("<F12>", KeyCode::F(12), KeyModifiers::NONE),
            ("<C-n>", KeyCode::Char('n'), KeyModifiers::CONTROL),
            ("<A-x>", KeyCode::Char('x'), KeyModifiers::ALT),
            ("<A-Enter>", KeyCode::Enter, KeyModifiers::ALT),
            (
                "<C-A-x>",
                KeyCode::Char('x'),
                KeyModifiers::CONTROL.union(KeyModifiers::ALT),
            ),
            ("<C-Space>", KeyCode::Char(' '), KeyModifiers::CONTROL),
            ("<A-<>", KeyCode::Char('<'), KeyModifiers::ALT),
            ("<A->>", KeyCode::Char('>'), KeyModifiers::ALT),
            ("<C-->", KeyCode::Char('-'), KeyModifiers::CONTROL),
            ("<S-Up>", KeyCode::Up, KeyModifiers::SHIFT),
            ("<S-x>", KeyCode::Char('X'), KeyModifiers::NONE),
        ];
        for (text, code, mods) in cases {
            let k = Key::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                k,
                Key {
                    code: *code,
                    mods: *mods
                },
                "{text}"
            );
            // Display writes notation that parses back to the same key.
            let shown = k.to_string();
            assert_eq!(Key::parse(&shown).unwrap(), k, "{text} shown as {shown}");
        }
        for (text, shown) in [
            ("j", "j"),
            ("G", "G"),
            ("<C-n>", "<C-n>"),
            ("<Enter>", "<Enter>"),
            ("<BackTab>", "<S-Tab>"),
            (" ", "<Space>"),
            ("<c-a-x>", "<C-A-x>"),
            ("<f5>", "<F5>"),
            ("<A-Enter>", "<A-Enter>"),
        ] {
            assert_eq!(key(text).to_string(), shown);
        }
        for bad in ["", "jj", "<Ctrl-x>", "<F13>", "<>", "<C->", "<Foo>", "<Enter"] {
            let e = Key::parse(bad).unwrap_err();
            assert!(e.contains("expected"), "{bad}: {e}");
        }
    }

    #[test]
    fn events_are_normalised() {
        let ev = |code, mods| KeyEvent::new_with_kind(code, mods, KeyEventKind::Press);
        assert_eq!(Key::from_event(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)), key("G"));
        assert_eq!(
            Key::from_event(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            key("<S-Tab>")
        );
        assert_eq!(
            Key::from_event(&ev(KeyCode::BackTab, KeyModifiers::NONE)),
            key("<S-Tab>")
        );
        assert_eq!(
            Key::from_event(&ev(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            key("<C-d>")
        );
        assert_eq!(Key::from_event(&ev(KeyCode::Char('+'), KeyModifiers::SHIFT)), key("+"));
    }
}
