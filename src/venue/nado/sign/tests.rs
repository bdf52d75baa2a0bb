//! Every vector in testdata/vectors/nado_signing.json (produced by the
//! official Python SDK, cross-checked with the TypeScript SDK and viem),
//! reproduced byte for byte: digest, signature and request body (key order
//! included). Vectors are recognised by their inputs, so variants made the
//! same way (testnet, FOK, the iso bit) are checked too.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::*;
use crate::venue::nado::parse::to_x18;

#[derive(Deserialize)]
struct File<'a> {
    private_key: String,
    address: String,
    subaccount: Value,
    #[serde(borrow)]
    vectors: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Vector<'a> {
    label: String,
    inputs: Value,
    #[serde(borrow)]
    outputs: Outputs<'a>,
}

#[derive(Deserialize)]
struct Outputs<'a> {
    digest: String,
    signature: String,
    #[serde(borrow, default)]
    execute_request_body: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ws_message: Option<&'a RawValue>,
    #[serde(default)]
    appendix: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    verifying_contract: Option<String>,
}

/// The file's pretty-printed JSON, compact: no value in it holds whitespace.
fn compact(raw: &RawValue) -> String {
    raw.get().chars().filter(|c| !c.is_whitespace()).collect()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

#[test]
fn every_vector_is_reproduced_byte_for_byte() {
    let path = format!("{}/testdata/vectors/nado_signing.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let file: File<'_> = serde_json::from_str(&text).unwrap();
    let signer = Signer::from_hex(&file.private_key).unwrap();
    let owner: Address = file.address.parse().unwrap();
    assert_eq!(signer.address(), owner, "address derived from the key");
    let sender = subaccount(owner, file.subaccount["name"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex0x(sender.as_slice()),
        file.subaccount["bytes32_hex"].as_str().unwrap()
    );

    let mut kinds = std::collections::BTreeSet::new();
    for raw in &file.vectors {
        let v: Vector<'_> = serde_json::from_str(raw.get()).unwrap();
        let i = &v.inputs;
        let chain_id = u64_of(&i["chain_id"]);
        let signed = if i.get("order_type").is_some() {
            kinds.insert("order");
            let order_type = match i["order_type"].as_str().unwrap() {
                "IOC" => OrderType::Ioc,
                "FOK" => OrderType::Fok,
                "POST_ONLY" | "PostOnly" => OrderType::PostOnly,
                _ => OrderType::Default,
            };
            let app = appendix(
                order_type,
                i["reduce_only"].as_bool().unwrap(),
                i["isolated_bit"].as_bool().unwrap_or(false),
            );
            let n = nonce(u64_of(&i["recv_time_ms"]), u64_of(&i["random_int"]) as u32);
            assert_eq!(Some(app.to_string()), v.outputs.appendix, "{}: appendix", v.label);
            assert_eq!(Some(n.to_string()), v.outputs.nonce, "{}: nonce", v.label);
            let product_id = u64_of(&i["product_id"]) as u32;
            assert_eq!(
                Some(format!("{:?}", product_address(product_id)).to_lowercase()),
                v.outputs.verifying_contract.map(|s| s.to_lowercase()),
                "{}: verifying contract",
                v.label
            );
            let p = OrderParams {
                chain_id,
                product_id,
                sender,
                price_x18: to_x18(i["worst_price_decimal"].as_str().unwrap().parse().unwrap()).unwrap(),
                amount_x18: to_x18(i["amount_decimal"].as_str().unwrap().parse().unwrap()).unwrap(),
                expiration: u64_of(&i["expiration"]),
                nonce: n,
                appendix: app,
            };
            sign_order(&signer, &p).unwrap()
        } else if i.get("productIds").is_some() {
            kinds.insert("cancel_product_orders");
            let ids: Vec<u32> = i["productIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| u64_of(x) as u32)
                .collect();
            sign_cancel_product_orders(
                &signer,
                chain_id,
                i["verifying_contract"].as_str().unwrap().parse().unwrap(),
                sender,
                &ids,
                nonce(u64_of(&i["recv_time_ms"]), u64_of(&i["random_int"]) as u32),
            )
            .unwrap()
        } else if i.get("expiration_ms").is_some() {
            kinds.insert("stream_authentication");
            sign_stream_authentication(
                &signer,
                chain_id,
                i["verifying_contract"].as_str().unwrap().parse().unwrap(),
                sender,
                u64_of(&i["expiration_ms"]),
                1,
            )
            .unwrap()
        } else {
            panic!("{}: unknown vector kind", v.label);
        };
        assert_eq!(hex0x(signed.digest.as_slice()), v.outputs.digest, "{}: digest", v.label);
        assert_eq!(hex0x(&signed.signature), v.outputs.signature, "{}: signature", v.label);
        let expected = v
            .outputs
            .execute_request_body
            .or(v.outputs.ws_message)
            .expect("a body or a ws message");
        assert_eq!(signed.body, compact(expected), "{}: body", v.label);
    }
    assert_eq!(kinds.len(), 3, "orders, cancels and stream authentication all covered");
}

#[test]
fn appendix_and_nonce_layouts() {
    assert_eq!(appendix(OrderType::Ioc, true, false), 2561);
    assert_eq!(appendix(OrderType::Fok, true, false), 3073);
    assert_eq!(appendix(OrderType::Ioc, true, true), 2817);
    assert_eq!(appendix(OrderType::Default, false, false), 1);
    assert_eq!(appendix(OrderType::PostOnly, false, false), 1537);
    assert_eq!(nonce(1_767_225_600_000, 12345), 1_853_070_350_745_612_345);
    // The random part never spills into the time.
    assert_eq!(nonce(1, u32::MAX) >> 20, 1);
    assert_eq!(
        format!("{:?}", product_address(4)),
        "0x0000000000000000000000000000000000000004"
    );
    assert!(subaccount(Address::ZERO, "a-name-too-long").is_err());
}
