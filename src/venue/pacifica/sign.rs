//! Pacifica request signing (pacifica.md §6), byte for byte as the official
//! Python SDK's `sign_message` does it. Pure.
//!
//! 1. message = `{"data": payload, "expiry_window": …, "timestamp": …, "type": …}`;
//! 2. every object's keys sorted by code point, at every depth; arrays keep
//!    their order;
//! 3. compact JSON (`,` and `:` without spaces), non-ASCII escaped as
//!    `\uXXXX` (Python's `ensure_ascii`);
//! 4. Ed25519 over the UTF-8 bytes with the signer's 32-byte seed (the main
//!    key, or the agent wallet's); the signature in base58.
//!
//! The body is `{account, [agent_wallet], signature, timestamp,
//! expiry_window, …payload}`: the payload's fields at top level, no `type`.
//! The canonical text is written here, not by serde_json, so a dependency
//! turning on serde_json's `preserve_order` cannot change a signature.
//! Floats are refused: every decimal is a string on this venue.

use std::fmt::Write;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde_json::{Map, Value};

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("invalid key: {0}")]
    Key(String),
    #[error("payload contains a non-integer number ({0}); decimals must be strings")]
    Float(String),
}

/// An Ed25519 key that signs for an account.
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public_base58())
    }
}

impl Keypair {
    /// A Solana-style key string: base58 of the 64-byte seed ‖ public key
    /// (checked), or of the 32-byte seed alone.
    pub fn from_base58(s: &str) -> Result<Keypair, SignError> {
        let bytes = bs58::decode(s.trim())
            .into_vec()
            .map_err(|e| SignError::Key(format!("not base58: {e}")))?;
        let seed: [u8; 32] = bytes
            .get(..32)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SignError::Key(format!("{} bytes; expected 32 or 64", bytes.len())))?;
        let kp = Keypair::from_seed(seed);
        match bytes.len() {
            32 => Ok(kp),
            64 if bytes[32..] == kp.signing.verifying_key().to_bytes() => Ok(kp),
            64 => Err(SignError::Key("the last 32 bytes are not the seed's public key".into())),
            n => Err(SignError::Key(format!("{n} bytes; expected 32 or 64"))),
        }
    }

    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn public_base58(&self) -> String {
        bs58::encode(self.signing.verifying_key().to_bytes()).into_string()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The base58 Ed25519 signature of `message`'s UTF-8 bytes.
    pub fn sign(&self, message: &str) -> String {
        bs58::encode(self.signing.sign(message.as_bytes()).to_bytes()).into_string()
    }
}

/// Appends `s` as a JSON string, escaped as Python's `json.dumps` does with
/// `ensure_ascii=True`.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `v` as canonical JSON: sorted keys, compact, ASCII only.
pub fn write_canonical(out: &mut String, v: &Value) -> Result<(), SignError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                let _ = write!(out, "{n}");
            } else {
                return Err(SignError::Float(n.to_string()));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // Code-point order of the keys (Rust's str order is byte order,
            // which is the same for UTF-8).
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_canonical(out, &map[k.as_str()])?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// The signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The operation, e.g. `create_market_order`.
    pub kind: String,
    pub timestamp: u64,
    pub expiry_window: u64,
}

/// The exact text that is signed.
pub fn canonical_message(header: &Header, payload: &Map<String, Value>) -> Result<String, SignError> {
    let mut msg = Map::new();
    msg.insert("type".into(), Value::String(header.kind.clone()));
    msg.insert("timestamp".into(), Value::from(header.timestamp));
    msg.insert("expiry_window".into(), Value::from(header.expiry_window));
    msg.insert("data".into(), Value::Object(payload.clone()));
    let mut out = String::new();
    write_canonical(&mut out, &Value::Object(msg))?;
    Ok(out)
}

/// A signed request, ready for REST or the WebSocket.
#[derive(Debug, Clone, PartialEq)]
pub struct Signed {
    pub message: String,
    pub signature: String,
    /// The REST body (and the WS `params` value).
    pub body: Map<String, Value>,
}

/// Signs `payload` for `account`. With `agent`, the agent wallet signs and
/// its public key goes in the body as `agent_wallet`; `account` stays the
/// main account.
pub fn sign_request(
    account: &str,
    signer: &Keypair,
    agent: bool,
    header: &Header,
    payload: &Map<String, Value>,
) -> Result<Signed, SignError> {
    let message = canonical_message(header, payload)?;
    let signature = signer.sign(&message);
    let mut body = Map::new();
    body.insert("account".into(), Value::String(account.to_owned()));
    if agent {
        body.insert("agent_wallet".into(), Value::String(signer.public_base58()));
    }
    body.insert("signature".into(), Value::String(signature.clone()));
    body.insert("timestamp".into(), Value::from(header.timestamp));
    body.insert("expiry_window".into(), Value::from(header.expiry_window));
    for (k, v) in payload {
        body.insert(k.clone(), v.clone());
    }
    Ok(Signed {
        message,
        signature,
        body,
    })
}

/// The WebSocket form: `{"id": …, "params": {"<type>": body}}`.
pub fn ws_message(id: &str, header: &Header, signed: &Signed) -> Value {
    let mut params = Map::new();
    params.insert(header.kind.clone(), Value::Object(signed.body.clone()));
    serde_json::json!({"id": id, "params": params})
}

/// Checks a signature the way the venue does (used by the simulator).
pub fn verify(public_base58: &str, message: &str, signature_base58: &str) -> bool {
    let Ok(pk) = bs58::decode(public_base58).into_vec() else {
        return false;
    };
    let Ok(sig) = bs58::decode(signature_base58).into_vec() else {
        return false;
    };
    let (Ok(pk), Ok(sig)) = (
        <[u8; 32]>::try_from(pk.as_slice()),
        <[u8; 64]>::try_from(sig.as_slice()),
    ) else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    key.verify_strict(message.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

#[cfg(test)]
mod tests;
