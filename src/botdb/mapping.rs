//! How a bot's positions table maps onto driftwatch's view: which table,
//! which columns, which words mean long and short, which rows belong to the
//! watched account. Pure: validation and SQL text only.
//!
//! Identifiers from config are checked against a strict pattern and then
//! quoted for the dialect, and filter values are bound as parameters, so a
//! mapping can never inject SQL.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::symbols::{Pattern, SymbolMap, Template};
use crate::domain::Leg;

/// The SQL dialects driftwatch speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    /// The dialect of a database URL, by scheme.
    pub fn from_url(url: &str) -> Option<Dialect> {
        let scheme = url.split(':').next().unwrap_or("");
        match scheme {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    pub fn quote(self, ident: &Ident) -> String {
        match self {
            Dialect::MySql => format!("`{}`", ident.0),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", ident.0),
        }
    }

    pub fn text_type(self) -> &'static str {
        match self {
            Dialect::MySql => "CHAR",
            Dialect::Postgres | Dialect::Sqlite => "TEXT",
        }
    }

    fn null_int(self) -> &'static str {
        match self {
            Dialect::Postgres => "CAST(NULL AS BIGINT)",
            Dialect::MySql => "CAST(NULL AS SIGNED)",
            Dialect::Sqlite => "NULL",
        }
    }

    /// A timestamp column as milliseconds since the epoch (an integer).
    fn epoch_ms(self, quoted: &str) -> String {
        match self {
            Dialect::Postgres => format!("CAST(EXTRACT(EPOCH FROM {quoted}) * 1000 AS BIGINT)"),
            Dialect::MySql => format!("CAST(UNIX_TIMESTAMP({quoted}) * 1000 AS SIGNED)"),
            Dialect::Sqlite => format!("CAST((julianday({quoted}) - 2440587.5) * 86400000.0 AS INTEGER)"),
        }
    }

    /// A boolean column (or 0/1 integer) read as the text `true`/`false`,
    /// the same in every dialect (NULL stays NULL).
    pub fn bool_text(self, quoted: &str) -> String {
        let int = if self == Dialect::MySql { "SIGNED" } else { "INTEGER" };
        format!("CASE CAST({quoted} AS {int}) WHEN 1 THEN 'true' WHEN 0 THEN 'false' END")
    }

    /// A column compared with a config word: booleans by value, anything
    /// else as text.
    fn compared(self, column: &Ident, word: &Word) -> String {
        if word.is_bool() {
            self.bool_text(&self.quote(column))
        } else {
            format!("CAST({} AS {})", self.quote(column), self.text_type())
        }
    }

    /// The placeholder for the `n`th (1-based) bound parameter.
    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::MySql | Dialect::Sqlite => "?".to_owned(),
        }
    }
}

/// A validated SQL identifier: ASCII letter or underscore, then letters,
/// digits or underscores, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    pub fn parse(s: &str) -> Result<Ident, String> {
        let mut chars = s.chars();
        let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok_first && ok_rest && s.len() <= 63 {
            Ok(Ident(s.to_owned()))
        } else {
            Err(format!(
                "invalid SQL identifier {s:?}: use letters, digits and underscores, starting with a letter or underscore"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A table name, optionally schema-qualified (`schema.table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<Ident>,
    pub table: Ident,
}

impl TableName {
    pub fn parse(s: &str) -> Result<TableName, String> {
        match s.split_once('.') {
            Some((schema, table)) => Ok(TableName {
                schema: Some(Ident::parse(schema)?),
                table: Ident::parse(table)?,
            }),
            None => Ok(TableName {
                schema: None,
                table: Ident::parse(s)?,
            }),
        }
    }

    pub fn quoted(&self, d: Dialect) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", d.quote(schema), d.quote(&self.table)),
            None => d.quote(&self.table),
        }
    }
}

/// A value as written in the config file: YAML's `true`/`false`, a whole
/// number, or text. A boolean matches a boolean column however the dialect
/// stores it (PostgreSQL `boolean`, MySQL `tinyint`, SQLite 0/1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Word {
    Bool(bool),
    Int(i64),
    Text(String),
}

impl Word {
    /// As compared and shown: `true`/`false`, the digits, or the text.
    pub fn text(&self) -> String {
        match self {
            Word::Bool(b) => b.to_string(),
            Word::Int(i) => i.to_string(),
            Word::Text(t) => t.clone(),
        }
    }

    pub fn is_bool(&self) -> bool {
        matches!(self, Word::Bool(_))
    }
}

impl From<&str> for Word {
    fn from(s: &str) -> Word {
        Word::Text(s.to_owned())
    }
}

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
    /// The exchange leg the bot's rows stand for: the net (cross-margin)
    /// position by default, or the isolated one. Another open leg of a
    /// symbol is never explained by these rows.
    pub leg: Leg,
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

/// A mapping as written in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    /// Start from a known bot's schema: `nexwave`.
    pub preset: Option<String>,
    pub table: Option<String>,
    pub key_column: Option<String>,
    pub symbol_column: Option<String>,
    pub side_column: Option<String>,
    pub amount_column: Option<String>,
    pub long_values: Option<Vec<Word>>,
    pub short_values: Option<Vec<Word>>,
    /// The amount column is signed and there is no side column.
    #[serde(default)]
    pub signed_amount: bool,
    #[serde(default)]
    pub filter: BTreeMap<String, Word>,
    #[serde(default)]
    pub symbols: BTreeMap<String, String>,
    /// The bot's spelling around the venue symbol: `{symbol}/USDC:USDC`.
    pub symbol_pattern: Option<String>,
    /// A regular expression with a named capture `symbol` (reading only).
    pub symbol_regex: Option<String>,
    pub updated_at_column: Option<String>,
    pub entry_price_column: Option<String>,
    #[serde(default)]
    pub insert_values: BTreeMap<String, String>,
    pub insert_timestamp_columns: Option<Vec<String>>,
    /// `net` (default) or `isolated`.
    pub leg: Option<Leg>,
    /// `delete` (default), `close` (with `close_set`) or `alert_only`.
    pub on_stale: Option<RawOnStale>,
    /// Columns a close sets: literals, `{now}`, `{mark_price}`.
    pub close_set: Option<BTreeMap<String, Word>>,
    /// `update` (default) or `alert_only`.
    pub on_resize: Option<RawOnResize>,
    /// `insert` (default; the account's `correct.insert` must also say so)
    /// or `alert_only`.
    pub on_missing: Option<RawOnMissing>,
    /// The bot's orders table: a row with an open order is not closed.
    pub open_orders: Option<RawOpenOrders>,
    /// The row's leverage, for `{pnl_ratio}`.
    pub leverage_column: Option<String>,
    /// Amounts stored as integers times 10^scale (Hummingbot: 6).
    pub amount_scale: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpenOrders {
    pub table: String,
    pub foreign_key: String,
    #[serde(default)]
    pub filter: BTreeMap<String, Word>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawOnStale {
    Delete,
    Close,
    AlertOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawOnResize {
    Update,
    AlertOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawOnMissing {
    Insert,
    AlertOnly,
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
        let leg = match self.leg.or(base.leg).unwrap_or(Leg::Net) {
            l @ (Leg::Net | Leg::Isolated) => l,
            Leg::Long | Leg::Short => {
                push(
                    &mut errors,
                    "leg",
                    "long and short are hedge-mode legs; a mapping stands for the `net` or the `isolated` leg".into(),
                );
                Leg::Net
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
    /// `SELECT key, symbol, side, amount FROM table WHERE filter...`, and the
    /// values to bind in order. The key is read as text; the amount keeps its
    /// column type so that [`crate::botdb`] converts it exactly once.
    pub fn select_sql(&self, d: Dialect) -> (String, Vec<String>) {
        let side = self.side_sql(d);
        let updated = match &self.updated_at_column {
            Some(c) => d.epoch_ms(&d.quote(c)),
            None => d.null_int().to_owned(),
        };
        let busy = self.busy_sql(d);
        let mut sql = format!(
            "SELECT CAST({key} AS {t}), CAST({sym} AS {t}), {side}, {amount}, {updated}, {busy} FROM {table}",
            key = d.quote(&self.key_column),
            sym = d.quote(&self.symbol_column),
            t = d.text_type(),
            amount = d.quote(&self.amount_column),
            table = self.table.quoted(d),
        );
        let mut binds = Vec::new();
        for (i, (column, value)) in self.filter.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            sql.push_str(&format!("{} = {}", d.compared(column, value), d.param(i + 1)));
            binds.push(value.text());
        }
        sql.push_str(&format!(" ORDER BY {}", d.quote(&self.key_column)));
        (sql, binds)
    }

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

    /// The side column as the text its words are compared with.
    pub fn side_sql(&self, d: Dialect) -> String {
        match &self.side {
            SideMode::Column {
                column, boolean: true, ..
            } => d.bool_text(&d.quote(column)),
            SideMode::Column { column, .. } => format!("CAST({} AS {})", d.quote(column), d.text_type()),
            SideMode::SignedAmount => "NULL".to_owned(),
        }
    }

    /// 1 when the row has an open order in the bot's orders table, else 0
    /// (always 0 without one). The order filter is inlined: its values are
    /// validated booleans and integers, never text.
    pub fn busy_sql(&self, d: Dialect) -> String {
        let Some(o) = &self.open_orders else {
            return "0".to_owned();
        };
        let child = o.table.quoted(d);
        let mut cond = format!(
            "{child}.{} = {}.{}",
            d.quote(&o.foreign_key),
            self.table.quoted(d),
            d.quote(&self.key_column)
        );
        for (c, w) in &o.filter {
            let column = format!("{child}.{}", d.quote(c));
            match w {
                Word::Bool(b) => cond.push_str(&format!(" AND {} = '{b}'", d.bool_text(&column))),
                Word::Int(i) => cond.push_str(&format!(" AND {column} = {i}")),
                Word::Text(_) => cond.push_str(" AND 1 = 0"),
            }
        }
        format!("CASE WHEN EXISTS (SELECT 1 FROM {child} WHERE {cond}) THEN 1 ELSE 0 END")
    }

    /// The filter's values, as bound (text; booleans as `true`/`false`).
    pub fn filter_binds(&self) -> Vec<String> {
        self.filter.iter().map(|(_, w)| w.text()).collect()
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
}

/// The SQL type family of a column, as far as writes care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Float,
    Numeric,
    Integer,
    Boolean,
    Text,
    /// Without a time zone (the bot's convention, UTC for the bots known).
    Timestamp,
    TimestampTz,
    Other,
}

impl ColumnKind {
    /// Classifies a type name from `information_schema` or SQLite's `PRAGMA table_info`.
    pub fn from_sql_type(t: &str) -> ColumnKind {
        let t = t.to_ascii_lowercase();
        if t.starts_with("bool") {
            ColumnKind::Boolean
        } else if t.contains("with time zone") || t == "timestamptz" {
            ColumnKind::TimestampTz
        } else if t.contains("double") || t.contains("float") || t.contains("real") {
            ColumnKind::Float
        } else if t.contains("numeric") || t.contains("decimal") {
            ColumnKind::Numeric
        } else if t.contains("int") {
            ColumnKind::Integer
        } else if t.contains("timestamp") || t.contains("date") || t.contains("time") {
            ColumnKind::Timestamp
        } else if t.contains("char") || t.contains("text") || t.contains("clob") || t.is_empty() {
            ColumnKind::Text
        } else {
            ColumnKind::Other
        }
    }
}

/// The columns of the mapped table, in order, from introspection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    pub columns: Vec<(String, ColumnKind)>,
    /// Columns an INSERT must give a value: NOT NULL, no default, not
    /// generated.
    pub required: Vec<String>,
}

impl TableInfo {
    pub fn kind(&self, column: &Ident) -> Option<ColumnKind> {
        self.columns.iter().find(|(c, _)| c == column.as_str()).map(|(_, k)| *k)
    }
}

/// Where a bound value of an INSERT comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertValue {
    Constant(Word),
    Symbol,
    Side,
    Amount,
    EntryPrice,
}

/// Numbered placeholders, in order.
struct Params {
    d: Dialect,
    n: usize,
}

impl Params {
    fn next(&mut self) -> String {
        self.n += 1;
        self.d.param(self.n)
    }
}

/// Introspection's third column: `required` for a column an INSERT must fill.
const PG_REQUIRED: &str = "CASE WHEN is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO' \
     AND is_generated = 'NEVER' THEN 'required' END";
const MY_REQUIRED: &str = "CASE WHEN is_nullable = 'NO' AND column_default IS NULL \
     AND extra NOT LIKE '%auto_increment%' AND extra NOT LIKE '%GENERATED%' THEN 'required' END";
/// An `INTEGER PRIMARY KEY` is the rowid: SQLite fills it.
const LITE_REQUIRED: &str = "CASE WHEN \"notnull\" = 1 AND dflt_value IS NULL \
     AND NOT (pk = 1 AND upper(type) = 'INTEGER') THEN 'required' END";

impl Dialect {
    /// Lists a table's columns and types; binds: table name (and schema).
    pub fn introspect_sql(self, table: &TableName) -> (String, Vec<String>) {
        let mut binds = vec![table.table.as_str().to_owned()];
        let sql = match (self, &table.schema) {
            (Dialect::Postgres, None) => {
                format!(
                    "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), {PG_REQUIRED} FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = current_schema() ORDER BY ordinal_position"
                )
            }
            (Dialect::Postgres, Some(s)) => {
                binds.push(s.as_str().to_owned());
                format!(
                    "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), {PG_REQUIRED} FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = $2 ORDER BY ordinal_position"
                )
            }
            (Dialect::MySql, None) => {
                format!(
                    "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), {MY_REQUIRED} FROM information_schema.columns \
                 WHERE table_name = ? AND table_schema = DATABASE() ORDER BY ordinal_position"
                )
            }
            (Dialect::MySql, Some(s)) => {
                binds.push(s.as_str().to_owned());
                format!(
                    "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), {MY_REQUIRED} FROM information_schema.columns \
                 WHERE table_name = ? AND table_schema = ? ORDER BY ordinal_position"
                )
            }
            (Dialect::Sqlite, None) => format!("SELECT name, type, {LITE_REQUIRED} FROM pragma_table_info(?)"),
            (Dialect::Sqlite, Some(s)) => {
                binds.push(s.as_str().to_owned());
                format!("SELECT name, type, {LITE_REQUIRED} FROM pragma_table_info(?, ?)")
            }
        };
        (sql, binds)
    }
}

impl Mapping {
    fn filter_sql(&self, d: Dialect, p: &mut Params) -> String {
        self.filter
            .iter()
            .map(|(c, w)| format!(" AND {} = {}", d.compared(c, w), p.next()))
            .collect()
    }

    /// Reads `n` rows for conditional writes, locking them where the dialect
    /// can: every column as text (for the archive), then the amount in its
    /// own type (for the exact comparison), then the key as text (to match
    /// rows to corrections), then the side as its words are compared.
    /// Binds: `n` keys, then the filter values.
    pub fn lock_rows_sql(&self, d: Dialect, info: &TableInfo, n: usize) -> String {
        let t = d.text_type();
        let cols: Vec<String> = info
            .columns
            .iter()
            .map(|(c, _)| format!("CAST({} AS {t})", d.quote(&Ident(c.clone()))))
            .collect();
        let mut p = Params { d, n: 0 };
        let keys: Vec<String> = (0..n).map(|_| p.next()).collect();
        let filter = self.filter_sql(d, &mut p);
        let lock = if d == Dialect::Sqlite { "" } else { " FOR UPDATE" };
        format!(
            "SELECT {}, {}, CAST({key} AS {t}), {}, {} FROM {} WHERE {key} IN ({}){filter}{lock}",
            cols.join(", "),
            d.quote(&self.amount_column),
            self.side_sql(d),
            self.busy_sql(d),
            self.table.quoted(d),
            keys.join(", "),
            key = d.quote(&self.key_column),
        )
    }

    /// Which of `n` symbols already have a row (before inserts). Binds: `n`
    /// symbols, then the filter values.
    pub fn existing_symbols_sql(&self, d: Dialect, n: usize) -> String {
        let mut p = Params { d, n: 0 };
        let syms: Vec<String> = (0..n).map(|_| p.next()).collect();
        let filter = self.filter_sql(d, &mut p);
        let lock = if d == Dialect::Sqlite { "" } else { " FOR UPDATE" };
        let sym = format!("CAST({} AS {})", d.quote(&self.symbol_column), d.text_type());
        format!(
            "SELECT {sym} FROM {} WHERE {sym} IN ({}){filter}{lock}",
            self.table.quoted(d),
            syms.join(", ")
        )
    }

    /// Binds: `n` keys.
    pub fn delete_sql(&self, d: Dialect, n: usize) -> String {
        let mut p = Params { d, n: 0 };
        let keys: Vec<String> = (0..n).map(|_| p.next()).collect();
        format!(
            "DELETE FROM {} WHERE {} IN ({})",
            self.table.quoted(d),
            d.quote(&self.key_column),
            keys.join(", ")
        )
    }

    /// Updates `n` rows in one statement. Binds: with a side column, `n`
    /// (key, side word) pairs; then `n` (key, amount) pairs; then `n` keys.
    pub fn update_sql(&self, d: Dialect, n: usize) -> String {
        let mut p = Params { d, n: 0 };
        let key = d.quote(&self.key_column);
        let mut case = |column: &Ident| {
            let arms: Vec<String> = (0..n).map(|_| format!("WHEN {} THEN {}", p.next(), p.next())).collect();
            format!("{} = CASE {key} {} END", d.quote(column), arms.join(" "))
        };
        let mut sets = Vec::new();
        if let SideMode::Column { column, .. } = &self.side {
            sets.push(case(column));
        }
        sets.push(case(&self.amount_column));
        if let Some(c) = &self.updated_at_column {
            sets.push(format!("{} = CURRENT_TIMESTAMP", d.quote(c)));
        }
        let keys: Vec<String> = (0..n).map(|_| p.next()).collect();
        format!(
            "UPDATE {} SET {} WHERE {key} IN ({})",
            self.table.quoted(d),
            sets.join(", "),
            keys.join(", ")
        )
    }

    /// Closes one row the bot's way (`on_stale: close`). Binds: the close
    /// set's values in order (`{pnl}` and `{pnl_ratio}` take two: the mark
    /// price and the row's sign), then the key. Timestamps are bound as UTC
    /// text and cast for the column's type.
    pub fn close_sql(&self, d: Dialect, info: &TableInfo) -> String {
        let OnStale::Close(set) = &self.on_stale else {
            return String::new();
        };
        let mut p = Params { d, n: 0 };
        let sets: Vec<String> = set
            .iter()
            .map(|(c, v)| {
                let param = p.next();
                let value = match (v, info.kind(c), d) {
                    (SetValue::Now, Some(ColumnKind::Timestamp), Dialect::Postgres) => {
                        format!("CAST({param} AS TIMESTAMP)")
                    }
                    (SetValue::Now, Some(ColumnKind::TimestampTz), Dialect::Postgres) => {
                        format!("CAST({param} AS TIMESTAMPTZ)")
                    }
                    (SetValue::Now, _, Dialect::MySql) => format!("CAST({param} AS DATETIME(6))"),
                    (SetValue::Pnl | SetValue::PnlRatio, _, _) => {
                        let sign = p.next();
                        let entry = self
                            .entry_price_column
                            .as_ref()
                            .map_or("NULL".to_owned(), |c| d.quote(c));
                        let amount = d.quote(&self.amount_column);
                        let pnl = format!("({param} - {entry}) * {amount} * {sign}");
                        if *v == SetValue::Pnl {
                            pnl
                        } else {
                            let lev = self
                                .leverage_column
                                .as_ref()
                                .map_or("1".to_owned(), |c| format!("COALESCE({}, 1)", d.quote(c)));
                            format!("{pnl} / NULLIF({amount} * {entry}, 0) * {lev}")
                        }
                    }
                    _ => param,
                };
                format!("{} = {value}", d.quote(c))
            })
            .collect();
        format!(
            "UPDATE {} SET {} WHERE {} = {}",
            self.table.quoted(d),
            sets.join(", "),
            d.quote(&self.key_column),
            p.next()
        )
    }

    /// The INSERT of `n` missing rows, and what to bind for each row, in order.
    pub fn insert_sql(&self, d: Dialect, n: usize) -> (String, Vec<(Ident, InsertValue)>) {
        let mut binds: Vec<(Ident, InsertValue)> = Vec::new();
        for (c, v) in &self.filter {
            binds.push((c.clone(), InsertValue::Constant(v.clone())));
        }
        binds.push((self.symbol_column.clone(), InsertValue::Symbol));
        if let SideMode::Column { column, .. } = &self.side {
            binds.push((column.clone(), InsertValue::Side));
        }
        binds.push((self.amount_column.clone(), InsertValue::Amount));
        if let Some(c) = &self.entry_price_column {
            binds.push((c.clone(), InsertValue::EntryPrice));
        }
        for (c, v) in &self.insert_values {
            if !binds.iter().any(|(b, _)| b == c) {
                binds.push((c.clone(), InsertValue::Constant(Word::Text(v.clone()))));
            }
        }
        let mut cols: Vec<String> = binds.iter().map(|(c, _)| d.quote(c)).collect();
        let stamps: Vec<&Ident> = self
            .insert_timestamp_columns
            .iter()
            .filter(|c| !binds.iter().any(|(b, _)| b == *c))
            .collect();
        cols.extend(stamps.iter().map(|c| d.quote(c)));
        let mut p = Params { d, n: 0 };
        let rows: Vec<String> = (0..n)
            .map(|_| {
                let mut vals: Vec<String> = binds.iter().map(|_| p.next()).collect();
                vals.extend(stamps.iter().map(|_| "CURRENT_TIMESTAMP".to_owned()));
                format!("({})", vals.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table.quoted(d),
            cols.join(", "),
            rows.join(", ")
        );
        (sql, binds)
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

/// driftwatch's archive table: one row per changed bot row, written in the
/// same transaction as the change.
pub fn archive_ddl(d: Dialect, archive: &TableName) -> String {
    let (id, at, text) = match d {
        Dialect::Postgres => (
            "id BIGSERIAL PRIMARY KEY",
            "archived_at TIMESTAMPTZ NOT NULL DEFAULT now()",
            "TEXT",
        ),
        Dialect::MySql => (
            "id BIGINT AUTO_INCREMENT PRIMARY KEY",
            "archived_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)",
            "TEXT",
        ),
        Dialect::Sqlite => (
            "id INTEGER PRIMARY KEY AUTOINCREMENT",
            "archived_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP",
            "TEXT",
        ),
    };
    let short = if d == Dialect::MySql { "VARCHAR(128)" } else { "TEXT" };
    format!(
        "CREATE TABLE {} ({id}, {at}, correlation_id {short} NOT NULL, op {short} NOT NULL, venue {short} NOT NULL, \
         account {short} NOT NULL, symbol {short} NOT NULL, source_table {short} NOT NULL, row_key {short}, \
         before_row {text}, after_row {text}, reason {text} NOT NULL, evidence {text} NOT NULL)",
        archive.quoted(d)
    )
}

/// The archive rows of `n` changes. Binds, all text, per row: correlation_id,
/// op, venue, account, symbol, source_table, row_key, before_row, after_row,
/// reason, evidence.
pub fn archive_insert_sql(d: Dialect, archive: &TableName, n: usize) -> String {
    let mut p = Params { d, n: 0 };
    let rows: Vec<String> = (0..n)
        .map(|_| format!("({})", (0..11).map(|_| p.next()).collect::<Vec<_>>().join(", ")))
        .collect();
    format!(
        "INSERT INTO {} (correlation_id, op, venue, account, symbol, source_table, row_key, before_row, after_row, reason, evidence) \
         VALUES {}",
        archive.quoted(d),
        rows.join(", ")
    )
}

/// Which archived changes a correlation id left (for journal recovery). Binds: correlation id.
pub fn archive_lookup_sql(d: Dialect, archive: &TableName) -> String {
    format!(
        "SELECT op, symbol, row_key FROM {} WHERE correlation_id = {}",
        archive.quoted(d),
        d.param(1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nexwave() -> Mapping {
        RawMapping {
            preset: Some("nexwave".into()),
            filter: [("strategy_id".to_string(), Word::from("vwm_momentum_1"))].into(),
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn nexwave_preset_selects_with_a_bound_filter() {
        let (sql, binds) = nexwave().select_sql(Dialect::Postgres);
        assert_eq!(
            sql,
            r#"SELECT CAST("id" AS TEXT), CAST("symbol" AS TEXT), CAST("side" AS TEXT), "amount", CAST(EXTRACT(EPOCH FROM "updated_at") * 1000 AS BIGINT), 0 FROM "positions" WHERE CAST("strategy_id" AS TEXT) = $1 ORDER BY "id""#
        );
        assert_eq!(binds, vec!["vwm_momentum_1".to_string()]);
        let (sql, _) = nexwave().select_sql(Dialect::MySql);
        assert!(
            sql.contains("FROM `positions` WHERE CAST(`strategy_id` AS CHAR) = ?"),
            "{sql}"
        );
    }

    #[test]
    fn hostile_identifiers_are_rejected() {
        for bad in [
            "positions; DROP TABLE positions",
            "a\"b",
            "1abc",
            "a b",
            "x`y",
            "",
            "a.b.c",
        ] {
            let raw = RawMapping {
                preset: Some("nexwave".into()),
                table: Some(bad.into()),
                ..Default::default()
            };
            let errs = raw.validate().unwrap_err();
            assert_eq!(errs[0].field, "table", "{bad}");
        }
        let raw = RawMapping {
            preset: Some("nexwave".into()),
            filter: [("x = 1 OR 1".to_string(), Word::from("v"))].into(),
            ..Default::default()
        };
        assert_eq!(raw.validate().unwrap_err()[0].field, "filter.x = 1 OR 1");
    }

    #[test]
    fn a_mapping_stands_for_the_net_leg_unless_it_says_isolated() {
        let with = |leg: Option<Leg>| {
            RawMapping {
                preset: Some("nexwave".into()),
                leg,
                ..Default::default()
            }
            .validate()
        };
        assert_eq!(with(None).unwrap().leg, Leg::Net);
        assert_eq!(with(Some(Leg::Isolated)).unwrap().leg, Leg::Isolated);
        let errs = with(Some(Leg::Long)).unwrap_err();
        assert_eq!(errs[0].field, "leg");
        assert!(errs[0].message.contains("hedge-mode"), "{}", errs[0].message);
        let parsed: RawMapping = serde_yaml::from_str("preset: nexwave\nleg: isolated\n").unwrap();
        assert_eq!(parsed.leg, Some(Leg::Isolated));
    }

    #[test]
    fn every_error_is_collected() {
        let raw = RawMapping {
            preset: Some("nope".into()),
            key_column: Some("bad col".into()),
            ..Default::default()
        };
        let fields: Vec<String> = raw.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec!["preset".to_string()],
            "an unknown preset hides its consequences"
        );
        let raw = RawMapping {
            key_column: Some("bad col".into()),
            ..Default::default()
        };
        let fields: Vec<String> = raw.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert!(fields.contains(&"key_column".to_string()));
        assert!(fields.contains(&"symbol_column".to_string()));
        assert!(fields.contains(&"table".to_string()));
    }

    #[test]
    fn side_words() {
        let m = nexwave();
        assert_eq!(m.side_sign(Some("bid")), Some(1));
        assert_eq!(m.side_sign(Some("short")), Some(-1));
        assert_eq!(m.side_sign(Some("BID")), None);
        assert_eq!(m.side_sign(None), None);
    }

    #[test]
    fn signed_amount_mode_has_no_side_column() {
        let raw = RawMapping {
            table: Some("pos".into()),
            key_column: Some("id".into()),
            symbol_column: Some("sym".into()),
            amount_column: Some("qty".into()),
            signed_amount: true,
            ..Default::default()
        };
        let m = raw.validate().unwrap();
        assert_eq!(m.side, SideMode::SignedAmount);
        assert!(m.select_sql(Dialect::Sqlite).0.contains("NULL"));
        assert_eq!(
            m.update_sql(Dialect::Postgres, 1),
            r#"UPDATE "pos" SET "qty" = CASE "id" WHEN $1 THEN $2 END WHERE "id" IN ($3)"#
        );
    }

    #[test]
    fn write_statements_for_the_nexwave_preset() {
        let m = nexwave();
        assert_eq!(
            m.update_sql(Dialect::Postgres, 2),
            r#"UPDATE "positions" SET "side" = CASE "id" WHEN $1 THEN $2 WHEN $3 THEN $4 END, "amount" = CASE "id" WHEN $5 THEN $6 WHEN $7 THEN $8 END, "updated_at" = CURRENT_TIMESTAMP WHERE "id" IN ($9, $10)"#
        );
        assert_eq!(
            m.delete_sql(Dialect::MySql, 2),
            "DELETE FROM `positions` WHERE `id` IN (?, ?)"
        );
        let (sql, binds) = m.insert_sql(Dialect::Postgres, 2);
        assert_eq!(
            sql,
            r#"INSERT INTO "positions" ("strategy_id", "symbol", "side", "amount", "entry_price", "realized_pnl", "opened_at", "updated_at") VALUES ($1, $2, $3, $4, $5, $6, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), ($7, $8, $9, $10, $11, $12, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"#
        );
        assert_eq!(binds[0].1, InsertValue::Constant("vwm_momentum_1".into()));
        let info = TableInfo {
            columns: vec![("id".into(), ColumnKind::Integer), ("amount".into(), ColumnKind::Float)],
            required: Vec::new(),
        };
        assert_eq!(
            m.lock_rows_sql(Dialect::Postgres, &info, 2),
            r#"SELECT CAST("id" AS TEXT), CAST("amount" AS TEXT), "amount", CAST("id" AS TEXT), CAST("side" AS TEXT), 0 FROM "positions" WHERE "id" IN ($1, $2) AND CAST("strategy_id" AS TEXT) = $3 FOR UPDATE"#
        );
        assert_eq!(
            m.side_word_for(rust_decimal::Decimal::NEGATIVE_ONE).as_deref(),
            Some("ask")
        );
    }

    /// Issue [bots]: Freqtrade's booleans are read the same in every
    /// dialect, a trade with an open order is seen as busy, and a close is
    /// an UPDATE of the columns Freqtrade's own close writes.
    #[test]
    fn the_freqtrade_preset_reads_booleans_and_closes_with_an_update() {
        let m = RawMapping {
            preset: Some("freqtrade".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let (sql, binds) = m.select_sql(Dialect::Sqlite);
        assert_eq!(
            sql,
            r#"SELECT CAST("id" AS TEXT), CAST("pair" AS TEXT), CASE CAST("is_short" AS INTEGER) WHEN 1 THEN 'true' WHEN 0 THEN 'false' END, "amount", NULL, CASE WHEN EXISTS (SELECT 1 FROM "orders" WHERE "orders"."ft_trade_id" = "trades"."id" AND CASE CAST("orders"."ft_is_open" AS INTEGER) WHEN 1 THEN 'true' WHEN 0 THEN 'false' END = 'true') THEN 1 ELSE 0 END FROM "trades" WHERE CASE CAST("is_open" AS INTEGER) WHEN 1 THEN 'true' WHEN 0 THEN 'false' END = ? ORDER BY "id""#
        );
        assert_eq!(binds, vec!["true".to_string()]);
        assert!(m.select_sql(Dialect::MySql).0.contains("CAST(`is_short` AS SIGNED)"));
        assert_eq!(m.side_sign(Some("false")), Some(1));
        assert_eq!(m.side_sign(Some("true")), Some(-1));
        assert_eq!(m.venue_symbol("BTC/USDC:USDC").as_deref(), Some("BTC"));
        assert_eq!(m.venue_symbol("BTC-USDC"), None);
        let info = TableInfo {
            columns: vec![
                ("id".into(), ColumnKind::Integer),
                ("close_date".into(), ColumnKind::Timestamp),
                ("close_rate".into(), ColumnKind::Float),
            ],
            required: Vec::new(),
        };
        assert_eq!(
            m.close_sql(Dialect::Postgres, &info),
            r#"UPDATE "trades" SET "close_date" = CAST($1 AS TIMESTAMP), "close_profit" = ($2 - "open_rate") * "amount" * $3 / NULLIF("amount" * "open_rate", 0) * COALESCE("leverage", 1), "close_profit_abs" = ($4 - "open_rate") * "amount" * $5, "close_rate" = $6, "exit_order_status" = $7, "exit_reason" = $8, "is_open" = $9, "realized_profit" = ($10 - "open_rate") * "amount" * $11 WHERE "id" = $12"#
        );
    }

    #[test]
    fn column_kinds() {
        for (t, k) in [
            ("double precision", ColumnKind::Float),
            ("DOUBLE PRECISION", ColumnKind::Float),
            ("numeric", ColumnKind::Numeric),
            ("bigint", ColumnKind::Integer),
            ("INTEGER", ColumnKind::Integer),
            ("timestamp with time zone", ColumnKind::TimestampTz),
            ("timestamp without time zone", ColumnKind::Timestamp),
            ("boolean", ColumnKind::Boolean),
            ("BOOLEAN", ColumnKind::Boolean),
            ("datetime", ColumnKind::Timestamp),
            ("text", ColumnKind::Text),
            ("character varying", ColumnKind::Text),
            ("json", ColumnKind::Other),
        ] {
            assert_eq!(ColumnKind::from_sql_type(t), k, "{t}");
        }
    }
}
