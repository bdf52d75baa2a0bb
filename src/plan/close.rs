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
}
