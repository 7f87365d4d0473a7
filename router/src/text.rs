//! Pieces of configuration text that the daemon's file and topology files share: where in a
//! text a byte is (line and column), route prefixes and bit rates.
//!
//! It knows no file format: a caller that parsed TOML (or anything else) hands over the byte
//! span of a value and gets the line and column an operator reads in an editor. It never
//! reads files.

use std::fmt;
use std::net::IpAddr;

/// A line and column in a text, both counted from 1 (columns in characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextLocation {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl TextLocation {
    /// The location of byte `offset` in `text` (clamped to the text, and back to the start of
    /// a character it falls inside).
    pub fn of_offset(text: &str, offset: usize) -> TextLocation {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        TextLocation { line, column }
    }
}

impl fmt::Display for TextLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a prefix could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The part before `/` is not an IP address.
    #[error("`{address}` is not an IP address (write `10.1.0.0/16` or `fd00::/8`)")]
    Address {
        /// The text before the `/`, as written.
        address: String,
    },
    /// The length is not a number within the address's bits.
    #[error("prefix length `/{length}` must be a number from 0 to {bits}")]
    Length {
        /// The address, which did parse.
        address: IpAddr,
        /// The text after the `/`, as written.
        length: String,
        /// 32 for IPv4, 128 for IPv6.
        bits: u8,
    },
}

/// Parses `address/len` (IPv4 or IPv6), or a bare address (a host prefix: `/32` or `/128`).
/// Host bits are not checked: a caller that needs a network address checks them.
pub fn parse_prefix(text: &str) -> Result<(IpAddr, u8), PrefixError> {
    let (address, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = address.trim().parse().map_err(|_| PrefixError::Address {
        address: address.to_string(),
    })?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => bits,
        Some(l) => l
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= bits)
            .ok_or_else(|| PrefixError::Length {
                address: ip,
                length: l.to_string(),
                bits,
            })?,
    };
    Ok((ip, len))
}

/// Why a bit rate could not be read; the message says how to write one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BitRateError(String);

/// Parses a bit rate: a decimal number and a unit (`bit`, `kbit`, `Mbit`, `Gbit`, `Tbit`,
/// also written `kbps` or `kbit/s`, decimal multiples, case-insensitive), as in `"400kbit"`,
/// `"1.5Mbit"`. Returns bits per second, more than 0. Bytes are refused rather than guessed.
pub fn parse_bit_rate(text: &str) -> Result<u64, BitRateError> {
    const HINT: &str =
        "write a number and a unit (bit, kbit, Mbit, Gbit), e.g. \"400kbit\", \"10Mbit\"";
    let err = |what: String| BitRateError(format!("\"{text}\" {what}"));
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(end);
    let unit = unit.trim();
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // 30 digits fit a u128 with room for a factor of 10^12.
    if (int.is_empty() && frac.is_empty())
        || !digits(int)
        || !digits(frac)
        || int.len() + frac.len() > 24
    {
        return Err(err(format!("is not a bit rate: {HINT}")));
    }
    if unit.contains('B') || unit.to_ascii_lowercase().contains("byte") {
        return Err(err(format!(
            "is in bytes: bit rates are written in bits, not bytes: {HINT}"
        )));
    }
    let lower = unit.to_ascii_lowercase();
    let base = lower.strip_suffix("/s").unwrap_or(&lower);
    let base = base
        .strip_suffix("ps")
        .map_or(base.to_string(), |p| format!("{p}it"));
    let factor: u128 = match base.as_str() {
        "bit" => 1,
        "kbit" => 1_000,
        "mbit" => 1_000_000,
        "gbit" => 1_000_000_000,
        "tbit" => 1_000_000_000_000,
        "" => return Err(err(format!("has no unit: {HINT}"))),
        _ => return Err(err(format!("has `{unit}`, not a unit of bit rate: {HINT}"))),
    };
    let mantissa: u128 = format!("{int}{frac}")
        .parse()
        .map_err(|_| err(format!("is not a bit rate: {HINT}")))?;
    let divisor = 10u128.pow(frac.len() as u32);
    let product = mantissa * factor;
    if !product.is_multiple_of(divisor) {
        return Err(err("is not a whole number of bit/s".to_string()));
    }
    match u64::try_from(product / divisor) {
        Ok(0) => Err(err("is 0; a rate must be more than 0 bit/s".to_string())),
        Ok(bps) => Ok(bps),
        Err(_) => Err(err("is too large".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters() {
        let t = "ab\né = 1\n";
        let at = |o| TextLocation::of_offset(t, o);
        assert_eq!(at(0), TextLocation { line: 1, column: 1 });
        assert_eq!(at(3), TextLocation { line: 2, column: 1 });
        // Byte 6 is after "é" (2 bytes) and " ": the third character.
        assert_eq!(at(6), TextLocation { line: 2, column: 3 });
        // Inside "é": its start.
        assert_eq!(at(4), TextLocation { line: 2, column: 1 });
        assert_eq!(at(999), TextLocation { line: 3, column: 1 });
        assert_eq!(at(6).to_string(), "2:3");
    }

    #[test]
    fn prefixes_of_both_families_and_host_routes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_prefix("10.1.0.0/16"), Ok((ip("10.1.0.0"), 16)));
        assert_eq!(parse_prefix(" fd00::/8 "), Ok((ip("fd00::"), 8)));
        assert_eq!(parse_prefix("10.0.0.1"), Ok((ip("10.0.0.1"), 32)));
        assert_eq!(parse_prefix("::1"), Ok((ip("::1"), 128)));
        let e = parse_prefix("10.0.0.0/33").unwrap_err();
        assert_eq!(
            e.to_string(),
            "prefix length `/33` must be a number from 0 to 32"
        );
        assert!(matches!(
            parse_prefix("ten/8"),
            Err(PrefixError::Address { address }) if address == "ten"
        ));
        assert!(matches!(
            parse_prefix("fd00::/x"),
            Err(PrefixError::Length { bits: 128, .. })
        ));
    }

    #[test]
    fn bit_rates_in_decimal_units() {
        assert_eq!(parse_bit_rate("400kbit"), Ok(400_000));
        assert_eq!(parse_bit_rate(" 1.5 Mbit "), Ok(1_500_000));
        assert_eq!(parse_bit_rate("10mbps"), Ok(10_000_000));
        assert_eq!(parse_bit_rate("1Gbit/s"), Ok(1_000_000_000));
        assert_eq!(parse_bit_rate("800bit"), Ok(800));
        for bad in [
            "",
            "fast",
            "400",
            "400kB",
            "2 bytes",
            "0kbit",
            "0.5bit",
            "1.2.3kbit",
            "5 furlongs",
        ] {
            let e = parse_bit_rate(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("\"{bad}\"")), "{bad}: {e}");
        }
        assert!(parse_bit_rate("99999999999999999999Tbit").is_err());
    }
}
