//! The RFC 9530 `Content-Digest` / `Repr-Digest` header: never a panic, and a digest read
//! from a header is written back to a header that reads as the same digest.
#![no_main]

use custodian_core::Sha256Digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(digest) = Sha256Digest::from_digest_field(&text) {
        let again = Sha256Digest::from_digest_field(&digest.to_content_digest())
            .expect("our own header parses");
        assert_eq!(again, digest);
    }
    let _ = Sha256Digest::from_base64(&text);
});
