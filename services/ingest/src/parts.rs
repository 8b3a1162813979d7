//! Cutting a resumable upload's bytes into store parts as they arrive. Each byte is hashed
//! while it is taken, once into the file's running SHA-256 and once into its part's, so when a
//! request's last byte is in every digest is known already: the client waits for no hashing
//! after its body, and a part goes to the store without being read again.

use bytes::{Bytes, BytesMut};
use custodian_core::resumable::ResumableSha256;
use custodian_core::Sha256Digest;
use sha2::{Digest, Sha256};

/// A part ready for the store.
pub(crate) struct CutPart {
    pub bytes: Bytes,
    pub sha256: Sha256Digest,
    /// The file's running digest up to the part's last byte.
    pub file_hash: ResumableSha256,
}

pub(crate) struct PartCutter {
    part_size: usize,
    /// The bytes of the part being filled.
    buffer: BytesMut,
    /// Over `buffer`.
    part_hash: Sha256,
    /// Over the file up to the end of `buffer`.
    file_hash: ResumableSha256,
    /// Over the file up to the start of `buffer`.
    at_last_cut: ResumableSha256,
}

impl PartCutter {
    /// Picks up where the upload stands: `stored` is the digest up to the end of its last
    /// part, `tail` the bytes after it that were too few for a part.
    pub fn new(part_size: usize, stored: ResumableSha256, tail: &[u8]) -> Self {
        let mut file_hash = stored.clone();
        file_hash.update(tail);
        Self {
            part_size,
            buffer: BytesMut::from(tail),
            part_hash: Sha256::new_with_prefix(tail),
            file_hash,
            at_last_cut: stored,
        }
    }

    /// Takes bytes from the front of `frame` until a part is full, and answers it; `None`
    /// once the frame is used up without filling one.
    pub fn take(&mut self, frame: &mut Bytes) -> Option<CutPart> {
        loop {
            if self.buffer.len() >= self.part_size {
                return self.cut_rest();
            }
            if frame.is_empty() {
                return None;
            }
            if self.buffer.is_empty() {
                // One allocation per part instead of a buffer grown, and copied, by doubling.
                self.buffer.reserve(self.part_size);
            }
            let piece = frame.split_to((self.part_size - self.buffer.len()).min(frame.len()));
            self.part_hash.update(&piece);
            self.file_hash.update(&piece);
            self.buffer.extend_from_slice(&piece);
        }
    }

    /// How many bytes wait for their part to fill.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// The digest of the bytes waiting for their part.
    pub fn pending_digest(&self) -> Sha256Digest {
        Sha256Digest::from_bytes(self.part_hash.clone().finalize().into())
    }

    /// Makes a part of what is waiting, however short (the last part of a file, or one the
    /// store takes because it is long enough); `None` if nothing is.
    pub fn cut_rest(&mut self) -> Option<CutPart> {
        if self.buffer.is_empty() {
            return None;
        }
        let sha256 =
            Sha256Digest::from_bytes(std::mem::take(&mut self.part_hash).finalize().into());
        self.at_last_cut = self.file_hash.clone();
        Some(CutPart {
            bytes: self.buffer.split().freeze(),
            sha256,
            file_hash: self.file_hash.clone(),
        })
    }

    /// The digest up to the last part cut, and the bytes after it.
    pub fn into_tail(self) -> (ResumableSha256, Vec<u8>) {
        (self.at_last_cut, self.buffer.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digest_of(data: &[u8]) -> Sha256Digest {
        Sha256Digest::of(data)
    }

    proptest! {
        /// However the bytes arrive, parts are cut at the part size, each with its own digest
        /// and the file's digest up to its end, and the rest is the tail.
        #[test]
        fn cuts_and_hashes_like_hashing_the_parts_afterwards(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            frames in proptest::collection::vec(1usize..90, 1..40),
            tail_len in 0usize..40,
            part_size in 16usize..130,
        ) {
            let tail_len = tail_len.min(data.len()).min(part_size - 1);
            let (tail, rest) = data.split_at(tail_len);
            let mut cutter = PartCutter::new(part_size, ResumableSha256::new(), tail);
            let mut parts = Vec::new();
            let mut rest = Bytes::copy_from_slice(rest);
            for size in frames.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let mut frame = rest.split_to((*size).min(rest.len()));
                while let Some(part) = cutter.take(&mut frame) {
                    parts.push(part);
                }
            }
            let mut at = 0;
            for part in &parts {
                prop_assert_eq!(part.bytes.len(), part_size);
                prop_assert_eq!(&part.bytes[..], &data[at..at + part_size]);
                prop_assert_eq!(part.sha256, digest_of(&part.bytes));
                at += part_size;
                prop_assert_eq!(part.file_hash.finish(), digest_of(&data[..at]));
            }
            prop_assert_eq!(cutter.pending(), data.len() - at);
            prop_assert_eq!(cutter.pending_digest(), digest_of(&data[at..]));
            let mut resumed = {
                let (stored, tail) = cutter.into_tail();
                prop_assert_eq!(stored.finish(), digest_of(&data[..at]));
                prop_assert_eq!(&tail[..], &data[at..]);
                PartCutter::new(part_size, stored, &tail)
            };
            match resumed.cut_rest() {
                Some(last) => {
                    prop_assert_eq!(&last.bytes[..], &data[at..]);
                    prop_assert_eq!(last.sha256, digest_of(&data[at..]));
                    prop_assert_eq!(last.file_hash.finish(), digest_of(&data));
                }
                None => prop_assert_eq!(at, data.len()),
            }
            let (stored, tail) = resumed.into_tail();
            prop_assert_eq!(stored.finish(), digest_of(&data));
            prop_assert!(tail.is_empty());
        }
    }

    #[test]
    fn a_tail_at_least_a_part_long_is_cut_before_more_is_taken() {
        let mut cutter = PartCutter::new(4, ResumableSha256::new(), b"abcdef");
        let mut frame = Bytes::from_static(b"gh");
        let part = cutter.take(&mut frame).expect("a part");
        assert_eq!(&part.bytes[..], b"abcdef");
        assert_eq!(
            &frame[..],
            b"gh",
            "nothing of the frame is taken before the cut"
        );
    }
}
