//! Nado's per-IP query budget (nado.md §6): the limits, the weight of each
//! query driftwatch makes, the share of them an account's client may use,
//! and the poll pace that share sustains. Pure: `config` checks an account's
//! settings against it, the client spends from it.

use std::time::Duration;

use rust_decimal::Decimal;

/// The per-IP query limits: weight per window.
pub const QUERY_LIMITS: [(Duration, u32); 2] = [(Duration::from_secs(10), 400), (Duration::from_secs(60), 2400)];

/// Query weights.
pub mod weight {
    pub const SUBACCOUNT_INFO: u32 = 2;
    pub const ISOLATED_POSITIONS: u32 = 10;
    pub const SYMBOLS: u32 = 2;
    pub const CONTRACTS: u32 = 1;
    pub const MARKET_PRICE: u32 = 1;
    pub const MAX_ORDER_SIZE: u32 = 5;
    pub const SUBACCOUNT_ORDERS: u32 = 2;
    /// One position read: `subaccount_info` and `isolated_positions`.
    pub const POSITIONS: u32 = SUBACCOUNT_INFO + ISOLATED_POSITIONS;
}

/// The limits scaled to `share` of the per-IP budget (the bot needs the
/// rest), each with room for at least one full position read.
pub fn limits_for(share: Decimal) -> Vec<(Duration, u32)> {
    use rust_decimal::prelude::ToPrimitive;
    QUERY_LIMITS
        .iter()
        .map(|&(w, l)| {
            let scaled = (Decimal::from(l) * share).floor().to_u32().unwrap_or(l);
            (w, scaled.clamp(weight::POSITIONS, l))
        })
        .collect()
}

/// The shortest gap between position reads that `limits` sustain with a
/// quarter to spare (a close's fresh reads, the stream's baseline after a
/// reconnect, a refused baseline's second reads).
pub fn poll_floor(limits: &[(Duration, u32)]) -> Duration {
    limits
        .iter()
        .map(|&(window, limit)| window * weight::POSITIONS * 4 / (limit * 3).max(1))
        .max()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_share_polls_every_1_6_s_and_a_tiny_one_is_floored_to_one_read() {
        assert_eq!(
            poll_floor(&limits_for(Decimal::new(25, 2))),
            Duration::from_millis(1600)
        );
        assert_eq!(poll_floor(&limits_for(Decimal::ONE)), Duration::from_millis(400));
        let tiny = limits_for(Decimal::new(1, 4));
        assert!(tiny.iter().all(|&(_, l)| l == weight::POSITIONS), "{tiny:?}");
    }
}
