//! Nado's worst price for a reduce-only IOC close: off the same-side top of
//! book, inside the venue's oracle band, on the tick. Pure.

use rust_decimal::Decimal;

use crate::venue::types::OrderSide;

/// A price band around the oracle price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    pub low: Decimal,
    pub high: Decimal,
}

/// The worst acceptable price of a reduce-only taker close, for venues whose
/// market-style orders are limit orders (Nado IOC): `reference` (the same-side
/// top of book, or the oracle) moved `slippage_percent` against us, kept inside
/// the venue's `band` × `oracle`, and on the tick, rounded to the aggressive
/// side (down for sells, up for buys) unless that would leave the band.
pub fn worst_price(
    side: OrderSide,
    reference: Decimal,
    oracle: Decimal,
    slippage_percent: Decimal,
    band: Band,
    tick: Decimal,
) -> Decimal {
    let s = slippage_percent / Decimal::ONE_HUNDRED;
    let raw = match side {
        OrderSide::Ask => reference * (Decimal::ONE - s),
        OrderSide::Bid => reference * (Decimal::ONE + s),
    };
    let on_tick = |x: Decimal, up: bool| {
        if tick <= Decimal::ZERO {
            return x;
        }
        let n = x / tick;
        (if up { n.ceil() } else { n.floor() }) * tick
    };
    // The band's ends, rounded inward so they stay inside it.
    let low = on_tick(oracle * band.low, true);
    let high = on_tick(oracle * band.high, false);
    let p = on_tick(raw, side == OrderSide::Bid);
    p.max(low).min(high).normalize()
}

/// Nado's price band around the oracle (error 2007 outside it): 20 % to 500 %.
pub const NADO_BAND: Band = Band {
    low: Decimal::from_parts(2, 0, 0, false, 1),
    high: Decimal::from_parts(5, 0, 0, false, 0),
};

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn worst_price_is_on_the_tick_on_the_aggressive_side_and_inside_the_band() {
        // Sell 1% under a 2500.05 bid, tick 0.1: 2475.0495 floors to 2475.0.
        assert_eq!(
            worst_price(OrderSide::Ask, d("2500.05"), d("2500"), d("1"), NADO_BAND, d("0.1")),
            d("2475")
        );
        // Buy 1% over a 2500.05 ask: 2525.0505 ceils to 2525.1.
        assert_eq!(
            worst_price(OrderSide::Bid, d("2500.05"), d("2500"), d("1"), NADO_BAND, d("0.1")),
            d("2525.1")
        );
        // A huge slippage is clamped into [0.2, 5] x oracle.
        assert_eq!(
            worst_price(OrderSide::Ask, d("100"), d("100"), d("95"), NADO_BAND, d("0.3")),
            d("20.1")
        );
        assert_eq!(
            worst_price(OrderSide::Bid, d("100"), d("100"), d("900"), NADO_BAND, d("0.3")),
            d("499.8")
        );
    }

    proptest! {
        #[test]
        fn worst_price_never_leaves_the_band_or_the_tick(
            reference in 1u32..1_000_000, oracle in 1u32..1_000_000, slip in 1u32..10_000, tick_exp in 0u32..4, buy: bool,
        ) {
            let tick = Decimal::new(1, tick_exp);
            let (reference, oracle) = (Decimal::new(reference.into(), 2), Decimal::new(oracle.into(), 2));
            let side = if buy { OrderSide::Bid } else { OrderSide::Ask };
            let p = worst_price(side, reference, oracle, Decimal::new(slip.into(), 2), NADO_BAND, tick);
            prop_assert!((p / tick).fract().is_zero());
            if oracle * NADO_BAND.low / tick >= Decimal::ONE {
                prop_assert!(p >= oracle * NADO_BAND.low, "{} below the band", p);
                prop_assert!(p <= oracle * NADO_BAND.high, "{} above the band", p);
            }
        }
    }
}
