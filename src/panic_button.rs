//! `driftwatch close`: the panic button. The same path as a rule-triggered
//! close: a fresh REST read, [`crate::plan::close::size`], one client order
//! id per intent journaled before the first send, retries, verification,
//! and the outcome journaled after. Disarmed accounts (and `--dry-run`)
//! sign the exact request and do not send it.

use std::future::ready;
use std::process::ExitCode;

use rust_decimal::Decimal;

use crate::actions::close::{close_account, AccountClose, CloseOutcome};
use crate::clock;
use crate::config::{AccountConfig, Config};
use crate::domain::PositionKey;
use crate::journal::{self, Entry, Journal};
use crate::plan::close::CloseTarget;
use crate::venue::registry::CloseKeys;
use crate::venue::registry::Rest;

fn pick<'a>(c: &'a Config, account: Option<&str>) -> Result<&'a AccountConfig, String> {
    match account {
        Some(name) => c
            .accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| format!("no account named {name:?} in the config")),
        None if c.accounts.len() == 1 => Ok(&c.accounts[0]),
        None => Err("several accounts are configured: choose one with --account".into()),
    }
}

pub async fn run(
    c: &Config,
    account: Option<&str>,
    symbols: &[String],
    all: bool,
    dry_run: bool,
    print_request: bool,
) -> ExitCode {
    crate::app::install_crypto();
    let fail = |m: String| {
        eprintln!("driftwatch: {m}");
        ExitCode::FAILURE
    };
    let acc = match pick(c, account) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let Some(close) = &acc.close else {
        return fail(format!(
            "account {} has no close: section (key, armed) in the config",
            acc.name
        ));
    };
    if symbols.is_empty() && !all {
        return fail("name the symbols to close, or --all".into());
    }
    let rest = match Rest::for_account(&acc.link) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    let lots = match rest.markets().await {
        Ok(m) => m
            .into_iter()
            .map(|m| (m.symbol, m.lot_size))
            .collect::<std::collections::BTreeMap<_, _>>(),
        Err(e) => return fail(format!("cannot read lot sizes: {e}")),
    };
    // A symbol closes its net position; `SOLUSDT:long` a hedge leg.
    let targets: Vec<PositionKey> = if all {
        match rest.positions().await {
            Ok(snap) => snap
                .positions
                .into_iter()
                .filter(|p| {
                    let isolated = p.key.leg == crate::domain::Leg::Isolated;
                    if isolated {
                        eprintln!("{}: an isolated leg is not closed by --all; skipped", p.key);
                    }
                    !isolated
                })
                .map(|p| p.key)
                .collect(),
            Err(e) => return fail(format!("cannot read positions: {e}")),
        }
    } else {
        symbols
            .iter()
            .map(|s| s.parse().unwrap_or_else(|e| match e {}))
            .collect()
    };
    let armed = close.armed && !dry_run;
    let keys = match CloseKeys::load(&acc.link, &close.key) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let params = AccountClose {
        rest: &rest,
        address: &acc.link.address,
        keys: &keys,
        close,
        armed,
        cap: None,
        // The operator's own hand: no replica's leadership gates it.
        leadership: None,
    };
    let journal = match Journal::open(c.journal_url.expose()).await {
        Ok(j) => j,
        Err(e) if armed => return fail(format!("{e}: no close is sent without the journal")),
        Err(e) => {
            eprintln!("driftwatch: {e} (dry run: continuing without the journal)");
            return dry_without_journal(&params, &targets, &lots, print_request).await;
        }
    };
    let mut ok = true;
    for key in &targets {
        let symbol = key.symbol.as_str();
        let Some(lot) = lots.get(symbol).copied() else {
            eprintln!("{key}: unknown market (not in the venue's market list); skipped");
            ok = false;
            continue;
        };
        let cloid = journal::new_correlation_id();
        let entry = Entry {
            entry_id: journal::entry_id(&cloid, 0),
            correlation_id: cloid.clone(),
            created_at: clock::now(),
            kind: crate::journal::Kind::EmergencyClose,
            venue: acc.link.venue.as_str().into(),
            account: acc.name.clone(),
            symbol: symbol.to_string(),
            op: "close_position".into(),
            status: journal::Status::Pending,
            detail:
                serde_json::json!({"source": "panic_button", "armed": armed, "client_order_id": cloid, "leg": key.leg})
                    .to_string(),
            finished_at: None,
        };
        if let Err(e) = journal.record(&[entry]).await {
            eprintln!("{key}: cannot journal the close ({e}); not sent");
            ok = false;
            continue;
        }
        let outcome = close_account(&params, key, CloseTarget::Flatten, lot, &cloid, ready(Ok(()))).await;
        ok &= report(&key.to_string(), &outcome, print_request);
        let _ = journal
            .finish(&[(journal::entry_id(&cloid, 0), outcome.result())], clock::now())
            .await;
    }
    journal.close().await;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn dry_without_journal(
    params: &AccountClose<'_>,
    targets: &[PositionKey],
    lots: &std::collections::BTreeMap<String, Decimal>,
    print_request: bool,
) -> ExitCode {
    let mut ok = true;
    for key in targets {
        let lot = lots.get(key.symbol.as_str()).copied().unwrap_or(Decimal::ZERO);
        let outcome = close_account(
            params,
            key,
            CloseTarget::Flatten,
            lot,
            &journal::new_correlation_id(),
            ready(Ok(())),
        )
        .await;
        ok &= report(&key.to_string(), &outcome, print_request);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints one outcome; true when it is not a failure.
fn report(symbol: &str, outcome: &CloseOutcome, print_request: bool) -> bool {
    match outcome {
        CloseOutcome::Verified {
            order,
            order_id,
            attempts,
            closed,
            ..
        } => {
            println!(
                "{symbol}: closed {} {} reduce-only (order {}, {attempts} attempt(s)); verified by a fresh REST read",
                order.side.as_str(),
                closed.normalize(),
                order_id
                    .as_deref()
                    .unwrap_or("id lost; the venue confirmed an earlier try")
            );
            true
        }
        CloseOutcome::Unverified { order, position, .. } => {
            println!(
                "{symbol}: sent {} {} reduce-only, but the position is still {position}",
                order.side.as_str(),
                order.amount
            );
            false
        }
        CloseOutcome::AlreadyFlat => {
            println!("{symbol}: already flat");
            true
        }
        CloseOutcome::NothingToReduce => {
            println!("{symbol}: nothing to reduce");
            true
        }
        CloseOutcome::BelowOneLot { wanted } => {
            println!("{symbol}: {wanted} is less than one lot; nothing sent");
            true
        }
        CloseOutcome::Disarmed { order, body } => {
            println!(
                "{symbol}: disarmed: would send {} {} reduce-only (nothing sent)",
                order.side.as_str(),
                order.amount
            );
            if print_request {
                println!("{}", body);
            }
            true
        }
        CloseOutcome::Failed(e) => {
            println!("{symbol}: FAILED: {e}");
            false
        }
    }
}
