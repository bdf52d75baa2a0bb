//! How a bot's positions table maps onto driftwatch's view: which table,
//! which columns, which words mean long and short, which rows belong to the
//! watched account, what a correction writes. Pure: validation only; the
//! SQL text is [`super::sql`]'s.
//!
//! Identifiers from config are checked against a strict pattern (and
//! quoted for the dialect when SQL is written), and filter values are bound
//! as parameters, so a mapping can never inject SQL.

use super::names::{Ident, TableName};
use super::raw::{RawLeg, RawMapping, RawOnMissing, RawOnResize, RawOnStale, Word};
use super::symbols::{Pattern, SymbolMap, Template};
use crate::domain::{Leg, RowLegs};

/// How the side of a row is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideMode {
    /// A side column with words for long and short; the amount is positive.
    /// The first word of each list is the one driftwatch writes. `boolean`:
    /// the words are `true`/`false` and the column is read as a boolean.
    Column {
        column: Ident,
        long: Vec<String>,
        short: Vec<String>,
        boolean: bool,
    },
    /// No side column: the amount is signed (negative is short).
    SignedAmount,
}

/// What a correction of a stale row (the exchange holds nothing) writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnStale {
    /// `DELETE` the row (archived first).
    Delete,
    /// Close it the bot's way: `UPDATE` these columns (Freqtrade:
    /// `is_open = false`, `close_date`, `close_rate`, `exit_reason`).
    Close(Vec<(Ident, SetValue)>),
    /// Change nothing: the state, the metrics and the alerts say it.
    AlertOnly,
}

/// A value a close writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    Literal(Word),
    /// `{now}`: the time the correction is applied (UTC).
    Now,
    /// `{mark_price}`: the venue's mark price; unknown means no close.
    MarkPrice,
    /// `{pnl}`: the row's profit at the mark price, before fees and funding:
    /// signed size × (mark − the row's `entry_price_column`), in SQL.
    Pnl,
    /// `{pnl_ratio}`: `{pnl}` over the row's notional at entry, times its
    /// `leverage_column` when the mapping names one (Freqtrade's
    /// `close_profit`), in SQL.
    PnlRatio,
}

/// The bot's own open orders for a row, in another table: a row with one
/// is the bot's to settle (an order is in flight), never closed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrders {
    pub table: TableName,
    /// The column of `table` that holds the row's key.
    pub foreign_key: Ident,
    /// What makes an order open (booleans and whole numbers only).
    pub filter: Vec<(Ident, Word)>,
}

/// A validated mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub table: TableName,
    pub key_column: Ident,
    pub symbol_column: Ident,
    pub amount_column: Ident,
    pub side: SideMode,
    /// `column = value` conditions, all of which a row must meet.
    pub filter: Vec<(Ident, Word)>,
    /// The bot's spelling of symbols and the venue's, both ways.
    pub symbols: SymbolMap,
    /// The bot's last-write time (a timestamp column): corrections wait for
    /// the settle window after it. driftwatch sets it on every write.
    pub updated_at_column: Option<Ident>,
    /// Filled from the exchange's entry price on inserts.
    pub entry_price_column: Option<Ident>,
    /// Constant values for other NOT NULL columns on inserts.
    pub insert_values: Vec<(Ident, String)>,
    /// Columns set to the current time on inserts.
    pub insert_timestamp_columns: Vec<Ident>,
    /// The exchange legs the bot's rows stand for: the net (cross-margin)
    /// position by default, the isolated one, or (hedge mode) the leg each
    /// row's side names. Another open leg of a symbol is never explained by
    /// these rows.
    pub leg: RowLegs,
    /// What correcting a stale row means for this bot.
    pub on_stale: OnStale,
    /// Whether a row larger than the exchange's position may be brought
    /// down (`resize: update`), or only alerted on (`alert_only`).
    pub resize: bool,
    /// Whether this bot's table can take a row driftwatch writes at all
    /// (`missing: insert`); the account's `correct.insert` must also say so.
    pub insertable: bool,
    /// Where the bot keeps its open orders for a row, if it does.
    pub open_orders: Option<OpenOrders>,
    /// The row's leverage, for `{pnl_ratio}`.
    pub leverage_column: Option<Ident>,
    /// Amounts are stored as integers times 10^scale (Hummingbot: 6).
    pub amount_scale: u32,
}

use super::presets::preset;
pub use super::presets::PRESETS;

/// One validation error, with the field (relative to the mapping) it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub field: String,
    pub message: String,
}

impl RawMapping {
    /// Validates, collecting every error.
    pub fn validate(&self) -> Result<Mapping, Vec<MappingError>> {
        let mut errors = Vec::new();
        let base = match &self.preset {
            None => RawMapping::default(),
            Some(name) => match preset(name) {
                Some(p) => p,
                // Everything else would be a consequence of this one mistake.
                None => {
                    push(
                        &mut errors,
                        "preset",
                        format!("unknown preset {name:?}; known presets: {}", PRESETS.join(", ")),
                    );
                    return Err(errors);
                }
            },
        };
        let pick = |mine: &Option<String>, theirs: &Option<String>| mine.clone().or_else(|| theirs.clone());

        let key_column = ident(&mut errors, "key_column", pick(&self.key_column, &base.key_column));
        let symbol_column = ident(
            &mut errors,
            "symbol_column",
            pick(&self.symbol_column, &base.symbol_column),
        );
        let amount_column = ident(
            &mut errors,
            "amount_column",
            pick(&self.amount_column, &base.amount_column),
        );
        let side = if self.signed_amount {
            if self.side_column.is_some() {
                push(
                    &mut errors,
                    "side_column",
                    "side_column cannot be used with signed_amount: true".into(),
                );
            }
            Some(SideMode::SignedAmount)
        } else {
            let column = ident(&mut errors, "side_column", pick(&self.side_column, &base.side_column));
            let long = self
                .long_values
                .clone()
                .or(base.long_values.clone())
                .unwrap_or_default();
            let short = self
                .short_values
                .clone()
                .or(base.short_values.clone())
                .unwrap_or_default();
            let boolean = long.iter().chain(&short).any(Word::is_bool);
            if boolean && !(long.iter().chain(&short).all(Word::is_bool) && long.len() == 1 && short.len() == 1) {
                push(
                    &mut errors,
                    "long_values",
                    "a boolean side column takes exactly one boolean each: long_values: [false], short_values: [true] (or the other way)".into(),
                );
            }
            let long: Vec<String> = long.iter().map(Word::text).collect();
            let short: Vec<String> = short.iter().map(Word::text).collect();
            if long.is_empty() {
                push(
                    &mut errors,
                    "long_values",
                    "long_values must list at least one word (e.g. [long] or [bid])".into(),
                );
            }
            if short.is_empty() {
                push(
                    &mut errors,
                    "short_values",
                    "short_values must list at least one word (e.g. [short] or [ask])".into(),
                );
            }
            if let Some(w) = long.iter().find(|w| short.contains(w)) {
                push(
                    &mut errors,
                    "short_values",
                    format!("{w:?} cannot mean both long and short"),
                );
            }
            column.map(|column| SideMode::Column {
                column,
                long,
                short,
                boolean,
            })
        };
        let table = match pick(&self.table, &base.table) {
            None => {
                push(&mut errors, "table", "missing table (or use a preset)".into());
                None
            }
            Some(t) => match TableName::parse(&t) {
                Ok(t) => Some(t),
                Err(m) => {
                    push(&mut errors, "table", m);
                    None
                }
            },
        };
        let mut filter = Vec::new();
        let raw_filter = if self.filter.is_empty() {
            &base.filter
        } else {
            &self.filter
        };
        for (column, value) in raw_filter {
            match Ident::parse(column) {
                Ok(c) => filter.push((c, value.clone())),
                Err(m) => push(&mut errors, &format!("filter.{column}"), m),
            }
        }
        let optional = |errors: &mut Vec<MappingError>, field: &str, v: Option<String>| match v {
            None => None,
            Some(v) => ident(errors, field, Some(v)),
        };
        let updated_at_column = optional(
            &mut errors,
            "updated_at_column",
            pick(&self.updated_at_column, &base.updated_at_column),
        );
        let entry_price_column = optional(
            &mut errors,
            "entry_price_column",
            pick(&self.entry_price_column, &base.entry_price_column),
        );
        let raw_values = if self.insert_values.is_empty() {
            &base.insert_values
        } else {
            &self.insert_values
        };
        let mut insert_values = Vec::new();
        for (column, value) in raw_values {
            match Ident::parse(column) {
                Ok(c) => insert_values.push((c, value.clone())),
                Err(m) => push(&mut errors, &format!("insert_values.{column}"), m),
            }
        }
        let mut insert_timestamp_columns = Vec::new();
        let raw_ts = self
            .insert_timestamp_columns
            .clone()
            .or(base.insert_timestamp_columns.clone())
            .unwrap_or_default();
        for column in raw_ts {
            if let Some(c) = ident(&mut errors, "insert_timestamp_columns", Some(column)) {
                insert_timestamp_columns.push(c);
            }
        }
        let symbols = self.symbol_map(&base, &mut errors);
        let on_stale = match self.on_stale.or(base.on_stale).unwrap_or(RawOnStale::Delete) {
            RawOnStale::Delete => OnStale::Delete,
            RawOnStale::AlertOnly => OnStale::AlertOnly,
            RawOnStale::Close => {
                let set = self.close_set.clone().or(base.close_set.clone()).unwrap_or_default();
                if set.is_empty() {
                    push(
                        &mut errors,
                        "close_set",
                        "on_stale: close needs close_set: the columns that mark a row closed (e.g. is_open: false)"
                            .into(),
                    );
                }
                let mut out = Vec::new();
                for (column, value) in set {
                    let field = format!("close_set.{column}");
                    let Some(c) = ident(&mut errors, &field, Some(column)) else {
                        continue;
                    };
                    let v = match &value {
                        Word::Text(t) if t == "{now}" => SetValue::Now,
                        Word::Text(t) if t == "{mark_price}" => SetValue::MarkPrice,
                        Word::Text(t) if t == "{pnl}" || t == "{pnl_ratio}" => {
                            if self.entry_price_column.is_none() && base.entry_price_column.is_none() {
                                push(
                                    &mut errors,
                                    &field,
                                    format!("{t} needs entry_price_column (the row's entry price)"),
                                );
                            }
                            if t == "{pnl}" {
                                SetValue::Pnl
                            } else {
                                SetValue::PnlRatio
                            }
                        }
                        Word::Text(t) if t.starts_with('{') && t.ends_with('}') => {
                            push(
                                &mut errors,
                                &field,
                                format!(
                                    "unknown placeholder {t}; known: {{now}}, {{mark_price}}, {{pnl}}, {{pnl_ratio}}"
                                ),
                            );
                            continue;
                        }
                        w => SetValue::Literal(w.clone()),
                    };
                    out.push((c, v));
                }
                OnStale::Close(out)
            }
        };
        if self.close_set.is_some() && !matches!(on_stale, OnStale::Close(_)) {
            push(
                &mut errors,
                "close_set",
                "close_set is only used with on_stale: close".into(),
            );
        }
        let resize = self.on_resize.or(base.on_resize).unwrap_or(RawOnResize::Update) == RawOnResize::Update;
        let insertable = self.on_missing.or(base.on_missing).unwrap_or(RawOnMissing::Insert) == RawOnMissing::Insert;
        let open_orders = match self.open_orders.as_ref().or(base.open_orders.as_ref()) {
            None => None,
            Some(o) => {
                let table = TableName::parse(&o.table)
                    .map_err(|m| push(&mut errors, "open_orders.table", m))
                    .ok();
                let fk = ident(&mut errors, "open_orders.foreign_key", Some(o.foreign_key.clone()));
                let mut filter = Vec::new();
                for (c, w) in &o.filter {
                    let field = format!("open_orders.filter.{c}");
                    if matches!(w, Word::Text(_)) {
                        push(&mut errors, &field, "use true/false or a whole number".into());
                    }
                    if let Some(c) = ident(&mut errors, &field, Some(c.clone())) {
                        filter.push((c, w.clone()));
                    }
                }
                match (table, fk) {
                    (Some(table), Some(foreign_key)) => Some(OpenOrders {
                        table,
                        foreign_key,
                        filter,
                    }),
                    _ => None,
                }
            }
        };
        let amount_scale = self.amount_scale.or(base.amount_scale).unwrap_or(0);
        if amount_scale > 18 {
            push(&mut errors, "amount_scale", "must be at most 18".into());
        }
        let leverage_column = optional(
            &mut errors,
            "leverage_column",
            pick(&self.leverage_column, &base.leverage_column),
        );
        let leg = match self.leg.or(base.leg).unwrap_or(RawLeg::Net) {
            RawLeg::Net => RowLegs::One(Leg::Net),
            RawLeg::Isolated => RowLegs::One(Leg::Isolated),
            RawLeg::BySide if matches!(side, Some(SideMode::SignedAmount)) => {
                push(
                    &mut errors,
                    "leg",
                    "leg: by_side needs a side column: a hedge-mode row says which leg it stands for".into(),
                );
                RowLegs::BySide
            }
            RawLeg::BySide => RowLegs::BySide,
            RawLeg::Long | RawLeg::Short => {
                push(
                    &mut errors,
                    "leg",
                    "long and short are hedge-mode legs: say `by_side` (a row's side names its leg), `net` or `isolated`".into(),
                );
                RowLegs::One(Leg::Net)
            }
        };
        match (table, key_column, symbol_column, amount_column, side) {
            (Some(table), Some(key_column), Some(symbol_column), Some(amount_column), Some(side))
                if errors.is_empty() =>
            {
                Ok(Mapping {
                    table,
                    key_column,
                    symbol_column,
                    amount_column,
                    side,
                    filter,
                    symbols,
                    updated_at_column,
                    entry_price_column,
                    insert_values,
                    insert_timestamp_columns,
                    leg,
                    on_stale,
                    resize,
                    insertable,
                    open_orders,
                    leverage_column,
                    amount_scale,
                })
            }
            _ => Err(errors),
        }
    }
}

impl RawMapping {
    fn symbol_map(&self, base: &RawMapping, errors: &mut Vec<MappingError>) -> SymbolMap {
        let mut explicit = base.symbols.clone();
        explicit.extend(self.symbols.clone());
        let template = match self.symbol_pattern.as_ref().or(base.symbol_pattern.as_ref()) {
            None => None,
            Some(t) => Template::parse(t).map_err(|m| push(errors, "symbol_pattern", m)).ok(),
        };
        // A pattern of one's own replaces the preset's regex.
        let regex = match (&self.symbol_regex, &self.symbol_pattern) {
            (Some(r), _) => Some(r),
            (None, Some(_)) => None,
            (None, None) => base.symbol_regex.as_ref(),
        };
        let regex = match regex {
            None => None,
            Some(r) => Pattern::parse(r).map_err(|m| push(errors, "symbol_regex", m)).ok(),
        };
        SymbolMap {
            explicit,
            template,
            regex,
        }
    }
}

fn push(errors: &mut Vec<MappingError>, field: &str, message: String) {
    errors.push(MappingError {
        field: field.to_owned(),
        message,
    });
}

fn ident(errors: &mut Vec<MappingError>, field: &str, value: Option<String>) -> Option<Ident> {
    match value {
        None => {
            push(errors, field, format!("missing {field} (or use a preset)"));
            None
        }
        Some(v) => match Ident::parse(&v) {
            Ok(i) => Some(i),
            Err(m) => {
                push(errors, field, m);
                None
            }
        },
    }
}

impl Mapping {
    /// An amount as stored → the amount it means (÷ 10^amount_scale, exact).
    pub fn unscale(&self, stored: rust_decimal::Decimal) -> rust_decimal::Decimal {
        match self.amount_scale {
            0 => stored,
            n => stored / rust_decimal::Decimal::from(10u64.pow(n)),
        }
    }

    /// An amount → as stored (× 10^amount_scale, truncated toward zero as
    /// Hummingbot stores it).
    pub fn scale_up(&self, amount: rust_decimal::Decimal) -> rust_decimal::Decimal {
        match self.amount_scale {
            0 => amount,
            n => (amount * rust_decimal::Decimal::from(10u64.pow(n))).trunc(),
        }
    }

    /// The venue symbol for a database symbol; `None`: unmapped.
    pub fn venue_symbol(&self, db_symbol: &str) -> Option<String> {
        self.symbols.to_venue(db_symbol)
    }

    /// +1 for long words, -1 for short words, `None` for anything else.
    pub fn side_sign(&self, word: Option<&str>) -> Option<i8> {
        match &self.side {
            SideMode::SignedAmount => Some(1),
            SideMode::Column { long, short, .. } => {
                let w = word?;
                if long.iter().any(|l| l == w) {
                    Some(1)
                } else if short.iter().any(|s| s == w) {
                    Some(-1)
                } else {
                    None
                }
            }
        }
    }

    /// The word driftwatch writes for a signed size (the first listed).
    pub fn side_word_for(&self, size: rust_decimal::Decimal) -> Option<String> {
        match &self.side {
            SideMode::SignedAmount => None,
            SideMode::Column { long, short, .. } => {
                let words = if size.is_sign_negative() { short } else { long };
                words.first().cloned()
            }
        }
    }

    /// The database symbol for a venue symbol; `None` when the mapping
    /// cannot spell it (a regex reads, it does not write).
    pub fn db_symbol(&self, venue_symbol: &str) -> Option<String> {
        self.symbols.to_db(venue_symbol)
    }
}
