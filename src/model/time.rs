//! Wall-clock instants as nanoseconds since the Unix epoch, written as RFC 3339.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Timestamp(n)
    }
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }
    pub fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(1_000_000_000))
    }
    pub fn millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// RFC 3339 in UTC with nanoseconds, e.g. `2026-03-01T10:48:00.000000000Z`.
    pub fn to_rfc3339_nanos(self) -> String {
        let dt = self.datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.nanosecond()
        )
    }
    /// RFC 3339 in UTC to the second, e.g. `2026-03-01T10:48:00Z`.
    pub fn to_rfc3339(self) -> String {
        let dt = self.datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )
    }
    /// `HH:MM:SS` in UTC, for compact displays.
    pub fn clock(self) -> String {
        let dt = self.datetime();
        format!("{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second())
    }
    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
    /// Parses RFC 3339 (any offset, optional fraction).
    pub fn parse_rfc3339(s: &str) -> Result<Self, String> {
        let dt = OffsetDateTime::parse(s.trim(), &Rfc3339)
            .map_err(|e| format!("expected an RFC 3339 time such as 2026-03-01T10:00:00Z ({e})"))?;
        i64::try_from(dt.unix_timestamp_nanos())
            .map(Timestamp)
            .map_err(|_| "time out of range".to_string())
    }
}

impl std::ops::Add<i64> for Timestamp {
    type Output = Timestamp;
    /// Adds nanoseconds.
    fn add(self, rhs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339_nanos())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses durations such as `90s`, `15m`, `2h`, `1h30m`, `250ms`, `1d` into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let expect = || format!("expected a duration such as \"90s\", \"15m\" or \"2h\", found {s:?}");
    let s = s.trim();
    if s.is_empty() {
        return Err(expect());
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(expect());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| expect())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(expect()),
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(expect)?;
    }
    Ok(total)
}

/// Writes milliseconds back as a compact duration (`1h30m`, `90s` becomes `1m30s`).
pub fn format_duration_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nanos_round_trip() {
        let t = Timestamp(1_772_359_200_123_456_789);
        let s = t.to_rfc3339_nanos();
        assert_eq!(s, "2026-03-01T10:00:00.123456789Z");
        assert_eq!(Timestamp::parse_rfc3339(&s).unwrap(), t);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("15m").unwrap(), 900_000);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert!(parse_duration_ms("15 minutes").is_err());
        assert!(parse_duration_ms("m").is_err());
        assert!(parse_duration_ms("").is_err());
        assert_eq!(format_duration_ms(90_000), "1m30s");
    }
}
