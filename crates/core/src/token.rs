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

#[cfg(test)]
mod tests {
    use super::*;

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
