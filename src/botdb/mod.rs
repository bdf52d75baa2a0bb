//! The bot's database: PostgreSQL, MySQL/MariaDB or SQLite, read through a
//! validated [`mapping::Mapping`].
//!
//! Amounts are converted to `Decimal` exactly once, here, from whatever type
//! the column has:
//! - `NUMERIC`/`DECIMAL`: decoded as `Decimal` directly;
//! - integers: exact;
//! - text: parsed as a decimal string;
//! - floats (`DOUBLE PRECISION`, `REAL`, `FLOAT`): the shortest decimal that
//!   reads back as the same float ([`decimal_from_f64`]), i.e. the number the
//!   bot meant when it wrote `0.1`, not the binary expansion
//!   `0.1000000000000000055511151231257827`.
//!
//! A database that is down, slow, or refuses access gives a [`DbError`]; the
//! caller marks the source untrusted. Nothing here panics on bad data: a row
//! with an unknown side or an unreadable amount fails the whole read, so a
//! half-understood table is never taken for the bot's positions.

pub mod api;
pub mod freqtrade_api;
pub mod mapping;
pub mod names;
pub mod presets;
pub mod raw;
pub mod schema;
pub mod sql;
pub mod symbols;

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, TypeInfo, ValueRef};

use crate::domain::{DbRow, DbSnapshot, PositionKey, Timestamp, UnmappedRow};
use mapping::Mapping;
use names::{Dialect, TableName};
use sql::{ColumnKind, TableInfo};

/// Why a read of the bot's database gave no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DbError {
    #[error("database timed out after {0:?}")]
    Timeout(Duration),
    #[error("database error: {0}")]
    Sql(String),
    #[error("row {row_key}: {reason}")]
    BadRow { row_key: String, reason: String },
    /// The bot's HTTP API gave no usable answer.
    #[error("bot API: {0}")]
    Api(String),
    /// The mapping cannot work on the table as introspected.
    #[error("the mapping does not fit the table: {0}")]
    Mapping(String),
}

/// A connection pool to the bot's database.
#[derive(Debug, Clone)]
pub enum BotDb {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

impl BotDb {
    /// Creates a lazy pool: nothing connects until the first read, so a
    /// database that is down at start-up is a failed read, not a crash.
    pub fn connect_lazy(url: &str, max_connections: u32, timeout: Duration) -> Result<BotDb, DbError> {
        let sql = |e: sqlx::Error| DbError::Sql(e.to_string());
        match Dialect::from_url(url) {
            Some(Dialect::Postgres) => Ok(BotDb::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(timeout)
                    .connect_lazy(url)
                    .map_err(sql)?,
            )),
            Some(Dialect::MySql) => Ok(BotDb::MySql(
                MySqlPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(timeout)
                    .connect_lazy(url)
                    .map_err(sql)?,
            )),
            Some(Dialect::Sqlite) => Ok(BotDb::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(timeout)
                    .connect_lazy(url)
                    .map_err(sql)?,
            )),
            None => Err(DbError::Sql("unsupported database URL scheme".into())),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            BotDb::Postgres(_) => Dialect::Postgres,
            BotDb::MySql(_) => Dialect::MySql,
            BotDb::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Reads the mapped rows, within `timeout`.
    pub async fn read(&self, mapping: &Mapping, timeout: Duration) -> Result<DbSnapshot, DbError> {
        match tokio::time::timeout(timeout, self.read_inner(mapping)).await {
            Ok(r) => r,
            Err(_) => Err(DbError::Timeout(timeout)),
        }
    }

    async fn read_inner(&self, mapping: &Mapping) -> Result<DbSnapshot, DbError> {
        let (sql, binds) = mapping.select_sql(self.dialect());
        let raw = match self {
            BotDb::Postgres(pool) => fetch_rows!(pool, sql, binds, pg_amount),
            BotDb::MySql(pool) => fetch_rows!(pool, sql, binds, mysql_amount),
            BotDb::Sqlite(pool) => fetch_rows!(pool, sql, binds, sqlite_amount),
        };
        let mut rows = Vec::with_capacity(raw.len());
        let mut unmapped = Vec::new();
        for (row_key, symbol, side, amount, updated_at, busy) in raw {
            let bad = |reason: String| DbError::BadRow {
                row_key: row_key.clone(),
                reason,
            };
            let amount = mapping.unscale(amount.map_err(bad)?);
            let sign = mapping
                .side_sign(side.as_deref())
                .ok_or_else(|| bad(format!("unknown side {:?}", side.as_deref().unwrap_or("NULL"))))?;
            let size = match mapping.side {
                mapping::SideMode::SignedAmount => amount,
                mapping::SideMode::Column { .. } if amount.is_sign_negative() && !amount.is_zero() => {
                    return Err(bad(format!("negative amount {amount} with a side column")));
                }
                mapping::SideMode::Column { .. } => amount * Decimal::from(sign),
            };
            let symbol = symbol.ok_or_else(|| bad("NULL symbol".into()))?;
            let Some(venue_symbol) = mapping.venue_symbol(&symbol) else {
                unmapped.push(UnmappedRow { row_key, symbol });
                continue;
            };
            rows.push(DbRow {
                key: PositionKey {
                    symbol: venue_symbol.into(),
                    leg: mapping.leg.of_side(sign),
                },
                row_key,
                size,
                side_word: side,
                amount,
                updated_at: updated_at.map(Timestamp),
                busy,
            });
        }
        Ok(DbSnapshot { rows, unmapped })
    }

    /// `SELECT 1`, for readiness and the `healthcheck` path.
    pub async fn ping(&self, timeout: Duration) -> Result<(), DbError> {
        let q = async {
            match self {
                BotDb::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
                BotDb::MySql(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
                BotDb::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(|_| ()),
            }
        };
        match tokio::time::timeout(timeout, q).await {
            Ok(r) => r.map_err(|e| DbError::Sql(e.to_string())),
            Err(_) => Err(DbError::Timeout(timeout)),
        }
    }

    pub async fn close(&self) {
        match self {
            BotDb::Postgres(p) => p.close().await,
            BotDb::MySql(p) => p.close().await,
            BotDb::Sqlite(p) => p.close().await,
        }
    }
}

macro_rules! fetch_pairs {
    ($pool:expr, $sql:expr, $binds:expr) => {{
        let mut q = sqlx::query(&$sql);
        for b in &$binds {
            q = q.bind(b.clone());
        }
        let rows = q.fetch_all($pool).await.map_err(|e| DbError::Sql(e.to_string()))?;
        let mut out: Vec<(String, String, Option<String>)> = Vec::new();
        for r in &rows {
            let a: Option<String> = r.try_get(0).map_err(|e| DbError::Sql(e.to_string()))?;
            let b: Option<String> = r.try_get(1).map_err(|e| DbError::Sql(e.to_string()))?;
            let c: Option<String> = if r.len() > 2 {
                r.try_get(2).map_err(|e| DbError::Sql(e.to_string()))?
            } else {
                None
            };
            out.push((a.unwrap_or_default(), b.unwrap_or_default(), c));
        }
        out
    }};
}

impl BotDb {
    /// Runs a query whose columns are text: (first, second, optional third).
    pub async fn query_text(
        &self,
        sql_text: String,
        binds: Vec<String>,
    ) -> Result<Vec<(String, String, Option<String>)>, DbError> {
        Ok(match self {
            BotDb::Postgres(pool) => fetch_pairs!(pool, sql_text, binds),
            BotDb::MySql(pool) => fetch_pairs!(pool, sql_text, binds),
            BotDb::Sqlite(pool) => fetch_pairs!(pool, sql_text, binds),
        })
    }

    /// A table's columns, their types and which an INSERT must fill.
    pub async fn introspect(&self, table: &TableName) -> Result<TableInfo, DbError> {
        let (q, binds) = self.dialect().introspect_sql(table);
        let rows = self.query_text(q, binds).await?;
        let required = rows
            .iter()
            .filter(|(_, _, r)| r.as_deref() == Some("required"))
            .map(|(name, _, _)| name.clone())
            .collect();
        let columns: Vec<(String, ColumnKind)> = rows
            .into_iter()
            .map(|(name, ty, _)| (name, ColumnKind::from_sql_type(&ty)))
            .collect();
        if columns.is_empty() {
            return Err(DbError::Sql(format!(
                "table {} not found (or not visible to this role)",
                table.quoted(Dialect::Postgres)
            )));
        }
        Ok(TableInfo { columns, required })
    }
}

/// Runs the mapping's SELECT and reads each row as
/// (key, symbol, side, amount-or-why-not).
macro_rules! fetch_rows {
    ($pool:expr, $sql:expr, $binds:expr, $amount:ident) => {{
        let mut q = sqlx::query(&$sql);
        for b in &$binds {
            q = q.bind(b.clone());
        }
        let rows = q.fetch_all($pool).await.map_err(|e| DbError::Sql(e.to_string()))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: Option<String> = row.try_get(0).map_err(|e| DbError::Sql(e.to_string()))?;
            let symbol: Option<String> = row.try_get(1).map_err(|e| DbError::Sql(e.to_string()))?;
            let side: Option<String> = row.try_get(2).map_err(|e| DbError::Sql(e.to_string()))?;
            let updated_at: Option<i64> = row.try_get(4).map_err(|e| DbError::Sql(e.to_string()))?;
            let busy: i64 = row
                .try_get::<i32, _>(5)
                .map(i64::from)
                .or_else(|_| row.try_get::<i64, _>(5))
                .map_err(|e| DbError::Sql(e.to_string()))?;
            out.push((
                key.unwrap_or_default(),
                symbol,
                side,
                $amount(row, 3),
                updated_at,
                busy != 0,
            ));
        }
        out
    }};
}
use fetch_rows;

/// The shortest decimal that reads back as `f` (Rust's `Display` for floats
/// prints exactly that, without an exponent).
pub fn decimal_from_f64(f: f64) -> Result<Decimal, String> {
    if !f.is_finite() {
        return Err(format!("amount is not a finite number ({f})"));
    }
    Decimal::from_str(&format!("{f}")).map_err(|e| format!("amount {f} does not fit a decimal: {e}"))
}

fn decimal_from_f32(f: f32) -> Result<Decimal, String> {
    if !f.is_finite() {
        return Err(format!("amount is not a finite number ({f})"));
    }
    Decimal::from_str(&format!("{f}")).map_err(|e| format!("amount {f} does not fit a decimal: {e}"))
}

fn decimal_from_text(s: &str) -> Result<Decimal, String> {
    Decimal::from_str(s.trim())
        .or_else(|_| Decimal::from_scientific(s.trim()))
        .map_err(|_| format!("amount {s:?} is not a number"))
}

fn err(e: sqlx::Error) -> String {
    e.to_string()
}

pub(crate) fn pg_amount(row: &PgRow, i: usize) -> Result<Decimal, String> {
    let raw = row.try_get_raw(i).map_err(err)?;
    if raw.is_null() {
        return Err("NULL amount".into());
    }
    let ty = raw.type_info().name().to_owned();
    match ty.as_str() {
        "NUMERIC" => row.try_get::<Decimal, _>(i).map_err(err),
        "FLOAT8" => decimal_from_f64(row.try_get::<f64, _>(i).map_err(err)?),
        "FLOAT4" => decimal_from_f32(row.try_get::<f32, _>(i).map_err(err)?),
        "INT8" => Ok(Decimal::from(row.try_get::<i64, _>(i).map_err(err)?)),
        "INT4" => Ok(Decimal::from(row.try_get::<i32, _>(i).map_err(err)?)),
        "INT2" => Ok(Decimal::from(row.try_get::<i16, _>(i).map_err(err)?)),
        "TEXT" | "VARCHAR" | "BPCHAR" => decimal_from_text(&row.try_get::<String, _>(i).map_err(err)?),
        other => Err(format!("amount column has unsupported type {other}")),
    }
}

pub(crate) fn mysql_amount(row: &MySqlRow, i: usize) -> Result<Decimal, String> {
    let raw = row.try_get_raw(i).map_err(err)?;
    if raw.is_null() {
        return Err("NULL amount".into());
    }
    let ty = raw.type_info().name().to_owned();
    match ty.as_str() {
        "DECIMAL" => row.try_get::<Decimal, _>(i).map_err(err),
        "DOUBLE" => decimal_from_f64(row.try_get::<f64, _>(i).map_err(err)?),
        "FLOAT" => decimal_from_f32(row.try_get::<f32, _>(i).map_err(err)?),
        "BIGINT" | "INT" | "MEDIUMINT" | "SMALLINT" | "TINYINT" => {
            Ok(Decimal::from(row.try_get::<i64, _>(i).map_err(err)?))
        }
        "VARCHAR" | "CHAR" | "TEXT" => decimal_from_text(&row.try_get::<String, _>(i).map_err(err)?),
        other => Err(format!("amount column has unsupported type {other}")),
    }
}

pub(crate) fn sqlite_amount(row: &SqliteRow, i: usize) -> Result<Decimal, String> {
    let raw = row.try_get_raw(i).map_err(err)?;
    if raw.is_null() {
        return Err("NULL amount".into());
    }
    // SQLite types values, not columns: look at this value's storage class.
    let ty = raw.type_info().name().to_owned();
    match ty.as_str() {
        "REAL" => decimal_from_f64(row.try_get::<f64, _>(i).map_err(err)?),
        "INTEGER" => Ok(Decimal::from(row.try_get::<i64, _>(i).map_err(err)?)),
        "TEXT" => decimal_from_text(&row.try_get::<String, _>(i).map_err(err)?),
        other => Err(format!("amount has unsupported SQLite type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_become_the_decimal_the_bot_meant() {
        assert_eq!(decimal_from_f64(0.1).unwrap().to_string(), "0.1");
        assert_eq!(decimal_from_f64(235.9).unwrap().to_string(), "235.9");
        assert_eq!(decimal_from_f64(15296.0).unwrap().to_string(), "15296");
        assert_eq!(decimal_from_f64(1e-7).unwrap().to_string(), "0.0000001");
        assert_eq!(decimal_from_f32(0.1f32).unwrap().to_string(), "0.1");
        assert!(decimal_from_f64(f64::NAN).is_err());
        assert!(decimal_from_f64(1e40).is_err());
    }

    #[test]
    fn text_amounts() {
        assert_eq!(decimal_from_text(" 49.5 ").unwrap().to_string(), "49.5");
        assert_eq!(decimal_from_text("1e-3").unwrap().to_string(), "0.001");
        assert!(decimal_from_text("lots").is_err());
    }
}
