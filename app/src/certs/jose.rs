//! The little of JOSE that a VC-JWT needs: base64url, EdDSA (Ed25519) JWS compact
//! serialisation, and JWKs of type OKP.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{json, Value};

/// base64url without padding, as JOSE writes it.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Signs `payload` as a compact JWS with header `{alg: EdDSA, kid, typ}`.
pub fn sign(key: &SigningKey, kid: &str, typ: &str, payload: &Value) -> String {
    let header = json!({ "alg": "EdDSA", "kid": kid, "typ": typ });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

/// A compact JWS taken apart, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Value,
    pub payload: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    /// Splits and decodes; the error says plainly what is malformed.
    pub fn parse(token: &str) -> Result<Jws, String> {
        let token = token.trim();
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            return Err(format!(
                "not a JWT: expected three dot-separated parts, found {}",
                parts.len()
            ));
        };
        let json = |part: &str, what: &str| -> Result<Value, String> {
            let bytes = unb64(part).ok_or_else(|| format!("the {what} is not valid base64url"))?;
            serde_json::from_slice(&bytes).map_err(|_| format!("the {what} is not valid JSON"))
        };
        let header = json(h, "header")?;
        let payload = json(p, "payload")?;
        let signature = unb64(s).ok_or("the signature is not valid base64url")?;
        Ok(Jws {
            header,
            payload,
            signing_input: format!("{h}.{p}"),
            signature,
        })
    }

    /// The key id the header names.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Checks the algorithm and the signature against `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), String> {
        match self.header.get("alg").and_then(Value::as_str) {
            Some("EdDSA") | Some("Ed25519") => {}
            Some(other) => return Err(format!("unsupported algorithm {other:?} (expected EdDSA)")),
            None => return Err("the header names no algorithm".into()),
        }
        let bytes: [u8; 64] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| "the signature is not 64 bytes long, so not Ed25519".to_string())?;
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        key.verify(self.signing_input.as_bytes(), &sig).map_err(|_| {
            "the signature does not match: the credential was altered after signing, or signed with another key".to_string()
        })
    }
}

/// A public key as a JWK (OKP, Ed25519).
pub fn jwk(kid: &str, key: &VerifyingKey) -> Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64(key.as_bytes()),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    })
}

/// The Ed25519 keys of a JWKS document, by kid; other key types are skipped.
pub fn keys_from_jwks(jwks: &Value) -> Result<Vec<(String, VerifyingKey)>, String> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no \"keys\" array")?;
    Ok(keys
        .iter()
        .filter(|k| k.get("kty").and_then(Value::as_str) == Some("OKP"))
        .filter(|k| k.get("crv").and_then(Value::as_str) == Some("Ed25519"))
        .filter_map(|k| {
            let kid = k.get("kid")?.as_str()?.to_string();
            let x = unb64(k.get("x")?.as_str()?)?;
            let bytes: [u8; 32] = x.as_slice().try_into().ok()?;
            Some((kid, VerifyingKey::from_bytes(&bytes).ok()?))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let token = sign(&key, "k1", "vc+jwt", &json!({"a": 1}));
        let jws = Jws::parse(&token).expect("parse");
        assert_eq!(jws.kid(), Some("k1"));
        assert!(jws.verify(&key.verifying_key()).is_ok());
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(jws.verify(&other.verifying_key()).is_err());
        let jwks = json!({"keys": [jwk("k1", &key.verifying_key())]});
        assert_eq!(keys_from_jwks(&jwks).expect("jwks").len(), 1);
        assert!(Jws::parse("a.b").is_err());
    }
}
