//! Issue [hyperliquid] part 5: the offline panic button signs Hyperliquid
//! closes. Every order vector of testdata/vectors/hyperliquid_signing.json
//! (the official SDK's) comes out of `driftwatch close --offline --venue
//! hyperliquid` byte for byte as the SDK sends it (less its JSON spaces),
//! a key that is not the account's is refused, and the account's agent is
//! signed for with `--agent`.

mod common;

use common::*;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/testdata/vectors/hyperliquid_signing.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap()
}

/// The command line for a vector's inputs, with the key in `dir`.
fn args(dir: &TempDir, inputs: &Value, key: &str, address: &str) -> Vec<String> {
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let mut a: Vec<String> = [
        "close",
        "--offline",
        "--venue",
        "hyperliquid",
        "--key-file",
        key_file.to_str().unwrap(),
        "--address",
        address,
        "--symbol",
        inputs["coin"].as_str().unwrap(),
        "--side",
        if inputs["is_buy"].as_bool().unwrap() {
            "bid"
        } else {
            "ask"
        },
        "--amount",
        &inputs["sz"].to_string(),
        "--price",
        &inputs["limit_px"].to_string(),
        "--asset",
        &inputs["asset"].to_string(),
        "--nonce",
        &inputs["nonce"].to_string(),
        "--client-order-id",
        inputs["cloid"].as_str().unwrap(),
        "--network",
        if inputs["is_mainnet"].as_bool().unwrap() {
            "mainnet"
        } else {
            "testnet"
        },
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(v) = inputs["vault_address"].as_str() {
        a.extend(["--vault".to_string(), v.to_string()]);
    }
    if let Some(t) = inputs["expires_after"].as_u64() {
        a.extend(["--expires-after".to_string(), t.to_string()]);
    }
    a
}

#[tokio::test]
async fn every_order_vector_comes_out_of_the_panic_button_as_the_sdk_sends_it() {
    let v = vectors();
    let mut checked = 0;
    for vector in v["vectors"].as_array().unwrap() {
        let inputs = &vector["inputs"];
        if inputs["action_type"] == "scheduleCancel" {
            continue;
        }
        let dir = TempDir::new("hl-offline");
        let (code, stdout, stderr) = run_driftwatch(args(
            &dir,
            inputs,
            inputs["signer_private_key"].as_str().unwrap(),
            inputs["signer_address"].as_str().unwrap(),
        ))
        .await;
        let name = vector["name"].as_str().unwrap();
        assert_eq!(code, 0, "{name}: {stderr}");
        let sent = vector["post"]["body_as_sent_by_python_requests"].as_str().unwrap();
        assert_eq!(stdout.trim(), sent.replace(", ", ",").replace(": ", ":"), "{name}");
        checked += 1;
    }
    assert!(checked >= 3, "{checked} order vectors");
}

#[tokio::test]
async fn a_key_that_is_not_the_accounts_is_refused_unless_it_is_its_agent() {
    let v = vectors();
    let inputs = &v["vectors"][0]["inputs"];
    let master = inputs["signer_address"].as_str().unwrap();
    let agent_key = v["keys"]["agent"]["private_key"].as_str().unwrap();
    let dir = TempDir::new("hl-agent");
    let (code, _, stderr) = run_driftwatch(args(&dir, inputs, agent_key, master)).await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("not the account") && stderr.contains("--agent"),
        "{stderr}"
    );
    let mut with_agent = args(&dir, inputs, agent_key, master);
    with_agent.push("--agent".into());
    let (code, stdout, stderr) = run_driftwatch(with_agent).await;
    assert_eq!(code, 0, "{stderr}");
    let body: Value = serde_json::from_str(stdout.trim()).unwrap();
    // Same action and nonce as the master's vector; the agent's signature.
    assert_eq!(body["action"], v["vectors"][0]["post"]["body"]["action"]);
    assert_ne!(body["signature"], v["vectors"][0]["post"]["body"]["signature"]);
    // Nothing without the inputs an exact request needs.
    let mut missing = args(&dir, inputs, inputs["signer_private_key"].as_str().unwrap(), master);
    let i = missing.iter().position(|a| a == "--nonce").unwrap();
    missing.drain(i..i + 2);
    let (code, _, stderr) = run_driftwatch(missing).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("--nonce"), "{stderr}");
}
