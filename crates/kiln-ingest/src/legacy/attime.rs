//! Timestamps of `/ingest`'s `from`/`until`: unit told apart by digit count
//! (8 = YYYYMMDD, 13 = ms, 16 = µs, 19 = ns, otherwise seconds), or
//! relative `now-1h`. Missing means now.

/// Parses an `/ingest` timestamp into nanoseconds since the epoch.
pub fn parse_attime(value: Option<&str>, now_ns: i64) -> Result<i64, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(now_ns);
    };
    if value == "now" {
        return Ok(now_ns);
    }
    if let Some(offset) = value.strip_prefix("now-") {
        return Ok(now_ns - parse_duration_ns(offset)?);
    }
    if let Some(offset) = value.strip_prefix("now+") {
        return Ok(now_ns + parse_duration_ns(offset)?);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{value:?} is not a unix timestamp or now-<duration>"
        ));
    }
    let n: i64 = value
        .parse()
        .map_err(|_| format!("{value:?} is out of range"))?;
    Ok(match value.len() {
        8 => yyyymmdd_ns(n).ok_or_else(|| format!("{value:?} is not a valid YYYYMMDD date"))?,
        13 => n.saturating_mul(1_000_000),
        16 => n.saturating_mul(1_000),
        19 => n,
        _ => n.saturating_mul(1_000_000_000),
    })
}

fn parse_duration_ns(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("invalid relative time {text:?}"))?;
    let unit_ns: i64 = match unit {
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        _ => {
            return Err(format!(
                "invalid relative time unit in {text:?}: want s, m, h, d or w"
            ));
        }
    };
    Ok(n.saturating_mul(unit_ns))
}

/// Midnight UTC of a YYYYMMDD date, in nanoseconds.
fn yyyymmdd_ns(n: i64) -> Option<i64> {
    let (y, m, d) = (n / 10_000, (n / 100) % 100, n % 100);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (proleptic Gregorian), after Howard Hinnant.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_661_386 * 1_000_000_000;

    #[test]
    fn units_by_digit_count() {
        let s = 1_795_661_376_i64;
        assert_eq!(
            parse_attime(Some("1795661376"), NOW).unwrap(),
            s * 1_000_000_000
        );
        assert_eq!(
            parse_attime(Some("1795661376000"), NOW).unwrap(),
            s * 1_000_000_000
        );
        assert_eq!(
            parse_attime(Some("1795661376000000"), NOW).unwrap(),
            s * 1_000_000_000
        );
        assert_eq!(
            parse_attime(Some("1795661376000000000"), NOW).unwrap(),
            s * 1_000_000_000
        );
        assert_eq!(
            parse_attime(Some("19700102"), NOW).unwrap(),
            86_400 * 1_000_000_000
        );
        assert_eq!(
            parse_attime(Some("20261126"), NOW).unwrap(),
            1_795_651_200 * 1_000_000_000
        );
    }

    #[test]
    fn relative_missing_and_bad() {
        assert_eq!(parse_attime(None, NOW).unwrap(), NOW);
        assert_eq!(parse_attime(Some(""), NOW).unwrap(), NOW);
        assert_eq!(
            parse_attime(Some("now-1h"), NOW).unwrap(),
            NOW - 3600 * 1_000_000_000
        );
        assert!(parse_attime(Some("yesterday"), NOW).is_err());
        assert!(parse_attime(Some("now-1y"), NOW).is_err());
        assert!(parse_attime(Some("20261341"), NOW).is_err());
    }
}
