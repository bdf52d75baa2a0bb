//! Nado's fixed-point numbers: prices and base amounts are integers scaled
//! by 10^18 (x18), sent as decimal strings. Conversions are exact or fail;
//! nothing passes through a float.

use rust_decimal::Decimal;

/// Decimal → x18 integer. Fails when the value has more than 18 decimal
/// places (it would not be exact) or does not fit an int128.
pub fn to_x18(d: Decimal) -> Result<i128, String> {
    let scale = d.scale();
    if scale > 18 {
        let normalized = d.normalize();
        if normalized.scale() > 18 {
            return Err(format!("{d} has more than 18 decimal places"));
        }
        return to_x18(normalized);
    }
    let mantissa = d.mantissa();
    10i128
        .checked_pow(18 - scale)
        .and_then(|m| mantissa.checked_mul(m))
        .ok_or_else(|| format!("{d} does not fit x18"))
}

/// x18 integer → Decimal, exactly. rust_decimal holds 96-bit mantissas
/// (about 7.9e28): x18 values up to ±79,228,162,514 (in units) convert; a
/// larger one is an error, never a rounded value.
pub fn from_x18(v: i128) -> Result<Decimal, String> {
    Decimal::try_from_i128_with_scale(v, 18)
        .map(|d| d.normalize())
        .map_err(|_| format!("x18 value {v} is out of range"))
}

/// Parses an x18 decimal string (as the venue sends it).
pub fn parse_x18(s: &str) -> Result<Decimal, String> {
    let v: i128 = s.parse().map_err(|_| format!("not an x18 integer: {s:?}"))?;
    from_x18(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x18_round_trips_exactly() {
        for (dec, x) in [
            ("-0.1", -100_000_000_000_000_000i128),
            ("2500", 2_500_000_000_000_000_000_000),
            ("0.000000000000000001", 1),
            ("0", 0),
            ("123.456789012345678", 123_456_789_012_345_678_000),
        ] {
            let d: Decimal = dec.parse().unwrap();
            assert_eq!(to_x18(d).unwrap(), x, "{dec}");
            assert_eq!(from_x18(x).unwrap(), d.normalize(), "{dec}");
        }
        assert_eq!(
            parse_x18("-100000000000000000").unwrap(),
            "-0.1".parse::<Decimal>().unwrap()
        );
        assert!(to_x18("0.0000000000000000001".parse().unwrap()).is_err());
        assert!(parse_x18("1.5").is_err());
        assert!(from_x18(i128::MAX).is_err());
    }
}
