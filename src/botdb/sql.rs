//! The SQL text of every read and write of the bot's table, per dialect,
//! from a validated [`Mapping`]: the positions read, the locked re-read,
//! deletes, updates, closes, inserts, introspection and the archive. Pure.

use super::mapping::{Mapping, OnStale, SetValue, SideMode};
use super::names::{Dialect, Ident, TableName};
use super::raw::Word;

/// A column compared with a config word: booleans by value, anything
/// else as text.
fn compared(d: Dialect, column: &Ident, word: &Word) -> String {
    if word.is_bool() {
        d.bool_text(&d.quote(column))
    } else {
        format!("CAST({} AS {})", d.quote(column), d.text_type())
    }
}

/// A column as compared with bound text: bare when it is a text column (the
/// comparison is the same, and an index on it can serve it; a cast would make
/// MySQL and SQLite scan the table), cast to text otherwise.
fn as_text(d: Dialect, info: &TableInfo, column: &Ident) -> String {
    if info.kind(column) == Some(ColumnKind::Text) {
        d.quote(column)
    } else {
        format!("CAST({} AS {})", d.quote(column), d.text_type())
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

    /// `n` values an expression is compared with: ` IN (?, …)` on MySQL and
    /// SQLite; on PostgreSQL ` = ANY($k)`, one array parameter holding all
    /// of them ([`binds_arrays`]): a 1,000-value list is one value to bind,
    /// not 1,000 parameters to parse, type and plan.
    fn one_of(&mut self, n: usize) -> String {
        if binds_arrays(self.d) {
            format!(" = ANY({})", self.next())
        } else {
            format!(" IN ({})", (0..n).map(|_| self.next()).collect::<Vec<_>>().join(", "))
        }
    }
}

/// Whether a dialect's lists and batches are bound as arrays, one per
/// column (PostgreSQL), rather than as one parameter per value.
pub fn binds_arrays(d: Dialect) -> bool {
    d == Dialect::Postgres
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
            sql.push_str(&format!("{} = {}", compared(d, column, value), d.param(i + 1)));
            binds.push(value.text());
        }
        sql.push_str(&format!(" ORDER BY {}", d.quote(&self.key_column)));
        (sql, binds)
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

    /// The filter as further conditions, text columns bare ([`as_text`]) so
    /// the bot's `(strategy, symbol)` index serves the lookup.
    fn filter_sql(&self, d: Dialect, info: &TableInfo, p: &mut Params) -> String {
        self.filter
            .iter()
            .map(|(c, w)| {
                let column = if w.is_bool() {
                    compared(d, c, w)
                } else {
                    as_text(d, info, c)
                };
                format!(" AND {column} = {}", p.next())
            })
            .collect()
    }

    /// Reads `n` rows for conditional writes, locking them where the dialect
    /// can: every column as text (for the archive), then the amount in its
    /// own type (for the exact comparison), then the key as text (to match
    /// rows to corrections), then the side as its words are compared.
    /// Binds: `n` keys (one array on PostgreSQL), then the filter values.
    pub fn lock_rows_sql(&self, d: Dialect, info: &TableInfo, n: usize) -> String {
        let t = d.text_type();
        let cols: Vec<String> = info
            .columns
            .iter()
            .map(|(c, _)| format!("CAST({} AS {t})", d.quote(&Ident::from_catalog(c))))
            .collect();
        let mut p = Params { d, n: 0 };
        let keys = p.one_of(n);
        let filter = self.filter_sql(d, info, &mut p);
        let lock = if d == Dialect::Sqlite { "" } else { " FOR UPDATE" };
        format!(
            "SELECT {}, {}, CAST({key} AS {t}), {}, {} FROM {} WHERE {key}{keys}{filter}{lock}",
            cols.join(", "),
            d.quote(&self.amount_column),
            self.side_sql(d),
            self.busy_sql(d),
            self.table.quoted(d),
            key = d.quote(&self.key_column),
        )
    }

    /// Which of `n` symbols already have a row (before inserts). Binds: `n`
    /// symbols (one array on PostgreSQL), then the filter values.
    pub fn existing_symbols_sql(&self, d: Dialect, info: &TableInfo, n: usize) -> String {
        let mut p = Params { d, n: 0 };
        let syms = p.one_of(n);
        let filter = self.filter_sql(d, info, &mut p);
        let lock = if d == Dialect::Sqlite { "" } else { " FOR UPDATE" };
        let sym = format!("CAST({} AS {})", d.quote(&self.symbol_column), d.text_type());
        let compared = as_text(d, info, &self.symbol_column);
        format!(
            "SELECT {sym} FROM {} WHERE {compared}{syms}{filter}{lock}",
            self.table.quoted(d),
        )
    }

    /// Binds: `n` keys (one array on PostgreSQL).
    pub fn delete_sql(&self, d: Dialect, n: usize) -> String {
        let mut p = Params { d, n: 0 };
        format!(
            "DELETE FROM {} WHERE {}{}",
            self.table.quoted(d),
            d.quote(&self.key_column),
            p.one_of(n)
        )
    }

    /// Updates `n` rows in one statement. Binds on PostgreSQL, one array
    /// each: the keys, the side words (with a side column), the amounts.
    /// Elsewhere: with a side column, `n` (key, side word) pairs; then `n`
    /// (key, amount) pairs; then `n` keys.
    pub fn update_sql(&self, d: Dialect, n: usize) -> String {
        let mut p = Params { d, n: 0 };
        let key = d.quote(&self.key_column);
        if binds_arrays(d) {
            let side = match &self.side {
                SideMode::Column { column, .. } => Some(d.quote(column)),
                SideMode::SignedAmount => None,
            };
            let mut sets = Vec::new();
            let mut arrays = vec![p.next()];
            let mut names = vec!["k"];
            if let Some(side) = side {
                sets.push(format!("{side} = u.s"));
                arrays.push(p.next());
                names.push("s");
            }
            sets.push(format!("{} = u.a", d.quote(&self.amount_column)));
            arrays.push(p.next());
            names.push("a");
            if let Some(c) = &self.updated_at_column {
                sets.push(format!("{} = CURRENT_TIMESTAMP", d.quote(c)));
            }
            return format!(
                "UPDATE {} AS t SET {} FROM UNNEST({}) AS u({}) WHERE t.{key} = u.k",
                self.table.quoted(d),
                sets.join(", "),
                arrays.join(", "),
                names.join(", "),
            );
        }
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

/// The archive rows of `n` changes. Binds, all text: correlation_id, op,
/// venue, account, symbol, source_table, row_key, before_row, after_row,
/// reason, evidence; per row, or on PostgreSQL one array per column.
pub fn archive_insert_sql(d: Dialect, archive: &TableName, n: usize) -> String {
    let mut p = Params { d, n: 0 };
    if binds_arrays(d) {
        let arrays: Vec<String> = (0..ARCHIVE_BINDS).map(|_| format!("{}::text[]", p.next())).collect();
        return format!(
            "INSERT INTO {} ({ARCHIVE_COLUMNS}) SELECT * FROM UNNEST({})",
            archive.quoted(d),
            arrays.join(", ")
        );
    }
    let rows: Vec<String> = (0..n)
        .map(|_| {
            format!(
                "({})",
                (0..ARCHIVE_BINDS).map(|_| p.next()).collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    format!(
        "INSERT INTO {} ({ARCHIVE_COLUMNS}) VALUES {}",
        archive.quoted(d),
        rows.join(", ")
    )
}

/// The archive columns driftwatch writes, in bind order.
const ARCHIVE_COLUMNS: &str =
    "correlation_id, op, venue, account, symbol, source_table, row_key, before_row, after_row, reason, evidence";

/// Values in one archive row (the columns [`archive_insert_sql`] writes).
pub const ARCHIVE_BINDS: usize = 11;

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
    use crate::botdb::raw::RawMapping;
    use crate::domain::Leg;

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
    fn a_mapping_stands_for_the_net_leg_unless_it_says_isolated_or_by_side() {
        use crate::botdb::raw::RawLeg;
        use crate::domain::RowLegs;
        let with = |leg: Option<RawLeg>| {
            RawMapping {
                preset: Some("nexwave".into()),
                leg,
                ..Default::default()
            }
            .validate()
        };
        assert_eq!(with(None).unwrap().leg, RowLegs::One(Leg::Net));
        assert_eq!(with(Some(RawLeg::Isolated)).unwrap().leg, RowLegs::One(Leg::Isolated));
        assert_eq!(with(Some(RawLeg::BySide)).unwrap().leg, RowLegs::BySide);
        let errs = with(Some(RawLeg::Long)).unwrap_err();
        assert_eq!(errs[0].field, "leg");
        assert!(errs[0].message.contains("by_side"), "{}", errs[0].message);
        let parsed: RawMapping = serde_yaml::from_str("preset: nexwave\nleg: by_side\n").unwrap();
        assert_eq!(parsed.leg, Some(RawLeg::BySide));
        // A signed amount cannot say which hedge leg a row stands for.
        let signed = RawMapping {
            table: Some("p".into()),
            key_column: Some("id".into()),
            symbol_column: Some("s".into()),
            amount_column: Some("q".into()),
            signed_amount: true,
            leg: Some(RawLeg::BySide),
            ..Default::default()
        };
        assert_eq!(signed.validate().unwrap_err()[0].field, "leg");
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
            m.update_sql(Dialect::Sqlite, 1),
            r#"UPDATE "pos" SET "qty" = CASE "id" WHEN ? THEN ? END WHERE "id" IN (?)"#
        );
        assert_eq!(
            m.update_sql(Dialect::Postgres, 1),
            r#"UPDATE "pos" AS t SET "qty" = u.a FROM UNNEST($1, $2) AS u(k, a) WHERE t."id" = u.k"#
        );
    }

    #[test]
    fn write_statements_for_the_nexwave_preset() {
        let m = nexwave();
        assert_eq!(
            m.update_sql(Dialect::MySql, 2),
            "UPDATE `positions` SET `side` = CASE `id` WHEN ? THEN ? WHEN ? THEN ? END, `amount` = CASE `id` WHEN ? THEN ? WHEN ? THEN ? END, `updated_at` = CURRENT_TIMESTAMP WHERE `id` IN (?, ?)"
        );
        // PostgreSQL takes each column of a batch as one array.
        assert_eq!(
            m.update_sql(Dialect::Postgres, 2),
            r#"UPDATE "positions" AS t SET "side" = u.s, "amount" = u.a, "updated_at" = CURRENT_TIMESTAMP FROM UNNEST($1, $2, $3) AS u(k, s, a) WHERE t."id" = u.k"#
        );
        assert_eq!(
            m.delete_sql(Dialect::MySql, 2),
            "DELETE FROM `positions` WHERE `id` IN (?, ?)"
        );
        assert_eq!(
            m.delete_sql(Dialect::Postgres, 1000),
            r#"DELETE FROM "positions" WHERE "id" = ANY($1)"#
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
            r#"SELECT CAST("id" AS TEXT), CAST("amount" AS TEXT), "amount", CAST("id" AS TEXT), CAST("side" AS TEXT), 0 FROM "positions" WHERE "id" = ANY($1) AND CAST("strategy_id" AS TEXT) = $2 FOR UPDATE"#
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
