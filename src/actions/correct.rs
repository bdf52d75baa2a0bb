//! Carries out a correction plan on the bot's database: one transaction per
//! cycle, every changed row archived first, every write conditional on the
//! row still holding what was read.
//!
//! Per correction, inside the transaction:
//! - update/delete: the row is read again (`FOR UPDATE`; on SQLite the
//!   transaction is `BEGIN IMMEDIATE`, holding the write lock from the start) and compared with the values the plan was made from; a row the
//!   bot changed meanwhile is left alone ([`RowOutcome::Moved`]); otherwise
//!   its full contents go to the archive table, then it is changed;
//! - create: if a row for the symbol appeared meanwhile, nothing is
//!   inserted; otherwise the archive row, then the insert.
//!
//! Any error rolls the whole cycle back: the table is exactly as before and
//! the archive holds nothing of it. Cancel-safety: dropping the future drops
//! the transaction, which rolls back.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use sqlx::mysql::MySqlArguments;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::{MySql, Postgres, Row, Sqlite};

use crate::botdb::mapping::{Mapping, OnStale, SetValue, SideMode};
use crate::botdb::names::{Dialect, TableName};
use crate::botdb::raw::Word;
use crate::botdb::sql::{
    archive_ddl, archive_insert_sql, archive_lookup_sql, binds_arrays, ColumnKind, InsertValue, TableInfo,
    ARCHIVE_BINDS,
};
use crate::botdb::{mysql_amount, pg_amount, sqlite_amount, BotDb, DbError};
use crate::plan::{Correction, Op};

/// What happened to one planned correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOutcome {
    Applied,
    /// The row no longer held the values read (or appeared, for a create):
    /// the bot wrote in between; left alone, looked at again next cycle.
    Moved,
}

/// Who is correcting, for the archive rows.
pub struct Context<'a> {
    pub venue: &'a str,
    pub account: &'a str,
    pub mapping: &'a Mapping,
    pub info: &'a TableInfo,
    pub archive: &'a TableName,
    pub correlation_id: &'a str,
    /// When the cycle runs: what a close writes for `{now}`.
    pub now: crate::domain::Timestamp,
}

/// A value to bind, typed for its column.
#[derive(Debug, Clone)]
enum Bind {
    F64(f64),
    Dec(Decimal),
    I64(i64),
    Bool(bool),
    Text(String),
}

/// The longest a cycle waits for a lock the bot holds: then it fails (rolled
/// back whole, retried after a back-off), and the bot is never kept waiting
/// long behind driftwatch's own row locks either.
pub const LOCK_WAIT_SECS: u32 = 5;

/// Bounds lock waits inside a correction's transaction. SQLite's is the
/// driver's busy timeout (5 s by default).
fn lock_wait_sql(d: Dialect) -> Option<&'static str> {
    const _: () = assert!(LOCK_WAIT_SECS == 5, "the statements below say 5 s");
    match d {
        Dialect::Postgres => Some("SET LOCAL lock_timeout = '5s'"),
        Dialect::MySql => Some("SET SESSION innodb_lock_wait_timeout = 5"),
        Dialect::Sqlite => None,
    }
}

fn sql(e: sqlx::Error) -> DbError {
    DbError::Sql(e.to_string())
}

/// Types `value` (a decimal or text as written in config or computed) for
/// a column of `kind`. SQLite has no decimal type: it gets text, which its
/// column affinity converts.
fn typed(kind: Option<ColumnKind>, dialect: Dialect, value: &str) -> Result<Bind, DbError> {
    let bad = |what: &str| DbError::Sql(format!("cannot write {value:?} to a {what} column"));
    match kind.unwrap_or(ColumnKind::Text) {
        ColumnKind::Float => value.parse::<f64>().map(Bind::F64).map_err(|_| bad("float")),
        ColumnKind::Numeric if dialect == Dialect::Sqlite => Ok(Bind::Text(value.to_owned())),
        ColumnKind::Numeric => value.parse::<Decimal>().map(Bind::Dec).map_err(|_| bad("numeric")),
        ColumnKind::Integer => value.parse::<i64>().map(Bind::I64).map_err(|_| bad("integer")),
        ColumnKind::Boolean => match value {
            "true" => Ok(Bind::Bool(true)),
            "false" => Ok(Bind::Bool(false)),
            _ => Err(bad("boolean")),
        },
        ColumnKind::Text | ColumnKind::Timestamp | ColumnKind::TimestampTz | ColumnKind::Other => {
            Ok(Bind::Text(value.to_owned()))
        }
    }
}

/// A config word for a column of `kind`: a boolean as the column stores
/// one (an integer column takes 0/1), anything else as [`typed`] says.
fn typed_word(kind: Option<ColumnKind>, dialect: Dialect, w: &Word) -> Result<Bind, DbError> {
    match (w, kind) {
        (Word::Bool(b), Some(ColumnKind::Integer)) => Ok(Bind::I64(i64::from(*b))),
        (Word::Bool(b), _) => Ok(Bind::Bool(*b)),
        (w, k) => typed(k, dialect, &w.text()),
    }
}

/// The side word driftwatch writes, typed for a boolean column.
fn side_bind(m: &Mapping, kind: Option<ColumnKind>, dialect: Dialect, word: &str) -> Result<Bind, DbError> {
    match &m.side {
        SideMode::Column { boolean: true, .. } => typed_word(kind, dialect, &Word::Bool(word == "true")),
        _ => Ok(Bind::Text(word.to_owned())),
    }
}

/// `now` as UTC text a timestamp column takes in every dialect
/// (`YYYY-MM-DD HH:MM:SS.mmm`; with `+00:00` for a zoned column).
fn timestamp_text(now: crate::domain::Timestamp, kind: Option<ColumnKind>) -> String {
    let iso = now.to_utc_string();
    let naive = iso.trim_end_matches('Z').replacen('T', " ", 1);
    if kind == Some(ColumnKind::TimestampTz) {
        format!("{naive}+00:00")
    } else {
        naive
    }
}

fn decimal_text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// An amount for a float column goes through `Decimal::to_f64`, the one
/// conversion back to float, at the edge; others as decimal text.
fn typed_amount(kind: Option<ColumnKind>, dialect: Dialect, d: Decimal) -> Result<Bind, DbError> {
    match kind {
        Some(ColumnKind::Float) => d
            .to_f64()
            .map(Bind::F64)
            .ok_or_else(|| DbError::Sql(format!("{d} does not fit a float"))),
        k => typed(k, dialect, &decimal_text(d)),
    }
}

fn bind_pg(q: Query<'_, Postgres, PgArguments>, b: Bind) -> Query<'_, Postgres, PgArguments> {
    match b {
        Bind::F64(v) => q.bind(v),
        Bind::Dec(v) => q.bind(v),
        Bind::I64(v) => q.bind(v),
        Bind::Bool(v) => q.bind(v),
        Bind::Text(v) => q.bind(v),
    }
}

fn bind_my(q: Query<'_, MySql, MySqlArguments>, b: Bind) -> Query<'_, MySql, MySqlArguments> {
    match b {
        Bind::F64(v) => q.bind(v),
        Bind::Dec(v) => q.bind(v),
        Bind::I64(v) => q.bind(v),
        Bind::Bool(v) => q.bind(v),
        Bind::Text(v) => q.bind(v),
    }
}

fn bind_lite<'q>(q: Query<'q, Sqlite, SqliteArguments<'q>>, b: Bind) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    match b {
        Bind::F64(v) => q.bind(v),
        Bind::Dec(v) => q.bind(v.to_string()),
        Bind::I64(v) => q.bind(v),
        Bind::Bool(v) => q.bind(v),
        Bind::Text(v) => q.bind(v),
    }
}

/// The values of one list, all of one column's type, as one PostgreSQL
/// array ([`binds_arrays`]).
fn bind_pg_list(
    q: Query<'_, Postgres, PgArguments>,
    binds: Vec<Bind>,
) -> Result<Query<'_, Postgres, PgArguments>, DbError> {
    fn all<T>(binds: Vec<Bind>, f: impl Fn(Bind) -> Option<T>) -> Result<Vec<T>, DbError> {
        binds
            .into_iter()
            .map(f)
            .collect::<Option<Vec<T>>>()
            .ok_or_else(|| DbError::Sql("a list of values of more than one type".into()))
    }
    Ok(match binds.first() {
        Some(Bind::F64(_)) => q.bind(all(binds, |b| if let Bind::F64(v) = b { Some(v) } else { None })?),
        Some(Bind::Dec(_)) => q.bind(all(binds, |b| if let Bind::Dec(v) = b { Some(v) } else { None })?),
        Some(Bind::I64(_)) => q.bind(all(binds, |b| if let Bind::I64(v) = b { Some(v) } else { None })?),
        Some(Bind::Bool(_)) => q.bind(all(binds, |b| if let Bind::Bool(v) = b { Some(v) } else { None })?),
        Some(Bind::Text(_)) | None => q.bind(all(binds, |b| if let Bind::Text(v) = b { Some(v) } else { None })?),
    })
}

fn bind_my_list(
    q: Query<'_, MySql, MySqlArguments>,
    binds: Vec<Bind>,
) -> Result<Query<'_, MySql, MySqlArguments>, DbError> {
    Ok(binds.into_iter().fold(q, bind_my))
}

fn bind_lite_list<'q>(
    q: Query<'q, Sqlite, SqliteArguments<'q>>,
    binds: Vec<Bind>,
) -> Result<Query<'q, Sqlite, SqliteArguments<'q>>, DbError> {
    Ok(binds.into_iter().fold(q, bind_lite))
}

/// One archive row's values, in [`archive_insert_sql`]'s order.
type ArchiveRow = [Option<String>; ARCHIVE_BINDS];

/// Archive rows as PostgreSQL takes them: one text array per column.
fn bind_pg_rows(q: Query<'_, Postgres, PgArguments>, rows: Vec<ArchiveRow>) -> Query<'_, Postgres, PgArguments> {
    let mut columns: [Vec<Option<String>>; ARCHIVE_BINDS] = Default::default();
    for row in rows {
        for (column, v) in columns.iter_mut().zip(row) {
            column.push(v);
        }
    }
    columns.into_iter().fold(q, |q, c| q.bind(c))
}

fn bind_my_rows(q: Query<'_, MySql, MySqlArguments>, rows: Vec<ArchiveRow>) -> Query<'_, MySql, MySqlArguments> {
    rows.into_iter().flatten().fold(q, |q, v| q.bind(v))
}

fn bind_lite_rows<'q>(
    q: Query<'q, Sqlite, SqliteArguments<'q>>,
    rows: Vec<ArchiveRow>,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    rows.into_iter().flatten().fold(q, |q, v| q.bind(v))
}

/// One correction's values, typed before the transaction starts.
struct Prepared {
    /// The row key, typed for the key column (updates and deletes).
    key: Option<Bind>,
    key_text: Option<String>,
    /// Update: side word and amount. Create: the INSERT's row binds.
    /// Close: the close set's binds.
    side: Option<Bind>,
    amount: Option<Bind>,
    insert: Vec<Bind>,
    db_symbol: String,
    after: Value,
}

fn prepare(ctx: &Context<'_>, d: Dialect, c: &Correction) -> Result<Prepared, DbError> {
    let m = ctx.mapping;
    let key_kind = ctx.info.kind(&m.key_column);
    let amount_kind = ctx.info.kind(&m.amount_column);
    let target = c.target.unwrap_or(Decimal::ZERO);
    let word = m.side_word_for(target);
    let side_kind = match &m.side {
        SideMode::Column { column, .. } => ctx.info.kind(column),
        SideMode::SignedAmount => None,
    };
    let side = word.as_deref().map(|w| side_bind(m, side_kind, d, w)).transpose()?;
    let amount = if word.is_some() { target.abs() } else { target };
    let spelt = m.db_symbol(&c.key.symbol);
    let db_symbol = spelt.clone().unwrap_or_else(|| c.key.symbol.to_string());
    match c.op {
        Op::Closed => {
            let row = c
                .row
                .as_ref()
                .ok_or_else(|| DbError::Sql("a planned close without its row".into()))?;
            let OnStale::Close(set) = &m.on_stale else {
                return Err(DbError::Sql("a planned close for a mapping without close_set".into()));
            };
            let mut binds = Vec::new();
            let mut after = Map::new();
            for (column, v) in set {
                let kind = ctx.info.kind(column);
                let (bind, shown) = match v {
                    SetValue::Literal(w) => (typed_word(kind, d, w)?, w.text()),
                    SetValue::Now => {
                        let t = timestamp_text(ctx.now, kind);
                        (Bind::Text(t.clone()), t)
                    }
                    SetValue::MarkPrice | SetValue::Pnl | SetValue::PnlRatio => {
                        let p = c
                            .mark_price
                            .ok_or_else(|| DbError::Sql(format!("no mark price for {}: not closed", c.key)))?;
                        let bind = typed_amount(kind, d, p)?;
                        if *v != SetValue::MarkPrice {
                            // The row's sign, then the SQL computes the rest from its columns.
                            binds.push(bind);
                            let sign = if row.size.is_sign_negative() { -1 } else { 1 };
                            let what = if *v == SetValue::Pnl { "pnl" } else { "pnl_ratio" };
                            after.insert(
                                column.as_str().to_owned(),
                                Value::String(format!("{what} at {}", decimal_text(p))),
                            );
                            binds.push(Bind::I64(sign));
                            continue;
                        }
                        (bind, decimal_text(p))
                    }
                };
                binds.push(bind);
                after.insert(column.as_str().to_owned(), Value::String(shown));
            }
            Ok(Prepared {
                key: Some(typed(ctx.info.kind(&m.key_column), d, &row.row_key)?),
                key_text: Some(row.row_key.clone()),
                side: None,
                amount: None,
                insert: binds,
                db_symbol,
                after: Value::Object(after),
            })
        }
        Op::Deleted | Op::Updated => {
            let row = c
                .row
                .as_ref()
                .ok_or_else(|| DbError::Sql("a planned update or delete without its row".into()))?;
            let mut after = Map::new();
            if c.op == Op::Updated {
                if let Some(w) = &word {
                    after.insert("side".into(), Value::String(w.clone()));
                }
                after.insert("amount".into(), Value::String(decimal_text(amount)));
            }
            Ok(Prepared {
                key: Some(typed(key_kind, d, &row.row_key)?),
                key_text: Some(row.row_key.clone()),
                side,
                amount: Some(typed_amount(amount_kind, d, m.scale_up(amount))?),
                insert: Vec::new(),
                db_symbol,
                after: if c.op == Op::Updated {
                    Value::Object(after)
                } else {
                    Value::Null
                },
            })
        }
        Op::Created => {
            if spelt.is_none() {
                return Err(DbError::Sql(format!(
                    "the mapping cannot spell {} in the bot's table (a symbol_regex reads, it does not write): \
                     add a symbol_pattern or a symbols entry",
                    c.key.symbol
                )));
            }
            let (_, columns) = m.insert_sql(d, 1);
            let mut insert = Vec::new();
            let mut after = Map::new();
            for (column, source) in columns {
                let kind = ctx.info.kind(&column);
                let (bind, shown) = match source {
                    InsertValue::Constant(v) => (typed_word(kind, d, &v)?, v.text()),
                    InsertValue::Symbol => (Bind::Text(db_symbol.clone()), db_symbol.clone()),
                    InsertValue::Side => {
                        let w = word.clone().unwrap_or_default();
                        (side_bind(m, kind, d, &w)?, w)
                    }
                    InsertValue::Amount => (typed_amount(kind, d, m.scale_up(amount))?, decimal_text(amount)),
                    InsertValue::EntryPrice => {
                        let p = c.entry_price.unwrap_or(Decimal::ZERO);
                        (typed_amount(kind, d, p)?, decimal_text(p))
                    }
                };
                insert.push(bind);
                after.insert(column.as_str().to_owned(), Value::String(shown));
            }
            Ok(Prepared {
                key: None,
                key_text: None,
                side,
                amount: None,
                insert,
                db_symbol,
                after: Value::Object(after),
            })
        }
    }
}

/// Rows per statement: a 1,000-row cycle is one statement per step. Below
/// every dialect's parameter limit (SQLite's default is 32,766; an archive
/// row takes eleven parameters, an update five).
const CHUNK: usize = 1000;

macro_rules! run_cycle {
    ($pool:expr, $bind:ident, $list:ident, $rows:ident, $amount:ident, $d:expr, $ctx:expr, $corrections:expr) => {{
        let ctx = $ctx;
        let d = $d;
        let m = ctx.mapping;
        let corrections: &[Correction] = $corrections;
        // PostgreSQL switches a named prepared statement to a generic plan
        // after five runs; for `key IN ($1 … $250)` on a long-lived pool that
        // plan made a cycle 1.9x slower (BENCHMARKS.md). Unnamed statements
        // are planned for their values every time.
        let keep = d != Dialect::Postgres;
        // Everything is typed before the transaction starts.
        let prepared: Vec<Prepared> = corrections
            .iter()
            .map(|c| prepare(ctx, d, c))
            .collect::<Result<_, _>>()?;
        let filters: Vec<Bind> = m.filter_binds().into_iter().map(Bind::Text).collect();
        let ncols = ctx.info.columns.len();
        let with_row: Vec<usize> = (0..corrections.len())
            .filter(|i| corrections[*i].op != Op::Created)
            .collect();
        let creates: Vec<usize> = (0..corrections.len())
            .filter(|i| corrections[*i].op == Op::Created)
            .collect();

        // SQLite has no FOR UPDATE: the write lock is taken before the
        // re-read (BEGIN IMMEDIATE), so the bot cannot change a row between
        // the comparison and the write.
        let mut tx = if d == Dialect::Sqlite {
            $pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            $pool.begin().await
        }
        .map_err(sql)?;
        if let Some(q) = lock_wait_sql(d) {
            sqlx::query(q).execute(&mut *tx).await.map_err(sql)?;
        }

        // 1. Re-read (and lock) every row to change, and every symbol to insert.
        // Per row key: every column as text, the amount, the side as
        // compared, and whether the bot has an order open on it now.
        let key = |i: usize| prepared[i].key.clone().expect("rows have keys");
        let side = |i: usize| prepared[i].side.clone().unwrap_or(Bind::Text(String::new()));
        let amount = |i: usize| prepared[i].amount.clone().expect("updates have amounts");
        let keys = |chunk: &[usize]| -> Vec<Bind> { chunk.iter().map(|i| key(*i)).collect() };
        // The before image's columns in name order, as a JSON object keeps its keys.
        let mut by_name: Vec<usize> = (0..ncols).collect();
        by_name.sort_by(|a, b| ctx.info.columns[*a].0.cmp(&ctx.info.columns[*b].0));
        let mut current: std::collections::HashMap<String, (String, Decimal, Option<String>, bool)> =
            std::collections::HashMap::new();
        for chunk in with_row.chunks(CHUNK) {
            let q2_sql = m.lock_rows_sql(d, ctx.info, chunk.len());
            let mut q2 = sqlx::query(&q2_sql).persistent(keep);
            q2 = $list(q2, keys(chunk))?;
            for f in &filters {
                q2 = $bind(q2, f.clone());
            }
            for r in q2.fetch_all(&mut *tx).await.map_err(sql)? {
                let mut cells = Vec::with_capacity(ncols);
                for i in &by_name {
                    let v: Option<&str> = r.try_get(*i).map_err(sql)?;
                    cells.push((ctx.info.columns[*i].0.as_str(), v));
                }
                let amount = m.unscale($amount(&r, ncols).map_err(DbError::Sql)?);
                let key: Option<String> = r.try_get(ncols + 1).map_err(sql)?;
                let before = before_image(&cells).map_err(|reason| DbError::BadRow {
                    row_key: key.clone().unwrap_or_default(),
                    reason,
                })?;
                let side: Option<String> = r.try_get(ncols + 2).map_err(sql)?;
                let busy = r
                    .try_get::<i32, _>(ncols + 3)
                    .map(i64::from)
                    .or_else(|_| r.try_get::<i64, _>(ncols + 3))
                    .map_err(sql)?;
                current.insert(key.unwrap_or_default(), (before, amount, side, busy != 0));
            }
        }
        let mut existing: std::collections::HashSet<String> = std::collections::HashSet::new();
        for chunk in creates.chunks(CHUNK) {
            let q_sql = m.existing_symbols_sql(d, ctx.info, chunk.len());
            let mut q = sqlx::query(&q_sql).persistent(keep);
            q = $list(
                q,
                chunk
                    .iter()
                    .map(|i| Bind::Text(prepared[*i].db_symbol.clone()))
                    .collect(),
            )?;
            for f in &filters {
                q = $bind(q, f.clone());
            }
            for r in q.fetch_all(&mut *tx).await.map_err(sql)? {
                let s: Option<String> = r.try_get(0).map_err(sql)?;
                existing.extend(s);
            }
        }

        // 2. Which still hold what the plan was made from.
        let mut outcomes = Vec::with_capacity(corrections.len());
        let mut befores: Vec<Option<String>> = Vec::with_capacity(corrections.len());
        for (c, p) in corrections.iter().zip(&prepared) {
            let (ok, before) = match c.op {
                Op::Created => (!existing.contains(&p.db_symbol), None),
                _ => match p.key_text.as_ref().and_then(|k| current.get(k)) {
                    None => (false, None),
                    Some((before, amount, side, busy)) => {
                        // A row the bot has since put an order on is the bot's again.
                        let planned = c.row.as_ref();
                        let same = !busy && planned.is_some_and(|row| row.amount == *amount && row.side_word == *side);
                        (same, Some(before.clone()))
                    }
                },
            };
            outcomes.push(if ok { RowOutcome::Applied } else { RowOutcome::Moved });
            befores.push(before);
        }
        let applied = |op: Op| -> Vec<usize> {
            (0..corrections.len())
                .filter(|i| corrections[*i].op == op && outcomes[*i] == RowOutcome::Applied)
                .collect()
        };
        let all: Vec<usize> = (0..corrections.len())
            .filter(|i| outcomes[*i] == RowOutcome::Applied)
            .collect();

        // 3. Archive first, then the changes.
        for chunk in all.chunks(CHUNK) {
            let a_sql = archive_insert_sql(d, ctx.archive, chunk.len());
            let rows = chunk.iter().map(|i| {
                let c = &corrections[*i];
                [
                    Some(ctx.correlation_id.to_owned()),
                    Some(c.op.as_str().to_owned()),
                    Some(ctx.venue.to_owned()),
                    Some(ctx.account.to_owned()),
                    Some(c.key.symbol.to_string()),
                    Some(m.table.quoted(Dialect::Postgres)),
                    c.row.as_ref().map(|r| r.row_key.clone()),
                    std::mem::take(&mut befores[*i]),
                    (!prepared[*i].after.is_null()).then(|| prepared[*i].after.to_string()),
                    Some(c.evidence.state.clone()),
                    Some(serde_json::to_string(&c.evidence).unwrap_or_default()),
                ]
            });
            $rows(sqlx::query(&a_sql).persistent(keep), rows.collect())
                .execute(&mut *tx)
                .await
                .map_err(sql)?;
        }
        let expect = |done: u64, want: usize, what: &str| -> Result<(), DbError> {
            if done as usize == want {
                Ok(())
            } else {
                Err(DbError::Sql(format!(
                    "{what} changed {done} rows, expected {want}; rolled back"
                )))
            }
        };
        for chunk in applied(Op::Deleted).chunks(CHUNK) {
            let q_sql = m.delete_sql(d, chunk.len());
            let q = $list(sqlx::query(&q_sql).persistent(keep), keys(chunk))?;
            expect(
                q.execute(&mut *tx).await.map_err(sql)?.rows_affected(),
                chunk.len(),
                "a delete",
            )?;
        }
        for chunk in applied(Op::Updated).chunks(CHUNK) {
            let q_sql = m.update_sql(d, chunk.len());
            let mut q = sqlx::query(&q_sql).persistent(keep);
            let side_column = matches!(m.side, SideMode::Column { .. });
            if binds_arrays(d) {
                // One array per column: the keys, the sides, the amounts.
                q = $list(q, keys(chunk))?;
                if side_column {
                    q = $list(q, chunk.iter().map(|i| side(*i)).collect())?;
                }
                q = $list(q, chunk.iter().map(|i| amount(*i)).collect())?;
            } else {
                if side_column {
                    for i in chunk {
                        q = $bind(q, key(*i));
                        q = $bind(q, side(*i));
                    }
                }
                for i in chunk {
                    q = $bind(q, key(*i));
                    q = $bind(q, amount(*i));
                }
                for i in chunk {
                    q = $bind(q, key(*i));
                }
            }
            expect(
                q.execute(&mut *tx).await.map_err(sql)?.rows_affected(),
                chunk.len(),
                "an update",
            )?;
        }
        // Closes, one statement a row (each has its own mark price).
        let close_sql = m.close_sql(d, ctx.info);
        for i in applied(Op::Closed) {
            let mut q = sqlx::query(&close_sql).persistent(keep);
            for b in &prepared[i].insert {
                q = $bind(q, b.clone());
            }
            q = $bind(q, prepared[i].key.clone().expect("rows have keys"));
            expect(q.execute(&mut *tx).await.map_err(sql)?.rows_affected(), 1, "a close")?;
        }
        for chunk in applied(Op::Created).chunks(CHUNK) {
            let (insert_sql, _) = m.insert_sql(d, chunk.len());
            let mut q = sqlx::query(&insert_sql).persistent(keep);
            for i in chunk {
                for b in &prepared[*i].insert {
                    q = $bind(q, b.clone());
                }
            }
            expect(
                q.execute(&mut *tx).await.map_err(sql)?.rows_affected(),
                chunk.len(),
                "an insert",
            )?;
        }
        tx.commit().await.map_err(sql)?;
        Ok(outcomes)
    }};
}

/// A row's before image as archived: `{"column": "value as text" | null, …}`,
/// the columns in name order (as a JSON object keeps its keys), written
/// straight from the row's cells.
fn before_image(cells: &[(&str, Option<&str>)]) -> Result<String, String> {
    struct Cells<'a>(&'a [(&'a str, Option<&'a str>)]);
    impl serde::Serialize for Cells<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(column, value)| (column, value)))
        }
    }
    serde_json::to_string(&Cells(cells)).map_err(|e| format!("writing its before image: {e}"))
}

/// Applies `corrections` in one transaction. `Err` means nothing was applied.
pub async fn apply(db: &BotDb, ctx: &Context<'_>, corrections: &[Correction]) -> Result<Vec<RowOutcome>, DbError> {
    let d = db.dialect();
    match db {
        BotDb::Postgres(pool) => run_cycle!(
            pool,
            bind_pg,
            bind_pg_list,
            bind_pg_rows,
            pg_amount,
            d,
            ctx,
            corrections
        ),
        BotDb::MySql(pool) => run_cycle!(
            pool,
            bind_my,
            bind_my_list,
            bind_my_rows,
            mysql_amount,
            d,
            ctx,
            corrections
        ),
        BotDb::Sqlite(pool) => run_cycle!(
            pool,
            bind_lite,
            bind_lite_list,
            bind_lite_rows,
            sqlite_amount,
            d,
            ctx,
            corrections
        ),
    }
}

/// Creates the archive table if it does not exist. A least-privilege role
/// that cannot create tables works as long as the table was created for it.
pub async fn ensure_archive(db: &BotDb, archive: &TableName) -> Result<(), DbError> {
    if db.introspect(archive).await.is_ok() {
        return Ok(());
    }
    let ddl = archive_ddl(db.dialect(), archive);
    let r = match db {
        BotDb::Postgres(p) => sqlx::query(&ddl).execute(p).await.map(|_| ()),
        BotDb::MySql(p) => sqlx::query(&ddl).execute(p).await.map(|_| ()),
        BotDb::Sqlite(p) => sqlx::query(&ddl).execute(p).await.map(|_| ()),
    };
    r.map_err(|e| {
        DbError::Sql(format!(
            "creating archive table {}: {e}",
            archive.quoted(Dialect::Postgres)
        ))
    })
}

/// The changes archived under a correlation id: (op, symbol, row key).
pub async fn archived(
    db: &BotDb,
    archive: &TableName,
    correlation_id: &str,
) -> Result<Vec<(String, String, Option<String>)>, DbError> {
    db.query_text(
        archive_lookup_sql(db.dialect(), archive),
        vec![correlation_id.to_owned()],
    )
    .await
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    proptest! {
        /// The before image is the text a JSON map of the same cells writes
        /// (what the archive held before it was written straight).
        #[test]
        fn a_before_image_is_the_rows_cells_as_a_json_map(
            cells in proptest::collection::btree_map("[a-z_\"\\\\é]{1,8}", proptest::option::of("(?s).{0,12}"), 0..14)
        ) {
            let ordered: Vec<(&str, Option<&str>)> = cells.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            let map: Map<String, Value> = cells
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
                .collect();
            prop_assert_eq!(super::before_image(&ordered).unwrap(), Value::Object(map).to_string());
        }
    }
}
