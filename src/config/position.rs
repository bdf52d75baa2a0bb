//! Where each value of a YAML document sits, by path (`accounts[0].mapping.table`).
//!
//! serde_yaml reports the location of the first structural error itself;
//! this index lets the semantic checks that run after deserialization point
//! at the exact line and column of the value they reject.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Default)]
pub struct PositionIndex {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl PositionIndex {
    /// Indexes `text`. A document that does not scan yields an empty index
    /// (serde_yaml reports the syntax error with its own location).
    pub fn build(text: &str) -> PositionIndex {
        let mut rx = Receiver::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut rx, false);
        PositionIndex {
            values: rx.values,
            keys: rx.keys,
        }
    }

    /// The position of the key of `path` (for errors about the key itself),
    /// else of its value.
    pub fn find_key(&self, path: &str) -> Pos {
        self.keys.get(path).copied().unwrap_or_else(|| self.find(path))
    }

    /// The position of the value at `path`, or of its nearest indexed parent.
    pub fn find(&self, path: &str) -> Pos {
        let mut p = path.to_owned();
        loop {
            if let Some(pos) = self.values.get(&p) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.values.get("").copied().unwrap_or(Pos { line: 1, col: 1 }),
            }
        }
    }
}

enum Frame {
    Map { path: String, key: Option<(String, Pos)> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Receiver {
    stack: Vec<Frame>,
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
    /// Container paths whose recorded position is the parser's mark for the
    /// container start (which for block mappings points past the first key);
    /// replaced by the first key's position when it arrives.
    provisional: Option<String>,
}

impl Receiver {
    /// The path of the value that starts now and, for values of a mapping,
    /// the position of their key; `None` when a map key starts.
    fn next_value_path(&mut self) -> Option<(String, Option<Pos>)> {
        match self.stack.last_mut() {
            None => Some((String::new(), None)),
            Some(Frame::Map { key: None, .. }) => None,
            Some(Frame::Map { path, key }) => {
                let (k, key_pos) = key.take().unwrap_or_default();
                Some((if path.is_empty() { k } else { format!("{path}.{k}") }, Some(key_pos)))
            }
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some((p, None))
            }
        }
    }
}

impl Default for Pos {
    fn default() -> Self {
        Pos { line: 1, col: 1 }
    }
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos {
            line: mark.line(),
            col: mark.col() + 1,
        };
        match ev {
            Event::Scalar(value, ..) => match self.next_value_path() {
                Some((path, _)) => {
                    self.values.insert(path, pos);
                }
                None => {
                    if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                        if self.provisional.as_deref() == Some(path.as_str()) {
                            self.values.insert(path.clone(), pos);
                            self.provisional = None;
                        }
                        let key_path = if path.is_empty() {
                            value.clone()
                        } else {
                            format!("{path}.{value}")
                        };
                        self.keys.insert(key_path, pos);
                        *key = Some((value, pos));
                    }
                }
            },
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let (path, key_pos) = self.next_value_path().unwrap_or_default();
                let is_map = matches!(ev, Event::MappingStart(..));
                // A container that is a mapping value is located at its key;
                // a mapping inside a sequence at its first key.
                let at = key_pos.unwrap_or(pos);
                self.values.insert(path.clone(), at);
                if is_map && key_pos.is_none() {
                    self.provisional = Some(path.clone());
                }
                self.stack.push(if is_map {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, index: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                let _ = self.next_value_path();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_point_at_values() {
        let text = "listen: 1.2.3.4:5\naccounts:\n  - name: a\n    mapping:\n      table: \"x;y\"\n  - name: b\n";
        let idx = PositionIndex::build(text);
        assert_eq!(idx.find("listen"), Pos { line: 1, col: 9 });
        assert_eq!(idx.find("accounts[0].name"), Pos { line: 3, col: 11 });
        assert_eq!(idx.find("accounts[0].mapping.table"), Pos { line: 5, col: 14 });
        assert_eq!(idx.find("accounts[1].name"), Pos { line: 6, col: 11 });
        // Unknown paths fall back to the nearest parent.
        assert_eq!(idx.find("accounts[1].mapping.table"), Pos { line: 6, col: 5 });
    }
}
