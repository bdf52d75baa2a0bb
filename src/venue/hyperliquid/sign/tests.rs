//! Every vector in testdata/vectors/hyperliquid_signing.json (made by the
//! official `hyperliquid-python-sdk` 0.24.0, cross-checked with
//! `@nktkas/hyperliquid` + viem), reproduced byte for byte from the
//! vector's inputs: the msgpack, the hash input, the action hash, the
//! EIP-712 digest, r/s/v and the body (key order included). Vectors are
//! recognised by their inputs, so others made the same way (testnet, an
//! agent key, a vault, expiresAfter) are checked too.

use std::str::FromStr;

use serde_json::Value;

use super::*;

fn file() -> Value {
    serde_json::from_str(include_str!("../../../../testdata/vectors/hyperliquid_signing.json")).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decimal of a vector's number (as the SDK got it: a JSON float).
fn dec(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap()
}

/// The action and signing parameters of a vector, from its inputs only.
fn built(inputs: &Value) -> (Action, Signing, Signer) {
    let action = if inputs["action_type"] == "scheduleCancel" {
        Action::schedule_cancel(inputs["time"].as_u64())
    } else {
        Action::close(&CloseOrder {
            asset: inputs["asset"].as_u64().unwrap() as u32,
            is_buy: inputs["is_buy"].as_bool().unwrap(),
            price: dec(&inputs["limit_px"]),
            size: dec(&inputs["sz"]),
            cloid: inputs["cloid"].as_str().unwrap().to_owned(),
        })
        .unwrap()
    };
    let signing = Signing {
        nonce: inputs["nonce"].as_u64().unwrap(),
        vault: inputs["vault_address"].as_str().map(|a| a.parse().unwrap()),
        expires_after: inputs["expires_after"].as_u64(),
        network: if inputs["is_mainnet"].as_bool().unwrap() {
            Network::Mainnet
        } else {
            Network::Testnet
        },
    };
    let signer = Signer::from_hex(inputs["signer_private_key"].as_str().unwrap()).unwrap();
    (action, signing, signer)
}

#[test]
fn every_vector_is_reproduced_byte_for_byte() {
    let f = file();
    let vectors = f["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let (action, signing, signer) = built(&v["inputs"]);
        assert_eq!(
            format!("{:#x}", signer.address()),
            v["inputs"]["signer_address"].as_str().unwrap().to_lowercase(),
            "{name}: signer"
        );
        assert_eq!(
            hex(&action.msgpack().unwrap()),
            v["msgpack_action_hex"].as_str().unwrap(),
            "{name}: msgpack"
        );
        assert_eq!(
            hex(&hash_input(&action, &signing).unwrap()),
            v["hash_input_hex"].as_str().unwrap(),
            "{name}: hash input"
        );
        assert_eq!(
            format!("{:#x}", action_hash(&action, &signing).unwrap()),
            v["action_hash"].as_str().unwrap(),
            "{name}: action hash"
        );
        assert_eq!(
            format!("{:#x}", digest(&action, &signing).unwrap()),
            v["eip712_digest"].as_str().unwrap(),
            "{name}: digest"
        );
        let body = sign(&signer, action, &signing).unwrap();
        assert_eq!(body.signature.r, v["signature"]["r"].as_str().unwrap(), "{name}: r");
        assert_eq!(body.signature.s, v["signature"]["s"].as_str().unwrap(), "{name}: s");
        assert_eq!(
            body.signature.v as u64,
            v["signature"]["v"].as_u64().unwrap(),
            "{name}: v"
        );
        // The body: equal as JSON, and its keys in the SDK's order.
        let text = serde_json::to_string(&body).unwrap();
        let ours: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(ours, v["post"]["body"], "{name}: body");
        let sent = v["post"]["body_as_sent_by_python_requests"].as_str().unwrap();
        assert_eq!(text, sent.replace(", ", ",").replace(": ", ":"), "{name}: body bytes");
        // The venue recovers the signer from the signature.
        let sig: Vec<u8> = [
            U256::from_str(&body.signature.r).unwrap().to_be_bytes::<32>().to_vec(),
            U256::from_str(&body.signature.s).unwrap().to_be_bytes::<32>().to_vec(),
            vec![body.signature.v],
        ]
        .concat();
        let recovered = crate::venue::evm::recover(digest(&body.action, &signing).unwrap(), &sig).unwrap();
        assert_eq!(
            format!("{recovered:#x}"),
            v["recovered_address"].as_str().unwrap().to_lowercase(),
            "{name}: recovered"
        );
    }
}

#[test]
fn the_domain_separator_is_the_documented_constant() {
    let f = file();
    let v = &f["vectors"][0];
    assert_eq!(
        format!("{:#x}", domain().separator()),
        v["eip712_domain_separator"].as_str().unwrap()
    );
}

#[test]
fn prices_and_sizes_go_on_the_wire_as_the_sdk_writes_them() {
    let f = file();
    for (input, wire) in f["float_to_wire_examples"].as_object().unwrap() {
        let d = Decimal::from_str(input)
            .or_else(|_| Decimal::from_scientific(input))
            .unwrap();
        let d = d.round_dp(8);
        assert_eq!(to_wire(d).unwrap(), wire.as_str().unwrap(), "{input}");
    }
    assert!(to_wire(Decimal::from_str("0.000000001").unwrap()).is_err());
    assert_eq!(to_wire(Decimal::from_str("-0.0").unwrap()).unwrap(), "0");
}

/// The same order on testnet, signed by the agent, for a vault, with an
/// expiry: each moves only what it should.
#[test]
fn network_agent_vault_and_expiry_enter_where_the_reference_says() {
    let f = file();
    let (action, base, master) = built(&f["vectors"][0]["inputs"]);
    let agent = Signer::from_hex(f["keys"]["agent"]["private_key"].as_str().unwrap()).unwrap();
    assert_eq!(
        format!("{:#x}", agent.address()),
        f["keys"]["agent"]["address"].as_str().unwrap().to_lowercase()
    );
    let testnet = Signing {
        network: Network::Testnet,
        ..base.clone()
    };
    // The network enters only the phantom agent: same hash, another digest.
    assert_eq!(
        action_hash(&action, &testnet).unwrap(),
        action_hash(&action, &base).unwrap()
    );
    assert_ne!(digest(&action, &testnet).unwrap(), digest(&action, &base).unwrap());
    // An agent signs the same digest; the venue recovers the agent.
    let body = sign(&agent, action.clone(), &base).unwrap();
    let sig: Vec<u8> = [
        U256::from_str(&body.signature.r).unwrap().to_be_bytes::<32>().to_vec(),
        U256::from_str(&body.signature.s).unwrap().to_be_bytes::<32>().to_vec(),
        vec![body.signature.v],
    ]
    .concat();
    let who = crate::venue::evm::recover(digest(&action, &base).unwrap(), &sig).unwrap();
    assert_eq!(who, agent.address());
    assert_ne!(who, master.address());
    // expiresAfter appends 00 ‖ u64 BE.
    let expiring = Signing {
        expires_after: Some(1_716_200_060_000),
        ..base.clone()
    };
    let with = hash_input(&action, &expiring).unwrap();
    let without = hash_input(&action, &base).unwrap();
    assert_eq!(&with[..without.len()], &without[..]);
    assert_eq!(hex(&with[without.len()..]), "000000018f957eb460");
}

#[test]
fn a_close_refuses_what_it_cannot_sign_exactly() {
    let ok = CloseOrder {
        asset: 1,
        is_buy: false,
        price: Decimal::from_str("2850.5").unwrap(),
        size: Decimal::from_str("0.01").unwrap(),
        cloid: "0x64726966747761746368000000000001".into(),
    };
    assert!(Action::close(&ok).is_ok());
    for bad in [
        CloseOrder {
            cloid: "0x1234".into(),
            ..ok.clone()
        },
        CloseOrder {
            size: Decimal::ZERO,
            ..ok.clone()
        },
        CloseOrder {
            price: Decimal::from_str("0.123456789").unwrap(),
            ..ok.clone()
        },
    ] {
        assert!(Action::close(&bad).is_err(), "{bad:?}");
    }
    // An upper-case cloid is signed in lower case (the server's form).
    let upper = Action::close(&CloseOrder {
        cloid: "0x64726966747761746368000000000ABC".into(),
        ..ok
    })
    .unwrap();
    let Action::Order(o) = upper else { unreachable!() };
    assert_eq!(o.orders[0].c.as_deref(), Some("0x64726966747761746368000000000abc"));
}
