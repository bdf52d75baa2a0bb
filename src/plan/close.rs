//! Sizing a reduce-only close. Pure.
//!
//! The size comes from a *fresh* exchange read taken for this close, never
//! from the database or an older view. It is floored to the lot size, never
//! exceeds the position, and is always on the side that reduces it: a close
//! cannot open or flip a position.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a close aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseTarget {
    /// To zero.
    Flatten,
    /// Down to this signed size (what the bot's database explains); a
    /// target on the other side of zero, or beyond the position, is clamped.
    ReduceTo(Decimal),
}

pub use crate::venue::types::{CloseOrder, OrderSide};

/// The sizing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizing {
    Send(CloseOrder),
    /// The fresh read shows no position: nothing to close.
    AlreadyFlat,
    /// The position is already at or inside the target.
    NothingToReduce,
    /// Less than one lot would be reduced: nothing can be sent.
    BelowOneLot {
        wanted: Decimal,
    },
}

/// Floors `x` (non-negative) to a whole number of `lot`s. A size too large
/// to divide exactly floors to zero: nothing is sent on a number that
/// cannot be represented (never a panic, never a guess).
pub fn floor_to_lot(x: Decimal, lot: Decimal) -> Decimal {
    if lot <= Decimal::ZERO {
        return x;
    }
    x.checked_div(lot)
        .and_then(|n| n.floor().checked_mul(lot))
        .unwrap_or(Decimal::ZERO)
}

/// Sizes a close of `symbol` from its fresh signed `position`.
pub fn size(symbol: &str, position: Decimal, target: CloseTarget, lot: Decimal) -> Sizing {
    if position.is_zero() {
        return Sizing::AlreadyFlat;
    }
    let keep = match target {
        CloseTarget::Flatten => Decimal::ZERO,
        // Never past zero: a target on the other side means flatten.
        CloseTarget::ReduceTo(t) if t.is_sign_negative() != position.is_sign_negative() || t.is_zero() => Decimal::ZERO,
        CloseTarget::ReduceTo(t) => t.abs(),
    };
    let held = position.abs();
    if keep >= held {
        return Sizing::NothingToReduce;
    }
    let wanted = held - keep;
    let amount = floor_to_lot(wanted, lot).min(held);
    if amount <= Decimal::ZERO {
        return Sizing::BelowOneLot { wanted };
    }
    let side = if position.is_sign_positive() {
        OrderSide::Ask
    } else {
        OrderSide::Bid
    };
    Sizing::Send(CloseOrder {
        symbol: symbol.to_owned(),
        side,
        amount: amount.normalize(),
    })
}

/// A venue's price band around its oracle price (Nado: 20 % to 500 %).
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

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn flatten_a_long_and_a_short() {
        assert_eq!(
            size("SOL", d("0.5"), CloseTarget::Flatten, d("0.01")),
            Sizing::Send(CloseOrder {
                symbol: "SOL".into(),
                side: OrderSide::Ask,
                amount: d("0.5")
            })
        );
        assert_eq!(
            size("ZEC", d("-0.1"), CloseTarget::Flatten, d("0.01")),
            Sizing::Send(CloseOrder {
                symbol: "ZEC".into(),
                side: OrderSide::Bid,
                amount: d("0.1")
            })
        );
    }

    #[test]
    fn reduce_to_what_the_bot_explains() {
        // The bot's DB explains 1.2 of a 1.7 long: trim 0.5.
        assert_eq!(
            size("SOL", d("1.7"), CloseTarget::ReduceTo(d("1.2")), d("0.01")),
            Sizing::Send(CloseOrder {
                symbol: "SOL".into(),
                side: OrderSide::Ask,
                amount: d("0.5")
            })
        );
        assert_eq!(
            size("SOL", d("1"), CloseTarget::ReduceTo(d("1.5")), d("0.01")),
            Sizing::NothingToReduce
        );
        // A target on the other side never flips the position.
        assert_eq!(
            size("SOL", d("1"), CloseTarget::ReduceTo(d("-3")), d("0.01")),
            Sizing::Send(CloseOrder {
                symbol: "SOL".into(),
                side: OrderSide::Ask,
                amount: d("1")
            })
        );
    }

    #[test]
    fn floors_to_the_lot_and_refuses_dust() {
        assert_eq!(
            size("BTC", d("0.000059"), CloseTarget::Flatten, d("0.00001")),
            Sizing::Send(CloseOrder {
                symbol: "BTC".into(),
                side: OrderSide::Ask,
                amount: d("0.00005")
            })
        );
        assert_eq!(
            size("BTC", d("0.000004"), CloseTarget::Flatten, d("0.00001")),
            Sizing::BelowOneLot { wanted: d("0.000004") }
        );
        assert_eq!(
            size("BTC", Decimal::ZERO, CloseTarget::Flatten, d("0.00001")),
            Sizing::AlreadyFlat
        );
    }

    fn decimal(max_units: i64, scale: u32) -> impl Strategy<Value = Decimal> {
        (-max_units..=max_units).prop_map(move |u| Decimal::new(u, scale))
    }

    proptest! {
        /// The close never exceeds the position, is whole lots, and reduces.
        #[test]
        fn a_close_never_exceeds_the_position(
            position in decimal(10_000_000, 5),
            target in decimal(10_000_000, 5),
            lot_exp in 0u32..6,
            flatten in any::<bool>(),
        ) {
            let lot = Decimal::new(1, lot_exp);
            let t = if flatten { CloseTarget::Flatten } else { CloseTarget::ReduceTo(target) };
            if let Sizing::Send(order) = size("X", position, t, lot) {
                prop_assert!(order.amount > Decimal::ZERO);
                prop_assert!(order.amount <= position.abs());
                prop_assert_eq!(order.amount % lot, Decimal::ZERO);
                let after = match order.side {
                    OrderSide::Ask => position - order.amount,
                    OrderSide::Bid => position + order.amount,
                };
                // Closer to zero, never across it.
                prop_assert!(after.abs() < position.abs());
                prop_assert!(after.is_zero() || after.is_sign_negative() == position.is_sign_negative());
            }
        }
    }

    const NADO_BAND: Band = Band {
        low: Decimal::from_parts(2, 0, 0, false, 1),
        high: Decimal::from_parts(5, 0, 0, false, 0),
    };

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
