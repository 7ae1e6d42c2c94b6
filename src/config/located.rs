//! Where in a file something is: the 1-based line and column of a byte
//! offset, and "path:line: what" messages, for every file inquest reads
//! (scenarios, skills, config, key maps, themes).

use std::fmt;
use std::ops::Range;

/// The 1-based line and column (in bytes) of `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// The line a TOML error points at, 0 when it points nowhere.
pub fn toml_line(text: &str, e: &toml::de::Error) -> usize {
    e.span().map(|s| line_col(text, s.start).0).unwrap_or(0)
}

/// Builds "path:line: what" messages for one file.
pub struct Located<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Located<'_> {
    pub fn at(&self, span: Range<usize>, what: impl fmt::Display) -> String {
        format!("{}:{}: {what}", self.path, line_col(self.text, span.start).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_counted_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
        let e = toml::from_str::<toml::Table>("a = 1\nb = \n").unwrap_err();
        assert_eq!(toml_line("a = 1\nb = \n", &e), 2);
        assert_eq!(Located { path: "f.toml", text }.at(7..8, "bad"), "f.toml:2: bad");
    }
}
