//! secp256k1 keys as EVM venues use them (Nado, Hyperliquid): a signer
//! whose address is derived from its key, RFC 6979 deterministic low-s
//! signatures with `v` = 27 + recovery id, and recovery of the signer.
//! Pure; no venue names here.

use alloy_primitives::{Address, FixedBytes, B256};
use k256::ecdsa::SigningKey;

/// A secp256k1 key; the address is derived from it.
pub struct Signer {
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.address())
    }
}

impl Signer {
    /// From a 32-byte private key in hex (with or without `0x`).
    pub fn from_hex(hex: &str) -> Result<Signer, String> {
        let bytes: FixedBytes<32> = hex
            .trim()
            .parse()
            .map_err(|_| "expected a 32-byte hex private key".to_owned())?;
        let key =
            SigningKey::from_bytes(&bytes.0.into()).map_err(|_| "not a valid secp256k1 private key".to_owned())?;
        Ok(Signer { key })
    }

    pub fn address(&self) -> Address {
        let point = self.key.verifying_key().to_encoded_point(false);
        Address::from_raw_public_key(&point.as_bytes()[1..])
    }

    /// Signs a 32-byte digest: `r ‖ s ‖ v`, v = 27 + recovery id.
    pub fn sign_digest(&self, digest: B256) -> Result<[u8; 65], String> {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|e| format!("signing failed: {e}"))?;
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        Ok(out)
    }
}

/// The address that signed `digest` (`r ‖ s ‖ v`, v ∈ {27, 28}); what the
/// venue checks against the owner, its linked signer or its agent.
pub fn recover(digest: B256, signature: &[u8]) -> Result<Address, RecoverError> {
    if signature.len() != 65 {
        return Err(RecoverError::Length);
    }
    let v = signature[64];
    if v != 27 && v != 28 {
        return Err(RecoverError::V);
    }
    let sig = k256::ecdsa::Signature::from_slice(&signature[..64]).map_err(|_| RecoverError::Invalid)?;
    let recid = k256::ecdsa::RecoveryId::from_byte(v - 27).ok_or(RecoverError::V)?;
    let key = k256::ecdsa::VerifyingKey::recover_from_prehash(digest.as_slice(), &sig, recid)
        .map_err(|_| RecoverError::Invalid)?;
    let point = key.to_encoded_point(false);
    Ok(Address::from_raw_public_key(&point.as_bytes()[1..]))
}

/// Why a signature does not recover (Nado's 2027, 2034, 2035).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoverError {
    Length,
    V,
    Invalid,
}

pub fn hex0x(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
