//! People: users of a bureau with a role and a password, and the sessions they log in to.
//! Passwords are stored as argon2id hashes; a session is a random token shown once and kept
//! as its SHA-256, like an API token, and it ends after a fixed time.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Every session token starts with this.
pub const SESSION_PREFIX: &str = "sess_";

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The longest password a login tries: more is refused unhashed, so no one makes the server
/// hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Passwords guessed first by anyone who guesses (see the file's head).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long (at most {MAX_PASSWORD_BYTES} bytes)")]
    TooLong,
    #[error("the password is one of the first that guessers try (a common password, a repeated pattern, or a variant of one); choose another")]
    Common,
    #[error("the password contains the user name")]
    ContainsName,
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

/// Whether a name given at login could be a user's at all. Anything else is refused like a
/// wrong password and never reaches the audit trail as written (it may hold line breaks or
/// other control characters meant to forge entries).
pub fn is_login_name(name: &str) -> bool {
    check_username(name).is_ok()
}

/// Whether `password` may be a new password: long enough, not too long, and not among the
/// passwords guessers try first.
pub fn check_password(password: &str) -> Result<(), UserError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UserError::TooLong);
    }
    if is_common(password) {
        return Err(UserError::Common);
    }
    Ok(())
}

/// [`check_password`], and the password must not contain the user's own name.
pub fn check_new_password(username: &str, password: &str) -> Result<(), UserError> {
    check_password(password)?;
    let name = username.to_lowercase();
    if name.chars().count() >= 3 && password.to_lowercase().contains(&name) {
        return Err(UserError::ContainsName);
    }
    Ok(())
}

/// Whether a password is a common one in disguise: the list's entries are also found with
/// digits and symbols before or after them, in leet spelling, in capitals, or repeated; and
/// a password of fewer than four different characters is common whatever it is.
fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return true;
    }
    let trimmed = lower.trim_matches(|c: char| {
        c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace()
    });
    let unpunctuated = lower.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    let candidates = [
        lower.clone(),
        trimmed.to_owned(),
        unpunctuated.to_owned(),
        unleet(&lower),
        unleet(trimmed),
        unleet(&lower)
            .trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation())
            .to_owned(),
    ];
    candidates
        .iter()
        .filter(|c| c.chars().count() >= 4)
        .any(|c| listed(c) || repeats_listed(c))
}

fn listed(candidate: &str) -> bool {
    COMMON_PASSWORDS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .any(|line| line == candidate)
}

/// Whether `candidate` is a shorter piece written several times over, the piece short or
/// listed ("abcabcabcabc", "passwordpassword").
fn repeats_listed(candidate: &str) -> bool {
    let chars: Vec<char> = candidate.chars().collect();
    (1..=chars.len() / 2).any(|len| {
        chars.len() % len == 0
            && chars.chunks(len).all(|chunk| chunk == &chars[..len])
            && (len <= 3 || listed(&chars[..len].iter().collect::<String>()))
    })
}

/// Leet spelling undone ("p@ssw0rd" is "password").
fn unleet(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '$' | '5' => 's',
            '7' => 't',
            other => other,
        })
        .collect()
}

/// The argon2id hash of `password` (PHC string), with a salt from the caller's randomness.
/// The password must pass [`check_password`].
pub fn hash_password(password: &str, salt: [u8; 16]) -> Result<String, UserError> {
    check_password(password)?;
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

/// A hash of a random password made like every user's, for logins naming no (enabled) user:
/// verifying against it costs what verifying a real one does, so the time a failed login
/// takes does not tell whether the user exists.
pub fn dummy_hash(password: [u8; 32], salt: [u8; 16]) -> Result<String, UserError> {
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(&password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
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
        assert!(!is_login_name("zhang.san\nuser admin"));
        assert!(!is_login_name(&"a".repeat(65)));
        assert!(!is_login_name("zhang\u{202e}san"));
        assert!(looks_like_session(&session_token([1; 32])));
        assert!(!looks_like_session("cust_00"));
    }

    #[test]
    fn common_passwords_and_their_disguises_are_refused() {
        for common in [
            "password1234",
            "Password1234!",
            "P@ssw0rd2024!",
            "qwertyuiop123",
            "123456789012",
            "!!123456789012!!",
            "aaaaaaaaaaaa",
            "abcabcabcabc",
            "passwordpassword",
            "woaini520131",
            "ILOVEYOU2026.",
            "1qaz2wsx3edc",
            "police110police110",
        ] {
            assert_eq!(check_password(common), Err(UserError::Common), "{common}");
            assert_eq!(hash_password(common, [1; 16]), Err(UserError::Common));
        }
        for fine in [
            "长江中路-correct-horse",
            "correct horse battery",
            "Hazel-Kettle-Orbit-42",
            "otter spring 1987 lamp",
        ] {
            assert_eq!(check_password(fine), Ok(()), "{fine}");
        }
        assert_eq!(check_password(&"ab1-".repeat(300)), Err(UserError::TooLong));
        assert_eq!(
            check_new_password("zhang.san", "Zhang.San-is-here"),
            Err(UserError::ContainsName)
        );
        assert_eq!(
            check_new_password("zhang.san", "长江中路-correct-horse"),
            Ok(())
        );
    }

    #[test]
    fn the_list_is_clean() {
        let entries: Vec<&str> = COMMON_PASSWORDS
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect();
        assert!(entries.len() >= 250, "{}", entries.len());
        let mut sorted = entries.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), entries.len(), "an entry is listed twice");
        for entry in entries {
            assert!(
                !entry.is_empty() && entry == entry.to_lowercase() && entry.trim() == entry,
                "{entry:?}"
            );
        }
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = dummy_hash([3; 32], [4; 16]).unwrap();
        let real = hash_password("correct horse battery", [4; 16]).unwrap();
        // Same algorithm, version and cost parameters: only salt and hash differ.
        let params = |hash: &str| hash.rsplitn(3, '$').nth(2).unwrap().to_owned();
        assert_eq!(params(&dummy), params(&real));
        assert!(!verify_password("correct horse battery", &dummy));
    }
}
