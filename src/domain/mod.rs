//! Domain vocabulary shared by every layer: venues, position keys, signed
//! sizes, sources and timestamps.
//!
//! Sizes are `rust_decimal::Decimal`, signed: positive is long, negative is
//! short, zero is flat. A venue that reports `side` plus a positive amount is
//! converted to a signed size at its own edge (`venue/<name>/parse.rs`), so
//! nothing past the adapters ever sees a side string.

use std::fmt;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

mod symbol;

pub use symbol::Symbol;

/// Milliseconds since the Unix epoch. Pure code receives it as `now`; only
/// [`crate::clock`] reads the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.as_millis().min(i64::MAX as u128) as i64))
    }

    /// How long after `earlier` this is; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), by the civil-from-days algorithm.
    pub fn to_utc_string(self) -> String {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    }

    /// Seconds since the epoch as a float, for Prometheus gauges only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

/// The exchanges driftwatch knows. Each has a folder under `venue/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    Pacifica,
    Nado,
    Hyperliquid,
    /// Binance USDⓈ-M futures (so far the offline panic button signs for it).
    Binance,
}

impl VenueKind {
    pub const ALL: [VenueKind; 4] = [
        VenueKind::Pacifica,
        VenueKind::Nado,
        VenueKind::Hyperliquid,
        VenueKind::Binance,
    ];

    /// The venue named `s` (its `as_str`), or an error listing them.
    pub fn parse(s: &str) -> Result<VenueKind, String> {
        VenueKind::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = VenueKind::ALL.iter().map(|v| v.as_str()).collect();
            format!("unknown venue {s:?}: {}", names.join(", "))
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VenueKind::Pacifica => "pacifica",
            VenueKind::Nado => "nado",
            VenueKind::Hyperliquid => "hyperliquid",
            VenueKind::Binance => "binance",
        }
    }
}

impl fmt::Display for VenueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which leg of a symbol a size belongs to. One-way venues (Pacifica, Nado)
/// use `Net`; hedge-mode venues (Binance dual-side) hold a `Long` and a
/// `Short` leg on one symbol at once, and each leg is reconciled on its own.
/// Nado's isolated-margin position in a product is its own `Isolated` leg
/// beside the cross-margin `Net` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    Net,
    Long,
    Short,
    Isolated,
}

/// One reconcilable position slot: a symbol (exactly as the venue spells it,
/// case-sensitive) and a leg.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PositionKey {
    pub symbol: Symbol,
    pub leg: Leg,
}

impl PositionKey {
    pub fn net(symbol: impl Into<Symbol>) -> Self {
        PositionKey {
            symbol: symbol.into(),
            leg: Leg::Net,
        }
    }
}

impl Leg {
    /// A hedge-mode leg (Binance dual-side `LONG`/`SHORT`): the two legs of
    /// a symbol are open side by side and neither explains the other.
    pub fn is_hedge(self) -> bool {
        matches!(self, Leg::Long | Leg::Short)
    }
}

/// Which exchange legs a bot's rows stand for (its mapping's `leg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLegs {
    /// Every row stands for this one leg (`net`, the default, or Nado's
    /// `isolated`).
    One(Leg),
    /// Hedge mode (`leg: by_side`): a row's side names its leg, a long row
    /// the `Long` leg and a short row the `Short` one.
    BySide,
}

impl RowLegs {
    /// The leg of a row whose side has this sign (+1 long, −1 short).
    pub fn of_side(self, sign: i8) -> Leg {
        match self {
            RowLegs::One(leg) => leg,
            RowLegs::BySide if sign < 0 => Leg::Short,
            RowLegs::BySide => Leg::Long,
        }
    }

    /// Whether the bot's rows may stand for `leg` (an exchange leg they
    /// cannot stand for is never explained by them).
    pub fn covers(self, leg: Leg) -> bool {
        match self {
            RowLegs::One(l) => l == leg,
            RowLegs::BySide => leg.is_hedge(),
        }
    }
}

impl fmt::Display for PositionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.leg {
            Leg::Net => f.write_str(&self.symbol),
            Leg::Long => write!(f, "{}:long", self.symbol),
            Leg::Short => write!(f, "{}:short", self.symbol),
            Leg::Isolated => write!(f, "{}:isolated", self.symbol),
        }
    }
}

impl std::str::FromStr for PositionKey {
    type Err = std::convert::Infallible;

    /// The inverse of `Display`: `SOL` is the net leg, `SOL:long`,
    /// `SOL:short` and `SOL:isolated` the others. A colon followed by
    /// anything else is part of the symbol (`xyz:TSLA`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (symbol, leg) = PositionKey::split(s);
        Ok(PositionKey {
            symbol: Symbol::new(symbol),
            leg,
        })
    }
}

impl PositionKey {
    /// [`FromStr`](std::str::FromStr), borrowed: the symbol (or any name
    /// spelled the same way) and the leg it names.
    pub fn split(s: &str) -> (&str, Leg) {
        let leg = match s.rsplit_once(':') {
            Some((symbol, "long")) => Some((symbol, Leg::Long)),
            Some((symbol, "short")) => Some((symbol, Leg::Short)),
            Some((symbol, "isolated")) => Some((symbol, Leg::Isolated)),
            _ => None,
        };
        leg.unwrap_or((s, Leg::Net))
    }
}

/// A position as one source reports it. `size` is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub key: PositionKey,
    pub size: Decimal,
    pub entry_price: Option<Decimal>,
}

/// One row of the bot's positions table, as driftwatch read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbRow {
    /// The row's key column, as text (it identifies the row for corrections).
    pub row_key: String,
    pub key: PositionKey,
    /// Signed size, converted exactly once from the column's type.
    pub size: Decimal,
    /// The side word as stored (`None` for signed-amount mappings).
    pub side_word: Option<String>,
    /// The amount as stored (unsigned with a side column).
    pub amount: Decimal,
    /// The bot's last write to this row, when the mapping names the column.
    pub updated_at: Option<Timestamp>,
    /// The bot has an order open for this row (the mapping's `open_orders`):
    /// it is settling the row itself, so the row is not closed under it.
    #[serde(default)]
    pub busy: bool,
}

/// A successful read of the bot's positions (after the mapping's filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbSnapshot {
    pub rows: Vec<DbRow>,
    /// Rows whose symbol the mapping cannot place on the venue: shown and
    /// counted, never reconciled, corrected or closed.
    #[serde(default)]
    pub unmapped: Vec<UnmappedRow>,
}

/// A bot row the mapping's symbols do not place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmappedRow {
    pub row_key: String,
    /// As the bot spells it.
    pub symbol: String,
}

impl DbSnapshot {
    /// The net size per key: several rows for one symbol (several strategies
    /// on one account) add up to what the exchange holds.
    pub fn sizes(&self) -> std::collections::BTreeMap<PositionKey, Decimal> {
        let mut out = std::collections::BTreeMap::new();
        for row in &self.rows {
            *out.entry(row.key.clone()).or_insert(Decimal::ZERO) += row.size;
        }
        out
    }
}

/// The three places a position is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Ws,
    Rest,
    Db,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Ws, Source::Rest, Source::Db];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ws => "ws",
            Source::Rest => "rest",
            Source::Db => "db",
        }
    }
}

/// The pairs of sources whose difference is reported as drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pair {
    WsRest,
    WsDb,
    RestDb,
}

impl Pair {
    pub const ALL: [Pair; 3] = [Pair::WsRest, Pair::WsDb, Pair::RestDb];

    pub fn as_str(self) -> &'static str {
        match self {
            Pair::WsRest => "ws_rest",
            Pair::WsDb => "ws_db",
            Pair::RestDb => "rest_db",
        }
    }
}

/// Two sizes are the same position when they differ by less than one lot.
/// This is the one tolerance in driftwatch; it is never an inline literal.
/// An unknown lot size (`None`) means exact equality.
pub fn same_size(a: Decimal, b: Decimal, lot_size: Option<Decimal>) -> bool {
    match lot_size {
        Some(lot) if lot > Decimal::ZERO => (a - b).abs() < lot,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn mismatch_within_one_lot_is_the_same_size() {
        assert!(same_size(d("1.00"), d("1.005"), Some(d("0.01"))));
        assert!(!same_size(d("1.00"), d("1.01"), Some(d("0.01"))));
        assert!(!same_size(d("1.00"), d("1.000001"), None));
    }

    #[test]
    fn a_position_key_reads_back_what_it_displays() {
        for key in [
            PositionKey::net("SOL"),
            PositionKey {
                symbol: "SOLUSDT".into(),
                leg: Leg::Long,
            },
            PositionKey {
                symbol: "SOLUSDT".into(),
                leg: Leg::Short,
            },
            PositionKey {
                symbol: "SOL-PERP".into(),
                leg: Leg::Isolated,
            },
            PositionKey::net("xyz:TSLA"),
            PositionKey {
                symbol: "xyz:TSLA".into(),
                leg: Leg::Long,
            },
        ] {
            assert_eq!(key.to_string().parse::<PositionKey>(), Ok(key));
        }
    }

    #[test]
    fn hedge_rows_stand_for_the_leg_their_side_names() {
        assert_eq!(RowLegs::BySide.of_side(1), Leg::Long);
        assert_eq!(RowLegs::BySide.of_side(-1), Leg::Short);
        assert_eq!(RowLegs::One(Leg::Isolated).of_side(-1), Leg::Isolated);
        assert!(RowLegs::BySide.covers(Leg::Short) && !RowLegs::BySide.covers(Leg::Net));
        assert!(RowLegs::One(Leg::Net).covers(Leg::Net) && !RowLegs::One(Leg::Net).covers(Leg::Long));
    }

    #[test]
    fn utc_strings() {
        assert_eq!(Timestamp(0).to_utc_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1_767_225_600_000).to_utc_string(), "2026-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1_762_799_738_123).to_utc_string(), "2025-11-10T18:35:38.123Z");
        assert_eq!(Timestamp(951_782_400_000).to_utc_string(), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn timestamps_saturate() {
        let t = Timestamp(1_000);
        assert_eq!(t.plus(Duration::from_secs(1)), Timestamp(2_000));
        assert_eq!(Timestamp(500).since(t), Duration::ZERO);
    }
}
