//! How a bot's positions table maps onto driftwatch's view: which table,
//! which columns, which words mean long and short, which rows belong to the
//! watched account. Pure: validation and SQL text only.
//!
//! Identifiers from config are checked against a strict pattern and then
//! quoted for the dialect, and filter values are bound as parameters, so a
//! mapping can never inject SQL.

use std::collections::BTreeMap;

use serde::Deserialize;

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

/// How the side of a row is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideMode {
    /// A side column with words for long and short; the amount is positive.
    /// The first word of each list is the one driftwatch writes.
    Column {
        column: Ident,
        long: Vec<String>,
        short: Vec<String>,
    },
    /// No side column: the amount is signed (negative is short).
    SignedAmount,
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
    pub filter: Vec<(Ident, String)>,
    /// Database symbol → venue symbol, for bots that spell symbols differently.
    pub symbols: BTreeMap<String, String>,
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
    pub long_values: Option<Vec<String>>,
    pub short_values: Option<Vec<String>>,
    /// The amount column is signed and there is no side column.
    #[serde(default)]
    pub signed_amount: bool,
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    #[serde(default)]
    pub symbols: BTreeMap<String, String>,
    pub updated_at_column: Option<String>,
    pub entry_price_column: Option<String>,
    #[serde(default)]
    pub insert_values: BTreeMap<String, String>,
    pub insert_timestamp_columns: Option<Vec<String>>,
    /// `net` (default) or `isolated`.
    pub leg: Option<Leg>,
}

/// The presets. `nexwave` is shared/botdb/nexwave_positions.sql, unchanged:
/// the bot writes the exchange's words `bid`/`ask`, its model comment says
/// `long`/`short`, so both are read; `bid`/`ask` are written.
fn preset(name: &str) -> Option<RawMapping> {
    match name {
        "nexwave" => Some(RawMapping {
            preset: None,
            table: Some("positions".into()),
            key_column: Some("id".into()),
            symbol_column: Some("symbol".into()),
            side_column: Some("side".into()),
            amount_column: Some("amount".into()),
            long_values: Some(vec!["bid".into(), "long".into()]),
            short_values: Some(vec!["ask".into(), "short".into()]),
            signed_amount: false,
            filter: BTreeMap::new(),
            symbols: BTreeMap::new(),
            updated_at_column: Some("updated_at".into()),
            entry_price_column: Some("entry_price".into()),
            // realized_pnl has no server default (only a Python-side one).
            insert_values: [("realized_pnl".to_string(), "0".to_string())].into(),
            insert_timestamp_columns: Some(vec!["opened_at".into(), "updated_at".into()]),
            leg: None,
        }),
        _ => None,
    }
}

/// The names of the presets, for error messages.
pub const PRESETS: &[&str] = &["nexwave"];

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
            column.map(|column| SideMode::Column { column, long, short })
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
        for (column, value) in &self.filter {
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
                    symbols: self.symbols.clone(),
                    updated_at_column,
                    entry_price_column,
                    insert_values,
                    insert_timestamp_columns,
                    leg,
                })
            }
            _ => Err(errors),
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
        let side = match &self.side {
            SideMode::Column { column, .. } => format!("CAST({} AS {})", d.quote(column), d.text_type()),
            SideMode::SignedAmount => "NULL".to_owned(),
        };
        let updated = match &self.updated_at_column {
            Some(c) => d.epoch_ms(&d.quote(c)),
            None => d.null_int().to_owned(),
        };
        let mut sql = format!(
            "SELECT CAST({key} AS {t}), CAST({sym} AS {t}), {side}, {amount}, {updated} FROM {table}",
            key = d.quote(&self.key_column),
            sym = d.quote(&self.symbol_column),
            t = d.text_type(),
            amount = d.quote(&self.amount_column),
            table = self.table.quoted(d),
        );
        let mut binds = Vec::new();
        for (i, (column, value)) in self.filter.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            sql.push_str(&format!(
                "CAST({} AS {}) = {}",
                d.quote(column),
                d.text_type(),
                d.param(i + 1)
            ));
            binds.push(value.clone());
        }
        sql.push_str(&format!(" ORDER BY {}", d.quote(&self.key_column)));
        (sql, binds)
    }

    /// The venue symbol for a database symbol.
    pub fn venue_symbol<'a>(&'a self, db_symbol: &'a str) -> &'a str {
        self.symbols.get(db_symbol).map_or(db_symbol, String::as_str)
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
    Text,
    Timestamp,
    Other,
}

impl ColumnKind {
    /// Classifies a type name from `information_schema` or SQLite's `PRAGMA table_info`.
    pub fn from_sql_type(t: &str) -> ColumnKind {
        let t = t.to_ascii_lowercase();
        if t.contains("double") || t.contains("float") || t.contains("real") {
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
}

impl TableInfo {
    pub fn kind(&self, column: &Ident) -> Option<ColumnKind> {
        self.columns.iter().find(|(c, _)| c == column.as_str()).map(|(_, k)| *k)
    }
}

/// Where a bound value of an INSERT comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertValue {
    Constant(String),
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

impl Dialect {
    /// Lists a table's columns and types; binds: table name (and schema).
    pub fn introspect_sql(self, table: &TableName) -> (String, Vec<String>) {
        let mut binds = vec![table.table.as_str().to_owned()];
        let sql = match (self, &table.schema) {
            (Dialect::Postgres, None) => {
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = current_schema() ORDER BY ordinal_position"
                    .to_owned()
            }
            (Dialect::Postgres, Some(s)) => {
                binds.push(s.as_str().to_owned());
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = $2 ORDER BY ordinal_position"
                    .to_owned()
            }
            (Dialect::MySql, None) => {
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR) FROM information_schema.columns \
                 WHERE table_name = ? AND table_schema = DATABASE() ORDER BY ordinal_position"
                    .to_owned()
            }
            (Dialect::MySql, Some(s)) => {
                binds.push(s.as_str().to_owned());
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR) FROM information_schema.columns \
                 WHERE table_name = ? AND table_schema = ? ORDER BY ordinal_position"
                    .to_owned()
            }
            (Dialect::Sqlite, None) => "SELECT name, type FROM pragma_table_info(?)".to_owned(),
            (Dialect::Sqlite, Some(s)) => {
                binds.push(s.as_str().to_owned());
                "SELECT name, type FROM pragma_table_info(?, ?)".to_owned()
            }
        };
        (sql, binds)
    }
}

impl Mapping {
    fn filter_sql(&self, d: Dialect, p: &mut Params) -> String {
        self.filter
            .iter()
            .map(|(c, _)| format!(" AND CAST({} AS {}) = {}", d.quote(c), d.text_type(), p.next()))
            .collect()
    }

    /// Reads `n` rows for conditional writes, locking them where the dialect
    /// can: every column as text (for the archive), then the amount in its
    /// own type (for the exact comparison), then the key as text (to match
    /// rows to corrections). Binds: `n` keys, then the filter values.
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
            "SELECT {}, {}, CAST({key} AS {t}) FROM {} WHERE {key} IN ({}){filter}{lock}",
            cols.join(", "),
            d.quote(&self.amount_column),
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
                binds.push((c.clone(), InsertValue::Constant(v.clone())));
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

    /// The database symbol for a venue symbol (the mapping's `symbols`, reversed).
    pub fn db_symbol<'a>(&'a self, venue_symbol: &'a str) -> &'a str {
        self.symbols
            .iter()
            .find(|(_, v)| v.as_str() == venue_symbol)
            .map_or(venue_symbol, |(k, _)| k.as_str())
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
            filter: [("strategy_id".to_string(), "vwm_momentum_1".to_string())].into(),
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
            r#"SELECT CAST("id" AS TEXT), CAST("symbol" AS TEXT), CAST("side" AS TEXT), "amount", CAST(EXTRACT(EPOCH FROM "updated_at") * 1000 AS BIGINT) FROM "positions" WHERE CAST("strategy_id" AS TEXT) = $1 ORDER BY "id""#
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
            filter: [("x = 1 OR 1".to_string(), "v".to_string())].into(),
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
        };
        assert_eq!(
            m.lock_rows_sql(Dialect::Postgres, &info, 2),
            r#"SELECT CAST("id" AS TEXT), CAST("amount" AS TEXT), "amount", CAST("id" AS TEXT) FROM "positions" WHERE "id" IN ($1, $2) AND CAST("strategy_id" AS TEXT) = $3 FOR UPDATE"#
        );
        assert_eq!(
            m.side_word_for(rust_decimal::Decimal::NEGATIVE_ONE).as_deref(),
            Some("ask")
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
            ("timestamp with time zone", ColumnKind::Timestamp),
            ("datetime", ColumnKind::Timestamp),
            ("text", ColumnKind::Text),
            ("character varying", ColumnKind::Text),
            ("json", ColumnKind::Other),
        ] {
            assert_eq!(ColumnKind::from_sql_type(t), k, "{t}");
        }
    }
}
