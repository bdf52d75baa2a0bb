//! How the bot spells a symbol, and the venue's name for it: an explicit
//! map, a template (`{symbol}/USDC:USDC`, both directions), or a regular
//! expression with a named capture `symbol` (reading only). Pure.
//!
//! A database symbol none of them places is *unmapped*: it is shown and
//! counted, and never reconciled, corrected or closed (it could stand for
//! anything).

use std::collections::BTreeMap;

/// A template with one `{symbol}` placeholder: the literal text around it
/// is the bot's spelling (`{symbol}/USDC:USDC`, `{symbol}USDT`, `{symbol}-PERP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    prefix: String,
    suffix: String,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let Some((prefix, suffix)) = s.split_once("{symbol}") else {
            return Err(format!("symbol_pattern {s:?} has no {{symbol}} placeholder"));
        };
        if suffix.contains("{symbol}") {
            return Err(format!("symbol_pattern {s:?} has {{symbol}} twice"));
        }
        if prefix.is_empty() && suffix.is_empty() {
            return Err("symbol_pattern \"{symbol}\" says nothing: leave it out".into());
        }
        Ok(Template {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    fn read(&self, db: &str) -> Option<String> {
        let inner = db.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        (!inner.is_empty()).then(|| inner.to_owned())
    }

    fn write(&self, venue: &str) -> String {
        format!("{}{venue}{}", self.prefix, self.suffix)
    }
}

/// A regular expression with a named capture `symbol`, matched whole.
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let re = regex::Regex::new(&format!("^(?:{s})$")).map_err(|e| format!("symbol_regex: {e}"))?;
        if !re.capture_names().flatten().any(|n| n == "symbol") {
            return Err(format!(
                "symbol_regex {s:?} has no named capture `symbol`: e.g. (?P<symbol>[A-Z0-9]+)/USDC:USDC"
            ));
        }
        Ok(Pattern(re))
    }

    fn read(&self, db: &str) -> Option<String> {
        let caps = self.0.captures(db)?;
        let s = caps.name("symbol")?.as_str();
        (!s.is_empty()).then(|| s.to_owned())
    }
}

/// The bot's symbols and the venue's, both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolMap {
    /// Database symbol → venue symbol; wins over the patterns.
    pub explicit: BTreeMap<String, String>,
    pub template: Option<Template>,
    pub regex: Option<Pattern>,
}

impl SymbolMap {
    /// Whether symbols outside the explicit map are the venue's own
    /// (no template or regex says how the bot spells them).
    pub fn is_identity(&self) -> bool {
        self.template.is_none() && self.regex.is_none()
    }

    /// The venue symbol for a database symbol; `None`: unmapped.
    pub fn to_venue(&self, db: &str) -> Option<String> {
        if let Some(v) = self.explicit.get(db) {
            return Some(v.clone());
        }
        if self.is_identity() {
            return Some(db.to_owned());
        }
        if let Some(t) = &self.template {
            if let Some(v) = t.read(db) {
                return Some(v);
            }
        }
        self.regex.as_ref().and_then(|r| r.read(db))
    }

    /// The database symbol driftwatch writes for a venue symbol (inserts);
    /// `None`: the mapping can read the bot's spelling but not write it
    /// (a regex alone), so nothing is inserted.
    pub fn to_db(&self, venue: &str) -> Option<String> {
        if let Some((db, _)) = self.explicit.iter().find(|(_, v)| v.as_str() == venue) {
            return Some(db.clone());
        }
        if let Some(t) = &self.template {
            return Some(t.write(venue));
        }
        self.is_identity().then(|| venue.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(template: Option<&str>, regex: Option<&str>) -> SymbolMap {
        SymbolMap {
            explicit: [("XBT".to_string(), "BTC".to_string())].into(),
            template: template.map(|t| Template::parse(t).unwrap()),
            regex: regex.map(|r| Pattern::parse(r).unwrap()),
        }
    }

    #[test]
    fn the_three_spellings_of_the_issue() {
        let ft = map(Some("{symbol}/USDC:USDC"), None);
        assert_eq!(ft.to_venue("BTC/USDC:USDC").as_deref(), Some("BTC"));
        assert_eq!(ft.to_db("SOL").as_deref(), Some("SOL/USDC:USDC"));
        assert_eq!(ft.to_venue("BTC/USDT:USDT"), None, "another quote is not this market");
        assert_eq!(ft.to_venue("/USDC:USDC"), None, "an empty symbol is no symbol");
        let binance = map(Some("{symbol}USDT"), None);
        assert_eq!(binance.to_venue("ETHUSDT").as_deref(), Some("ETH"));
        let perp = map(Some("{symbol}-PERP"), None);
        assert_eq!(perp.to_venue("SOL-PERP").as_deref(), Some("SOL"));
        assert_eq!(perp.to_db("SOL").as_deref(), Some("SOL-PERP"));
        // The explicit map wins, both ways.
        assert_eq!(perp.to_venue("XBT").as_deref(), Some("BTC"));
        assert_eq!(perp.to_db("BTC").as_deref(), Some("XBT"));
    }

    #[test]
    fn a_regex_reads_but_does_not_write() {
        let r = map(None, Some(r"(?P<symbol>[A-Za-z0-9]+)/[A-Z]+(:[A-Z]+)?"));
        assert_eq!(r.to_venue("kPEPE/USDC:USDC").as_deref(), Some("kPEPE"));
        assert_eq!(r.to_venue("ETH/USDT").as_deref(), Some("ETH"));
        assert_eq!(r.to_venue("xETH/USDT junk"), None, "matched whole");
        assert_eq!(r.to_db("ETH"), None);
        assert!(Pattern::parse("[A-Z]+").unwrap_err().contains("named capture"));
        assert!(Pattern::parse("(?P<symbol>[").unwrap_err().starts_with("symbol_regex:"));
    }

    #[test]
    fn no_mapping_is_the_identity_and_templates_are_checked() {
        let id = SymbolMap::default();
        assert_eq!(id.to_venue("BTC").as_deref(), Some("BTC"));
        assert_eq!(id.to_db("BTC").as_deref(), Some("BTC"));
        let only = SymbolMap {
            explicit: [("XBT".to_string(), "BTC".to_string())].into(),
            ..Default::default()
        };
        assert_eq!(
            only.to_venue("ETH").as_deref(),
            Some("ETH"),
            "an explicit map alone overrides"
        );
        assert_eq!(only.to_db("BTC").as_deref(), Some("XBT"));
        assert!(Template::parse("BTC").is_err());
        assert!(Template::parse("{symbol}{symbol}").is_err());
        assert!(Template::parse("{symbol}").is_err());
    }
}
