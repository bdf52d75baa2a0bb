//! Every structural error of a YAML file, not only the first.
//!
//! serde stops at the first problem. To report the rest, the text is mended
//! one problem at a time and parsed again: an unknown field's block is
//! blanked, a missing field is added with a placeholder, a value of the
//! wrong type or variant is replaced by one. A placeholder is kept only if
//! the next error is elsewhere; a problem no placeholder gets past ends the
//! search. Line numbers always refer to the original text (added lines are
//! tracked, blanked ones keep their place). A syntax error gets a hint where
//! the parser's words do not say what is wrong (a tab, an unclosed quote).

use serde::de::DeserializeOwned;

use super::error::{yaml_error, ConfigError};

/// At most this many problems are mended before the search stops.
const MAX_ERRORS: usize = 50;

/// What a placeholder may be: whatever the field's type accepts.
const PLACEHOLDERS: &[&str] = &["\"\"", "[]", "{}", "0", "false", "~", "1s"];

/// Parses `text` as `T`; on failure, every structural error found, in file
/// order, each located in the original text.
pub fn parse_all<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, Vec<ConfigError>> {
    let first = match serde_yaml::from_str::<T>(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // For each current line: its line number in the original (None: added).
    let mut origin: Vec<Option<usize>> = (1..=lines.len()).map(Some).collect();
    let mut errors = vec![with_hint(yaml_error(file, &first), text)];
    let mut err = first;
    // Bounded twice over: by the errors found and by the mends tried.
    for _ in 0..MAX_ERRORS * 2 {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let Some(mended) = mend::<T>(&lines, &origin, &err) else {
            break;
        };
        (lines, origin) = mended;
        match serde_yaml::from_str::<T>(&join(&lines)) {
            Ok(_) => break,
            Err(next) => {
                let mut located = yaml_error(file, &next);
                match origin.get(located.line.wrapping_sub(1)).copied().flatten() {
                    Some(line) => located.line = line,
                    // Past the end, or on an added line: nothing new to say.
                    None => break,
                }
                if errors.contains(&located) {
                    break;
                }
                // A misspelt key is one mistake: its unknown field is
                // reported, not also the field it meant as missing.
                if !misspelt(&errors, &located.message) {
                    errors.push(located);
                }
                err = next;
            }
        }
    }
    errors.sort_by_key(|e| (e.line, e.col));
    Err(errors)
}

/// Whether `message` is "P: missing field `x`" where an earlier error is
/// "P: unknown field `y`" with `y` within two edits of `x`.
fn misspelt(earlier: &[ConfigError], message: &str) -> bool {
    let Some((path, rest)) = message.split_once("missing field `") else {
        return false;
    };
    let missing = rest.trim_end_matches('`');
    earlier.iter().any(|e| {
        e.message
            .split_once("unknown field `")
            .and_then(|(p, r)| (p == path).then(|| r.split('`').next()).flatten())
            .is_some_and(|unknown| edits(unknown, missing) <= 2)
    })
}

/// Levenshtein distance.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The text's lines, and for each its line in the original (`None`: added).
type Mended = (Vec<String>, Vec<Option<usize>>);

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The text with `err`'s problem mended, if a mend gets past it.
fn mend<T: DeserializeOwned>(lines: &[String], origin: &[Option<usize>], err: &serde_yaml::Error) -> Option<Mended> {
    let loc = err.location()?;
    let was = (loc.line(), loc.column());
    let (line, col) = (loc.line().checked_sub(1)?, loc.column().checked_sub(1)?);
    let message = err.to_string();
    let field = |marker: &str| {
        message
            .split_once(marker)
            .and_then(|(_, rest)| rest.split('`').next())
            .map(str::to_owned)
    };
    let key_indent = |l: &str| indent(l) + usize::from(l.trim_start().starts_with("- ")) * 2;
    if field("unknown field `").is_some() {
        // Blank the key's line and everything nested under it.
        let mut lines = lines.to_vec();
        let own = key_indent(lines.get(line)?);
        // A sequence item's first key keeps its "- ": the item stays.
        let l = &lines[line];
        lines[line] = match l.trim_start().strip_prefix("- ") {
            Some(_) => format!("{}- ", " ".repeat(indent(l))),
            None => String::new(),
        };
        for l in lines.iter_mut().skip(line + 1) {
            if !l.trim().is_empty() && indent(l) <= own {
                break;
            }
            l.clear();
        }
        return Some((lines, origin.to_vec()));
    }
    if let Some(name) = field("missing field `") {
        let start = lines.get(line)?;
        // An empty sequence item (its only key was blanked): the field
        // goes on the item's own line.
        if start.trim() == "-" {
            return try_each::<T>(lines, origin, was, None, |lines, origin, p| {
                let mut lines = lines.to_vec();
                lines[line] = format!("{}- {name}: {p}", " ".repeat(indent(&lines[line])));
                (lines, origin.to_vec())
            });
        }
        // Add the field at the end of the map the error points at.
        let own = if col > 0 { col } else { key_indent(start) };
        let mut end = line;
        for (i, l) in lines.iter().enumerate().skip(line + 1) {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let n = indent(l);
            if n < own || (n == own && l.trim_start().starts_with("- ") && own > 0 && key_indent(start) != own) {
                break;
            }
            end = i;
        }
        return try_each::<T>(lines, origin, was, None, |lines, origin, p| {
            let mut lines = lines.to_vec();
            let mut origin = origin.to_vec();
            lines.insert(end + 1, format!("{}{name}: {p}", " ".repeat(own)));
            origin.insert(end + 1, None);
            (lines, origin)
        });
    }
    // A value of the wrong type or variant: replace it where it starts.
    let current = lines.get(line)?;
    if col >= current.len() || !current.is_char_boundary(col) {
        return None;
    }
    // An unknown variant: the first one the error says is expected.
    let variant = field("expected one of `").or_else(|| field("expected `"));
    try_each::<T>(lines, origin, was, variant.as_deref(), |lines, origin, p| {
        let mut lines = lines.to_vec();
        let l = &lines[line];
        lines[line] = format!("{}{p}", &l[..col]);
        (lines, origin.to_vec())
    })
}

/// The first placeholder after which the typed parse gets past the problem
/// at `was` (line, column): it succeeds, or fails somewhere else that is not
/// a line the mends added.
fn try_each<T: DeserializeOwned>(
    lines: &[String],
    origin: &[Option<usize>],
    was: (usize, usize),
    first: Option<&str>,
    apply: impl Fn(&[String], &[Option<usize>], &str) -> Mended,
) -> Option<Mended> {
    first.into_iter().chain(PLACEHOLDERS.iter().copied()).find_map(|p| {
        let (l, o) = apply(lines, origin, p);
        let past = match serde_yaml::from_str::<T>(&join(&l)) {
            Ok(_) => true,
            Err(e) => e.location().is_some_and(|at| {
                (at.line(), at.column()) != was && o.get(at.line().wrapping_sub(1)).is_some_and(Option::is_some)
            }),
        };
        past.then_some((l, o))
    })
}

/// A syntax error's message, with a hint where the parser's words do not
/// say what is wrong.
fn with_hint(mut e: ConfigError, text: &str) -> ConfigError {
    let line = text.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
    if e.message.contains("cannot start any token") && line.contains('\t') {
        e.message = "YAML does not allow tabs for indentation; use spaces".into();
        e.col = line.find('\t').map_or(e.col, |i| i + 1);
    } else if e.message.contains("while scanning a quoted scalar") || e.message.contains("unexpected end of stream") {
        // libyaml points at the end of the file; the quote opens earlier.
        if let Some((l, c)) = unclosed_quote(text) {
            e.line = l;
            e.col = c;
            e.message = "this quote is never closed".into();
        }
    }
    e
}

/// Where the first quote that is never closed opens (1-based).
fn unclosed_quote(text: &str) -> Option<(usize, usize)> {
    let mut open: Option<(char, usize, usize)> = None;
    for (li, line) in text.lines().enumerate() {
        let mut chars = line.char_indices().peekable();
        while let Some((ci, ch)) = chars.next() {
            match open {
                Some((q, _, _)) if ch == q => {
                    // '' inside single quotes is an escaped quote.
                    if q == '\'' && chars.peek().is_some_and(|(_, c)| *c == '\'') {
                        chars.next();
                    } else {
                        open = None;
                    }
                }
                Some(('"', _, _)) if ch == '\\' => {
                    chars.next();
                }
                Some(_) => {}
                None if ch == '#' => break,
                None if ch == '"' || ch == '\'' => {
                    // A quote opens a scalar only at its start.
                    let before = line[..ci].trim_end();
                    if before.is_empty()
                        || before.ends_with(':')
                        || before.ends_with('-')
                        || before.ends_with('[')
                        || before.ends_with(',')
                        || before.ends_with('{')
                    {
                        open = Some((ch, li + 1, ci + 1));
                    }
                }
                None => {}
            }
        }
    }
    open.map(|(_, l, c)| (l, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        size: u32,
        kind: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Long,
        Short,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        db: String,
        items: Vec<Inner>,
    }

    fn errors(text: &str) -> Vec<String> {
        parse_all::<Outer>(text, "f.yaml")
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_missing_field_is_reported() {
        let e = errors("items:\n  - name: a\n    kind: long\n");
        assert_eq!(
            e,
            [
                "f.yaml:1:1: missing field `db`",
                "f.yaml:2:5: items[0]: missing field `size`"
            ]
        );
    }

    #[test]
    fn unknown_fields_wrong_types_and_bad_variants_are_all_reported_in_file_order() {
        let e = errors("db: x\nitems:\n  - name: a\n    size: lots\n    kind: sideways\n    colour: red\n  - nmae: b\n    size: 2\n");
        let at: Vec<&str> = e.iter().map(|m| m.split(": ").next().unwrap()).collect();
        assert_eq!(at, ["f.yaml:4:11", "f.yaml:5:11", "f.yaml:6:5", "f.yaml:7:5"], "{e:#?}");
        assert!(e[1].contains("unknown variant `sideways`"), "{e:?}");
        // A misspelt key is one error, not also "missing field `name`".
        assert!(e[3].contains("unknown field `nmae`"), "{e:?}");
        let e = errors("db: x\nitems:\n  - nmae: b\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[1].contains("missing field `size`"), "{e:?}");
    }

    #[test]
    fn a_tab_and_an_unclosed_quote_are_named() {
        let e = errors("db: x\nitems:\n\t- name: a\n");
        assert_eq!(e, ["f.yaml:3:1: YAML does not allow tabs for indentation; use spaces"]);
        let e = errors("db: \"x\nitems: []\n# more\n");
        assert_eq!(e, ["f.yaml:1:5: this quote is never closed"]);
    }

    #[test]
    fn a_good_file_parses() {
        assert!(parse_all::<Outer>("db: x\nitems: []\n", "f.yaml").is_ok());
    }
}
