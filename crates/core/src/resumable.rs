//! A SHA-256 whose running state can be written down and picked up again. A resumable upload
//! may continue on another ingest replica, or after a restart, hours after it began; keeping
//! the hash state beside the offset means the whole file's digest is known the moment the last
//! byte arrives, without reading a gigabyte back from storage.

use sha2::digest::generic_array::typenum::U64;
use sha2::digest::generic_array::GenericArray;

use crate::Sha256Digest;

/// FIPS 180-4 initial hash value.
const INITIAL: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Runs SHA-256's compression over `data`, a whole number of 64-byte blocks. The blocks are
/// copied into a small array a batch at a time: `compress256` wants them as an array type,
/// and building each one byte by byte (`clone_from_slice`) cost more than the hashing.
fn compress(state: &mut [u32; 8], data: &[u8]) {
    const BATCH: usize = 64;
    debug_assert_eq!(data.len() % 64, 0);
    let mut blocks = [GenericArray::<u8, U64>::default(); BATCH];
    for batch in data.chunks(64 * BATCH) {
        let count = batch.len() / 64;
        for (block, bytes) in blocks.iter_mut().zip(batch.chunks_exact(64)) {
            block.copy_from_slice(bytes);
        }
        sha2::compress256(state, &blocks[..count]);
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("saved sha-256 state {0:?} is not 8 words, a length and at most 63 pending bytes")]
pub struct BadHashState(pub String);

/// SHA-256 over everything given to `update`, serialisable between any two updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed so far, including `pending`.
    length: u64,
    /// The start of an incomplete 64-byte block.
    pending: Vec<u8>,
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self {
            state: INITIAL,
            length: 0,
            pending: Vec::with_capacity(64),
        }
    }
}

impl ResumableSha256 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < 64 {
                return;
            }
            compress(&mut self.state, &self.pending);
            self.pending.clear();
        }
        let whole = data.len() / 64 * 64;
        compress(&mut self.state, &data[..whole]);
        self.pending.extend_from_slice(&data[whole..]);
    }

    pub fn finish(&self) -> Sha256Digest {
        let mut state = self.state;
        let mut tail = self.pending.clone();
        tail.push(0x80);
        while tail.len() % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&(self.length.wrapping_mul(8)).to_be_bytes());
        compress(&mut state, &tail);
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        Sha256Digest::from_bytes(out)
    }

    /// `WORDS(64 hex):LENGTH:PENDING(hex)`, for the catalogue.
    pub fn to_saved(&self) -> String {
        let words: String = self.state.iter().map(|w| format!("{w:08x}")).collect();
        format!("{words}:{}:{}", self.length, hex::encode(&self.pending))
    }

    pub fn from_saved(saved: &str) -> Result<Self, BadHashState> {
        let bad = || BadHashState(saved.to_owned());
        let mut fields = saved.split(':');
        let (Some(words), Some(length), Some(pending), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        if words.len() != 64 || !words.is_ascii() {
            return Err(bad());
        }
        let mut state = [0u32; 8];
        for (i, word) in state.iter_mut().enumerate() {
            *word = u32::from_str_radix(&words[i * 8..i * 8 + 8], 16).map_err(|_| bad())?;
        }
        let length: u64 = length.parse().map_err(|_| bad())?;
        let pending = hex::decode(pending).map_err(|_| bad())?;
        if pending.len() >= 64 || length % 64 != pending.len() as u64 {
            return Err(bad());
        }
        Ok(Self {
            state,
            length,
            pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_input_hashes_like_sha256() {
        assert_eq!(ResumableSha256::new().finish(), Sha256Digest::of(b""));
    }

    proptest! {
        #[test]
        fn saved_and_resumed_at_any_cut_hashes_like_sha256(
            data in proptest::collection::vec(any::<u8>(), 0..700),
            cuts in proptest::collection::vec(0usize..700, 0..5),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut hash = ResumableSha256::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                hash.update(&data[at..cut]);
                at = cut;
                hash = ResumableSha256::from_saved(&hash.to_saved()).unwrap();
            }
            prop_assert_eq!(hash.length(), data.len() as u64);
            prop_assert_eq!(hash.finish(), Sha256Digest::of(&data));
        }
    }

    #[test]
    fn hashes_pieces_longer_than_a_batch_of_blocks() {
        let data: Vec<u8> = (0..300_001u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut hash = ResumableSha256::new();
        for piece in data.chunks(70_003) {
            hash.update(piece);
        }
        assert_eq!(hash.finish(), Sha256Digest::of(&data));
    }

    #[test]
    fn refuses_a_damaged_state() {
        let mut hash = ResumableSha256::new();
        hash.update(b"abc");
        let saved = hash.to_saved();
        assert!(ResumableSha256::from_saved(&saved.replace(":3:", ":4:")).is_err());
        assert!(ResumableSha256::from_saved("00:0:").is_err());
        assert!(ResumableSha256::from_saved(&format!("{saved}:x")).is_err());
    }
}
