//! API tokens. A token is shown to its holder once; the catalogue keeps only its SHA-256.
//! Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force,
//! unlike a person's password.

use crate::Sha256Digest;

/// Every token starts with this, so a leaked one is recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "cust_";

/// The token text for 32 random bytes drawn by the caller.
pub fn token_from_random(random: [u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(random))
}

/// What the catalogue stores and looks tokens up by.
pub fn token_hash(token: &str) -> String {
    Sha256Digest::of(token.as_bytes()).to_hex()
}

/// Whether a presented string has the shape of a token at all: anything else is refused
/// before it reaches the database.
pub fn looks_like_token(presented: &str) -> bool {
    presented
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A client certificate's SHA-256 thumbprint as RFC 8705 names it (`x5t#S256`): the SHA-256
/// of the certificate's DER, base64url without padding. A station's token can be bound to
/// one, so a token copied off the station is useless without the station's private key.
pub fn certificate_thumbprint(der: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    URL_SAFE_NO_PAD.encode(Sha256Digest::of(der).as_bytes())
}

/// Whether `text` has the shape of an `x5t#S256` thumbprint: 43 base64url characters (32
/// bytes), so a malformed binding is refused before it is stored.
pub fn looks_like_thumbprint(text: &str) -> bool {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    text.len() == 43
        && URL_SAFE_NO_PAD
            .decode(text)
            .is_ok_and(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_rfc_8705_x5t_s256() {
        // RFC 8705 appendix: base64url of the SHA-256 of the DER, no padding.
        let thumbprint = certificate_thumbprint(b"not really DER");
        assert!(looks_like_thumbprint(&thumbprint), "{thumbprint}");
        assert!(!thumbprint.contains(['=', '+', '/']));
        assert!(!looks_like_thumbprint(&hex::encode([0u8; 32])));
        assert!(!looks_like_thumbprint(&thumbprint[1..]));
    }

    #[test]
    fn tokens_have_a_recognisable_shape_and_distinct_hashes() {
        let a = token_from_random([7; 32]);
        let b = token_from_random([8; 32]);
        assert!(looks_like_token(&a));
        assert!(!looks_like_token(&a[1..]));
        assert!(!looks_like_token("Bearer x"));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(!token_hash(&a).contains(&a[5..]));
    }
}
