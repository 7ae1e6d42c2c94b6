//! W3C trace-context identifiers: a 16-byte trace id per investigation and an
//! 8-byte span id per branch, step, tool call, hypothesis or piece of evidence.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Identifies one investigation. 32 lowercase hex digits, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; 16]);

/// Identifies one span inside an investigation. 16 lowercase hex digits, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId([u8; 8]);

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} lowercase hex digits, got {got} characters")]
    Length { expected: usize, got: usize },
    #[error("expected hex digits only, found {0:?}")]
    NotHex(char),
    #[error("an all-zero id is invalid")]
    Zero,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    loop {
        // getrandom only fails where the OS has no entropy source at all; fall back
        // to a time-and-counter mix so ids stay unique within the process.
        if getrandom::fill(&mut b).is_err() {
            fallback_fill(&mut b);
        }
        if b.iter().any(|x| *x != 0) {
            return b;
        }
    }
}

fn fallback_fill(b: &mut [u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut x = nanos ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    for byte in b.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x as u8;
    }
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    if s.len() != N * 2 {
        return Err(IdError::Length {
            expected: N * 2,
            got: s.chars().count(),
        });
    }
    let mut out = [0u8; N];
    let bytes = s.as_bytes();
    for i in 0..N {
        let hi = hex_val(bytes[2 * i] as char)?;
        let lo = hex_val(bytes[2 * i + 1] as char)?;
        out[i] = (hi << 4) | lo;
    }
    if out.iter().all(|x| *x == 0) {
        return Err(IdError::Zero);
    }
    Ok(out)
}

fn hex_val(c: char) -> Result<u8, IdError> {
    match c {
        '0'..='9' => Ok(c as u8 - b'0'),
        'a'..='f' => Ok(c as u8 - b'a' + 10),
        _ => Err(IdError::NotHex(c)),
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

macro_rules! id_impls {
    ($t:ident, $n:expr) => {
        impl $t {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(random_bytes::<$n>())
            }
            /// The id from raw bytes; `None` for all zeros.
            pub fn from_bytes(b: [u8; $n]) -> Option<Self> {
                b.iter().any(|x| *x != 0).then_some(Self(b))
            }
            pub fn as_bytes(&self) -> &[u8; $n] {
                &self.0
            }
            /// The first 8 hex digits, as the cockpit shows it.
            pub fn short(&self) -> String {
                self.to_string()[..8].to_string()
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($t))?;
                write_hex(f, &self.0)?;
                write!(f, ")")
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                parse_hex::<$n>(s).map(Self)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_impls!(TraceId, 16);
id_impls!(SpanId, 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_lowercase_hex() {
        let t = TraceId::random();
        let s = t.to_string();
        assert_eq!(s.len(), 32);
        assert!(s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(s.parse::<TraceId>().unwrap(), t);
        let sp = SpanId::random();
        assert_eq!(sp.to_string().len(), 16);
        assert_eq!(sp.to_string().parse::<SpanId>().unwrap(), sp);
    }

    #[test]
    fn bad_ids_are_refused() {
        assert_eq!("0000000000000000".parse::<SpanId>(), Err(IdError::Zero));
        assert!(matches!("abc".parse::<SpanId>(), Err(IdError::Length { .. })));
        assert_eq!("00f067aa0ba902bX".parse::<SpanId>(), Err(IdError::NotHex('X')));
        assert!(SpanId::from_bytes([0; 8]).is_none());
    }
}
