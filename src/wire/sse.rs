//! A Server-Sent Events parser (the WHATWG `text/event-stream` format): bytes
//! in, whole frames out, however the bytes were cut into chunks. Lines end
//! with LF, CRLF or a lone CR; `data` lines join with LF; comments and
//! unknown fields are skipped. Bounded: a line longer than [`MAX_LINE`] or a
//! frame larger than [`MAX_FRAME`] is dropped (and counted), never kept
//! growing, so a hostile or broken server cannot exhaust memory.

/// The longest line kept, in bytes; longer lines are dropped whole.
pub const MAX_LINE: usize = 1 << 20;
/// The largest frame (its data lines together) kept; larger frames are dropped whole.
pub const MAX_FRAME: usize = 4 << 20;

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The `event` field, `message` when none was given.
    pub event: String,
    /// The `data` lines joined with LF.
    pub data: String,
    /// The last event id the stream set (it carries over frames, per the format).
    pub id: Option<String>,
}

/// Turns chunks of a stream into [`Frame`]s.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// The current line is past [`MAX_LINE`]: skip to its end.
    overlong: bool,
    /// The last byte seen was a CR: a LF right after it ends nothing.
    after_cr: bool,
    /// The stream's first line is yet to come (a UTF-8 BOM there is skipped).
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    /// The frame grew past [`MAX_FRAME`]: dropped at its end.
    too_big: bool,
    last_id: Option<String>,
    /// The reconnection time the server asked for, in milliseconds.
    pub retry_ms: Option<u64>,
    /// Lines and frames dropped for their size.
    pub dropped: u64,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// The last event id seen, to resume from.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Takes in the next bytes; returns the frames they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => self.end_line(&mut out),
                _ if self.overlong => {}
                _ if self.line.len() >= MAX_LINE => {
                    self.overlong = true;
                    self.line.clear();
                    self.dropped += 1;
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    fn end_line(&mut self, out: &mut Vec<Frame>) {
        let mut line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.overlong) {
            return;
        }
        if !self.started {
            self.started = true;
            if line.starts_with(b"\xEF\xBB\xBF") {
                line.drain(..3);
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        let line = String::from_utf8_lossy(&line);
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_FRAME {
                    self.too_big = true;
                    self.data.clear();
                } else if !self.too_big {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Frame>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        let has_data = std::mem::take(&mut self.has_data);
        if std::mem::take(&mut self.too_big) {
            self.dropped += 1;
            return;
        }
        if !has_data {
            return;
        }
        out.push(Frame {
            event: if event.is_empty() { "message".into() } else { event },
            data,
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> (Vec<Frame>, Parser) {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c));
        }
        (out, p)
    }

    fn frame(event: &str, data: &str, id: Option<&str>) -> Frame {
        Frame {
            event: event.into(),
            data: data.into(),
            id: id.map(str::to_string),
        }
    }

    #[test]
    fn fields_comments_and_multi_line_data_make_frames() {
        let text =
            b": keepalive\n\nid: 7\nevent: event\ndata: {\"a\":1}\n\nevent: presence\ndata: one\ndata:two\ndata\n\n";
        let (frames, _) = all(&[text]);
        assert_eq!(
            frames,
            vec![
                frame("event", "{\"a\":1}", Some("7")),
                frame("presence", "one\ntwo\n", Some("7"))
            ]
        );
    }

    #[test]
    fn crlf_lone_cr_and_any_chunking_read_the_same() {
        let lf = b"id: 1\nevent: event\ndata: x\n\nid: 2\ndata: y\n\n".to_vec();
        let crlf = b"id: 1\r\nevent: event\r\ndata: x\r\n\r\nid: 2\r\ndata: y\r\n\r\n".to_vec();
        let cr = b"id: 1\revent: event\rdata: x\r\rid: 2\rdata: y\r\r".to_vec();
        let want = vec![frame("event", "x", Some("1")), frame("message", "y", Some("2"))];
        for text in [lf, crlf, cr] {
            for cut in 0..text.len() {
                let (a, b) = text.split_at(cut);
                assert_eq!(
                    all(&[a, b]).0,
                    want,
                    "cut at {cut}: {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            let bytes: Vec<&[u8]> = text.chunks(1).collect();
            assert_eq!(all(&bytes).0, want);
        }
    }

    #[test]
    fn a_frame_without_data_is_not_dispatched_but_its_id_and_retry_count() {
        let (frames, p) = all(&[b"id: 9\nevent: x\nretry: 1500\n\nretry: soon\n\ndata: z\n\n"]);
        assert_eq!(frames, vec![frame("message", "z", Some("9"))]);
        assert_eq!(p.retry_ms, Some(1500));
        assert_eq!(p.last_id(), Some("9"));
    }

    #[test]
    fn an_unfinished_frame_waits_for_its_blank_line() {
        let mut p = Parser::new();
        assert!(p.feed(b"data: half").is_empty());
        assert!(p.feed(b"\n").is_empty());
        assert_eq!(p.feed(b"\n"), vec![frame("message", "half", None)]);
    }

    #[test]
    fn oversized_lines_and_frames_are_dropped_and_the_stream_goes_on() {
        let mut p = Parser::new();
        let long = vec![b'a'; MAX_LINE + 10];
        assert!(p.feed(b"data: ").is_empty());
        assert!(p.feed(&long).is_empty());
        assert_eq!(p.feed(b"\n\ndata: next\n\n"), vec![frame("message", "next", None)]);
        assert_eq!(p.dropped, 1);
        // Many lines, each within bounds, that together pass the frame's bound.
        let line = format!("data: {}\n", "b".repeat(MAX_LINE - 10));
        for _ in 0..(MAX_FRAME / MAX_LINE + 1) {
            assert!(p.feed(line.as_bytes()).is_empty());
        }
        assert!(p.data.len() <= MAX_FRAME);
        assert_eq!(p.feed(b"\ndata: after\n\n"), vec![frame("message", "after", None)]);
        assert_eq!(p.dropped, 2);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet: &[u8] = b"\r\n:ideatvny \0\xff\xef\xbb\xbf{}";
        for _ in 0..300 {
            let mut p = Parser::new();
            for _ in 0..20 {
                let mut chunk = Vec::new();
                for _ in 0..(seed % 64) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    chunk.push(alphabet[(seed % alphabet.len() as u64) as usize]);
                }
                for f in p.feed(&chunk) {
                    assert!(!f.event.is_empty());
                }
            }
        }
    }

    #[test]
    fn a_leading_bom_is_skipped_and_nul_ids_ignored() {
        let (frames, _) = all(&[b"\xEF\xBB\xBFid: 3\ndata: a\n\nid: 4\0x\ndata: b\n\n"]);
        assert_eq!(
            frames,
            vec![frame("message", "a", Some("3")), frame("message", "b", Some("3"))]
        );
    }
}
