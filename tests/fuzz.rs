//! Every parser of outside input, fed mutated real inputs and random text:
//! venue frames and replies (Pacifica, Nado), the config, rule files and
//! recordings. The property is the brief's "bad input gets a clear error,
//! never a panic": each call returns `Ok` or `Err`, and a panic fails the
//! target with the input that caused it.
//!
//! Under `cargo test` each target runs a few hundred inputs. A long run is a
//! command of its own: `FUZZ_SECONDS=600 cargo test --release --test fuzz -- --test-threads=1`
//! (each target for that long).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// Characters that matter to the formats: structure, numbers, escapes.
const ALPHABET: &[char] = &[
    '{', '}', '[', ']', '"', ':', ',', '-', '.', 'e', 'E', '0', '1', '9', '\\', ' ', '\n', '\t', '#', '&', '*', '!',
    '|', '>', 'n', 't', 'f', 'u', '\u{0}', 'é', '€', '😀',
];

/// One edit: at a position (a fraction of the length), delete, insert or
/// replace with a character, or duplicate a slice.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        3 => proptest::sample::select(ALPHABET),
        1 => any::<char>(),
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), 1..40usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply(seed: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match *e {
            Edit::Delete(i) if !chars.is_empty() => {
                let i = at(i, chars.len());
                chars.remove(i);
            }
            Edit::Delete(_) => {}
            Edit::Insert(i, c) => {
                let i = at(i, chars.len() + 1);
                chars.insert(i, c);
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let i = at(i, chars.len());
                chars[i] = c;
            }
            Edit::Replace(..) => {}
            Edit::Duplicate(i, n) if !chars.is_empty() => {
                let i = at(i, chars.len());
                let slice: Vec<char> = chars[i..(i + n).min(chars.len())].to_vec();
                for (k, c) in slice.into_iter().enumerate() {
                    chars.insert(i + k, c);
                }
            }
            Edit::Duplicate(..) => {}
        }
    }
    chars.into_iter().collect()
}

/// An input: a seed mutated by a few edits, or random text.
fn input(seeds: Vec<String>) -> impl Strategy<Value = String> {
    let n = seeds.len();
    prop_oneof![
        8 => (0..n, proptest::collection::vec(edit(), 0..6)).prop_map(move |(i, edits)| apply(&seeds[i], &edits)),
        1 => ".{0,300}",
    ]
}

/// Runs `check` on inputs for `FUZZ_SECONDS` (or 300 inputs), failing with
/// the input on a panic.
fn fuzz(name: &str, seeds: Vec<String>, check: impl Fn(&str)) {
    let deadline = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| Instant::now() + Duration::from_secs(s));
    let strategy = input(seeds);
    let mut runner = TestRunner::deterministic();
    let mut count = 0u64;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if count >= 300 => break,
            _ => {}
        }
        let text = strategy.new_tree(&mut runner).expect("a value").current();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&text)));
        assert!(outcome.is_ok(), "{name}: panicked on input {text:?}");
        count += 1;
    }
    if deadline.is_some() {
        println!("{name}: {count} inputs, no panic");
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn seeds(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| read(p)).collect()
}

#[test]
fn pacifica_frames_and_replies() {
    use driftwatch::venue::pacifica::parse;
    let mut s = seeds(&[
        "testdata/pacifica/ws_account_positions.json",
        "testdata/pacifica/ws_account_trades.json",
        "testdata/pacifica/http_get_positions.json",
        "testdata/pacifica/http_get_info.json",
    ]);
    s.push(r#"{"channel":"pong"}"#.into());
    s.push(r#"{"success":false,"data":null,"error":"Order amount too low","code":22}"#.into());
    fuzz("pacifica", s, |t| {
        let _ = parse::ws_frame(t);
        for status in [200, 422, 429, 500] {
            let _ = parse::positions_response(status, t.as_bytes());
            let _ = parse::info_response(status, t.as_bytes());
            let _ = parse::order_response(status, t.as_bytes());
            let _ = parse::prices_response(status, t.as_bytes());
        }
        let _ = parse::retry_after(Some(t), Some(t));
    });
}

#[test]
fn nado_frames_and_replies() {
    use driftwatch::venue::nado::parse;
    let products = parse::symbols(&read("testdata/nado/rest_symbols.json")).unwrap();
    let s = seeds(&[
        "testdata/nado/rest_contracts.json",
        "testdata/nado/rest_isolated_positions.json",
        "testdata/nado/rest_market_price.json",
        "testdata/nado/rest_place_order_2056.json",
        "testdata/nado/rest_place_order_ok.json",
        "testdata/nado/rest_subaccount_info.json",
        "testdata/nado/rest_symbols.json",
        "testdata/nado/ws_error.json",
        "testdata/nado/ws_fill.json",
        "testdata/nado/ws_liquidation.json",
        "testdata/nado/ws_position_change.json",
        "testdata/nado/ws_position_change_isolated.json",
        "testdata/nado/ws_position_change_quote.json",
        "testdata/nado/ws_subscribe_ack.json",
    ]);
    fuzz("nado", s, |t| {
        let _ = parse::ws_frame(t, &products);
        let _ = parse::subaccount_info(t, &products);
        let _ = parse::isolated_positions(t, &products);
        let _ = parse::symbols(t);
        let _ = parse::contracts(t);
        let _ = parse::market_price(t);
        let _ = parse::place_order_response(t);
        let _ = parse::execute_ok(t);
        let _ = parse::parse_x18(t);
    });
}

#[test]
fn config_files() {
    let s = seeds(&[
        "testdata/config/valid.yaml",
        "deploy/driftwatch.yaml",
        "src/demo/pacifica.yaml",
        "src/demo/nado.yaml",
        "testdata/config/invalid-many.yaml",
    ]);
    let env: HashMap<String, String> = HashMap::new();
    fuzz("config", s, |t| {
        let _ = driftwatch::config::parse(t, Path::new("fuzz.yaml"), &env);
    });
}

#[test]
fn rule_files() {
    let s = seeds(&["rules/default.yaml", "rules/delta-neutral.yaml"]);
    fuzz("rules", s, |t| {
        let _ = driftwatch::rules::file::compile(t, Path::new("fuzz.yaml"));
    });
}

#[test]
fn recordings() {
    // The first lines of each shipped recording: the header and every kind
    // of observation near the start.
    let s: Vec<String> = ["recordings/sol.jsonl", "recordings/incident.jsonl"]
        .iter()
        .filter(|p| Path::new(env!("CARGO_MANIFEST_DIR")).join(p).exists())
        .map(|p| read(p).lines().take(40).collect::<Vec<_>>().join("\n"))
        .collect();
    fuzz("recordings", s, |t| {
        let _ = driftwatch::replay::parse(t);
    });
}
