//! Whether a mapping can work on the table as it really is: checked once
//! the table has been introspected, before the first read is believed.
//! Pure: a mapping and a [`TableInfo`] in, every problem out.
//!
//! A mapping that cannot work (a column that is not there, side words a
//! boolean column cannot hold, a filter that compares a boolean with text,
//! a close that writes text into a number, an insert that leaves a NOT NULL
//! column empty) makes the account's database untrusted with these words,
//! instead of failing, or silently matching nothing, on every poll.

use super::mapping::{Mapping, OnStale, SetValue, SideMode};
use super::names::Ident;
use super::raw::Word;
use super::sql::{ColumnKind, TableInfo};

/// Every problem of `m` on `info`; `inserts`: whether the account may
/// insert rows (its `correct.insert` and the mapping's `on_missing`).
pub fn problems(m: &Mapping, info: &TableInfo, inserts: bool) -> Vec<String> {
    let mut out = Vec::new();
    let table = m.table.quoted(super::names::Dialect::Postgres);
    let mut need = |role: &str, c: &Ident| -> Option<ColumnKind> {
        let k = info.kind(c);
        if k.is_none() {
            out.push(format!("{role} {:?} is not a column of {table}", c.as_str()));
        }
        k
    };
    need("key_column", &m.key_column);
    need("symbol_column", &m.symbol_column);
    let amount = need("amount_column", &m.amount_column);
    let side = match &m.side {
        SideMode::Column { column, boolean, .. } => need("side_column", column).map(|k| (column, k, *boolean)),
        SideMode::SignedAmount => None,
    };
    let updated = m.updated_at_column.as_ref().map(|c| (c, need("updated_at_column", c)));
    let entry = m
        .entry_price_column
        .as_ref()
        .map(|c| (c, need("entry_price_column", c)));
    let filters: Vec<_> = m
        .filter
        .iter()
        .map(|(c, w)| (c, w, need(&format!("filter {:?}:", c.as_str()), c)))
        .collect();
    let sets: Vec<_> = match &m.on_stale {
        OnStale::Close(set) => set.iter().map(|(c, v)| (c, v, need("close_set", c))).collect(),
        _ => Vec::new(),
    };

    if let Some(k) = amount {
        if matches!(k, ColumnKind::Boolean | ColumnKind::Timestamp | ColumnKind::TimestampTz) {
            out.push(format!("amount_column {:?} holds no number", m.amount_column.as_str()));
        }
    }
    if let Some((c, k, boolean)) = side {
        match (k, boolean) {
            (ColumnKind::Boolean, false) => out.push(format!(
                "side_column {:?} is a boolean column: write long_values: [false] and short_values: [true] \
                 (or the other way), not words",
                c.as_str()
            )),
            (ColumnKind::Boolean | ColumnKind::Integer, true) | (_, false) => {}
            (_, true) => out.push(format!(
                "side_column {:?} is not a boolean column: its long_values and short_values must be the words it holds",
                c.as_str()
            )),
        }
    }
    if let Some((c, Some(k))) = updated {
        // SQLite keeps times as text; a boolean or a number is no time.
        if matches!(k, ColumnKind::Boolean | ColumnKind::Float | ColumnKind::Numeric) {
            out.push(format!("updated_at_column {:?} holds no time", c.as_str()));
        }
    }
    for (c, w, k) in filters {
        if let Some(k) = k {
            if let Some(why) = misfit(k, w) {
                out.push(format!("filter {:?}: {why}", c.as_str()));
            }
        }
    }
    for (c, v, k) in sets {
        let Some(k) = k else { continue };
        let why = match v {
            SetValue::Now if !matches!(k, ColumnKind::Timestamp | ColumnKind::TimestampTz | ColumnKind::Text) => {
                Some("{now} needs a timestamp column".to_owned())
            }
            SetValue::MarkPrice | SetValue::Pnl | SetValue::PnlRatio
                if !matches!(k, ColumnKind::Float | ColumnKind::Numeric | ColumnKind::Text) =>
            {
                Some("a price or a profit needs a number column".to_owned())
            }
            SetValue::Literal(w) => misfit(k, w),
            _ => None,
        };
        if let Some(why) = why {
            out.push(format!("close_set {:?}: {why}", c.as_str()));
        }
    }
    if inserts {
        let mut given: Vec<&str> = vec![m.symbol_column.as_str(), m.amount_column.as_str()];
        if let SideMode::Column { column, .. } = &m.side {
            given.push(column.as_str());
        }
        given.extend(m.filter.iter().map(|(c, _)| c.as_str()));
        given.extend(m.insert_values.iter().map(|(c, _)| c.as_str()));
        given.extend(m.insert_timestamp_columns.iter().map(Ident::as_str));
        given.extend(m.entry_price_column.as_ref().map(Ident::as_str));
        let _ = entry;
        let missing: Vec<&str> = info
            .required
            .iter()
            .map(String::as_str)
            .filter(|c| !given.contains(c))
            .collect();
        if !missing.is_empty() {
            out.push(format!(
                "inserts are on, but {table} requires {} (NOT NULL, no default): give them in insert_values, \
                 or set on_missing: alert_only",
                missing.join(", ")
            ));
        }
    }
    out
}

/// Why a config word cannot be stored in (or compared with) a column of `k`.
fn misfit(k: ColumnKind, w: &Word) -> Option<String> {
    match (k, w) {
        (ColumnKind::Boolean, Word::Bool(_)) | (ColumnKind::Integer, Word::Bool(_) | Word::Int(_)) => None,
        (ColumnKind::Boolean, w) => Some(format!("a boolean column: write true or false, not {:?}", w.text())),
        (_, Word::Bool(_)) => Some("true/false given for a column that is not boolean".into()),
        (ColumnKind::Integer, Word::Text(t)) if t.parse::<i64>().is_err() => {
            Some(format!("an integer column cannot hold {t:?}"))
        }
        (ColumnKind::Float | ColumnKind::Numeric, Word::Text(t)) if t.parse::<rust_decimal::Decimal>().is_err() => {
            Some(format!("a number column cannot hold {t:?}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::botdb::raw::RawMapping;

    fn freqtrade_table() -> TableInfo {
        let cols = [
            ("id", ColumnKind::Integer),
            ("exchange", ColumnKind::Text),
            ("pair", ColumnKind::Text),
            ("is_open", ColumnKind::Boolean),
            ("is_short", ColumnKind::Boolean),
            ("amount", ColumnKind::Float),
            ("open_rate", ColumnKind::Float),
            ("open_date", ColumnKind::Timestamp),
            ("close_date", ColumnKind::Timestamp),
            ("close_rate", ColumnKind::Float),
            ("close_profit", ColumnKind::Float),
            ("close_profit_abs", ColumnKind::Float),
            ("realized_profit", ColumnKind::Float),
            ("leverage", ColumnKind::Float),
            ("exit_reason", ColumnKind::Text),
            ("exit_order_status", ColumnKind::Text),
        ];
        TableInfo {
            columns: cols.iter().map(|(c, k)| (c.to_string(), *k)).collect(),
            required: vec!["exchange".into(), "pair".into(), "open_rate".into(), "open_date".into()],
        }
    }

    fn mapping(yaml: &str) -> Mapping {
        serde_yaml::from_str::<RawMapping>(yaml).unwrap().validate().unwrap()
    }

    #[test]
    fn the_freqtrade_preset_fits_freqtrades_table() {
        assert_eq!(
            problems(&mapping("preset: freqtrade"), &freqtrade_table(), false),
            Vec::<String>::new()
        );
    }

    #[test]
    fn words_a_boolean_column_cannot_hold_are_refused_up_front() {
        let m = mapping("preset: freqtrade\nlong_values: [\"0\"]\nshort_values: [\"1\"]\n");
        let p = problems(&m, &freqtrade_table(), false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("\"is_short\" is a boolean column"), "{}", p[0]);
        let m = mapping("preset: freqtrade\nfilter: {is_open: \"1\"}\n");
        let p = problems(&m, &freqtrade_table(), false);
        assert!(p[0].starts_with("filter \"is_open\": a boolean column"), "{p:?}");
    }

    #[test]
    fn columns_that_are_not_there_and_inserts_that_cannot_work() {
        let m = mapping("preset: freqtrade\namount_column: qty\nclose_set: {closed: true}\n");
        let p = problems(&m, &freqtrade_table(), true);
        assert!(
            p.iter().any(|x| x.contains("amount_column \"qty\" is not a column")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|x| x.contains("close_set \"closed\" is not a column")),
            "{p:?}"
        );
        assert!(p.iter().any(|x| x.contains("requires exchange, open_date")), "{p:?}");
        let m = mapping("preset: freqtrade\nclose_set: {close_rate: soon}\n");
        let p = problems(&m, &freqtrade_table(), false);
        assert_eq!(
            p,
            vec!["close_set \"close_rate\": a number column cannot hold \"soon\"".to_string()]
        );
    }
}
