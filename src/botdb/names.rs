//! SQL identifiers and how each dialect spells them: [`Dialect`] (quoting,
//! placeholders, the few expressions that differ), [`Ident`] and
//! [`TableName`]. Pure.

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

    pub fn null_int(self) -> &'static str {
        match self {
            Dialect::Postgres => "CAST(NULL AS BIGINT)",
            Dialect::MySql => "CAST(NULL AS SIGNED)",
            Dialect::Sqlite => "NULL",
        }
    }

    /// A timestamp column as milliseconds since the epoch (an integer).
    pub fn epoch_ms(self, quoted: &str) -> String {
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

    /// A column name the database itself listed (introspection): quoted
    /// when written, never parsed from config.
    pub(crate) fn from_catalog(name: &str) -> Ident {
        Ident(name.to_owned())
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
