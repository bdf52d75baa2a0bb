//! Secrets (database URLs with passwords, API keys) come from the environment
//! or a file, and are never printed: [`Secret`]'s `Debug` and `Display` say `***`.

use std::path::PathBuf;

use serde::Deserialize;

pub use crate::secret::Secret;

/// Where a secret comes from, as written in the config: exactly one of
/// `{env: NAME}`, `{file: PATH}` or `{value: TEXT}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable's name.
    Env(String),
    /// A file whose contents (less one trailing newline) are the secret.
    File(PathBuf),
    /// The value itself (for values that are not secret, e.g. a SQLite path).
    Value(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretSource {
    env: Option<String>,
    file: Option<PathBuf>,
    value: Option<String>,
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawSecretSource::deserialize(d)?;
        match (raw.env, raw.file, raw.value) {
            (Some(e), None, None) => Ok(SecretSource::Env(e)),
            (None, Some(f), None) => Ok(SecretSource::File(f)),
            (None, None, Some(v)) => Ok(SecretSource::Value(v)),
            _ => Err(serde::de::Error::custom(
                "give exactly one of `env: NAME`, `file: PATH` or `value: TEXT`",
            )),
        }
    }
}

/// Reads environment variables. Tests pass a map instead of calling `set_var`.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl SecretSource {
    /// Resolves the secret; the error says which variable or file, never the value.
    pub fn resolve(&self, env: &dyn Env) -> Result<Secret, String> {
        match self {
            SecretSource::Env(name) => match env.var(name) {
                Some(v) if !v.is_empty() => Ok(Secret::new(v)),
                Some(_) => Err(format!("environment variable {name} is empty")),
                None => Err(format!("environment variable {name} is not set")),
            },
            SecretSource::File(path) => match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.strip_suffix('\n').unwrap_or(&v);
                    let v = v.strip_suffix('\r').unwrap_or(v);
                    if v.is_empty() {
                        Err(format!("secret file {} is empty", path.display()))
                    } else {
                        Ok(Secret::new(v))
                    }
                }
                Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
            },
            SecretSource::Value(v) => Ok(Secret::new(v.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("postgres://u:hunter2@h/db");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }

    #[test]
    fn env_resolution_names_the_variable_not_the_value() {
        let env: HashMap<String, String> = [("A".to_string(), "x".to_string())].into();
        assert_eq!(SecretSource::Env("A".into()).resolve(&env).unwrap().expose(), "x");
        assert_eq!(
            SecretSource::Env("B".into()).resolve(&env).unwrap_err(),
            "environment variable B is not set"
        );
    }
}
