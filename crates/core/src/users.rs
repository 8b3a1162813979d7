//! People: users of a bureau with a role and a password, and the sessions they log in to.
//! Passwords are stored as argon2id hashes; a session is a random token shown once and kept
//! as its SHA-256, like an API token, and it ends after a fixed time.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Every session token starts with this.
pub const SESSION_PREFIX: &str = "sess_";

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("user name {0:?} may hold only letters, digits, '.', '_' and '-' (1 to 64)")]
    BadName(String),
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

pub fn check_username(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(name.to_owned()))
    }
}

/// The argon2id hash of `password` (PHC string), with a salt from the caller's randomness.
pub fn hash_password(password: &str, salt: [u8; 16]) -> Result<String, UserError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::TooShort);
    }
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` matches a stored hash (false for a hash that does not parse).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

pub fn session_token(random: [u8; 32]) -> String {
    format!("{SESSION_PREFIX}{}", hex::encode(random))
}

pub fn looks_like_session(presented: &str) -> bool {
    presented
        .strip_prefix(SESSION_PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse battery", [7; 16]).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_eq!(hash_password("short", [7; 16]), Err(UserError::TooShort));
        assert_ne!(
            hash,
            hash_password("correct horse battery", [8; 16]).unwrap(),
            "salted"
        );
    }

    #[test]
    fn names_and_tokens_have_their_shapes() {
        assert!(check_username("zhang.san").is_ok());
        assert!(check_username("张三").is_err());
        assert!(check_username("").is_err());
        assert!(looks_like_session(&session_token([1; 32])));
        assert!(!looks_like_session("cust_00"));
    }
}
