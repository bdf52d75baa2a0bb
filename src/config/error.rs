//! One config (or rule file) problem, located `file:line:col`, and the
//! reading of serde_yaml's own errors into one. Below everything that
//! reads YAML: the config and the rule files both report through it.

use std::fmt;

/// One config problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// A serde_yaml error as `file:line:col: message`, without serde_yaml's own
/// " at line X column Y" suffix.
pub fn yaml_error(file: &str, e: &serde_yaml::Error) -> ConfigError {
    let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    ConfigError {
        file: file.to_owned(),
        line,
        col,
        message: msg,
    }
}
