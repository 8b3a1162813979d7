//! The tamper-evident audit trail (art. 25). Every read, write, classification, approval,
//! export, retention action and login is one entry in its bureau's chain: each entry carries
//! the hash of the one before, so an entry altered, removed or reordered breaks the chain at
//! that place. Periodic checkpoints sign a chain position with the deployment's ed25519 key,
//! so a forger who rewrites the chain and every hash after it is still caught at the next
//! checkpoint. Verification needs nothing but the entries, the checkpoints and the public key.

use chrono::{DateTime, DurationRound, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before a bureau's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is recorded of one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub bureau: String,
    /// 1, 2, 3 ... within the bureau.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// Who acted: a token's label, role and id, a user, or a role of the system.
    pub actor: String,
    /// What was done, e.g. `GET /v1/clips/{id}`, `retention.purge`.
    pub action: String,
    /// What it was done to (a clip or case id), if anything.
    pub target: Option<String>,
    /// The outcome and anything else worth keeping, as text.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields of an entry before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
}

fn field(hasher: &mut Sha256, value: &str) {
    // Length-prefixed, so that no two different entries encode alike.
    hasher.update((value.len() as u64).to_be_bytes());
    hasher.update(value.as_bytes());
}

/// The hash of an entry: SHA-256 over every field, the previous hash included.
pub fn entry_hash(bureau: &str, seq: i64, new: &NewAuditEntry, prev_hash: &str) -> String {
    let mut hasher = Sha256::new();
    field(&mut hasher, "custodian-audit-v1");
    field(&mut hasher, bureau);
    field(&mut hasher, &seq.to_string());
    field(
        &mut hasher,
        &new.at.to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    field(&mut hasher, &new.actor);
    field(&mut hasher, &new.action);
    field(&mut hasher, new.target.as_deref().unwrap_or(""));
    field(&mut hasher, &new.detail);
    field(&mut hasher, prev_hash);
    hex::encode(hasher.finalize())
}

/// The next entry of a chain whose last entry has `prev` (`None` for the first).
pub fn chain(bureau: &str, prev: Option<(i64, &str)>, mut new: NewAuditEntry) -> AuditEntry {
    // Stored to the microsecond: hash what will be read back.
    new.at = new
        .at
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap_or(new.at);
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let hash = entry_hash(bureau, seq, &new, &prev_hash);
    AuditEntry {
        bureau: bureau.to_owned(),
        seq,
        at: new.at,
        actor: new.actor,
        action: new.action,
        target: new.target,
        detail: new.detail,
        prev_hash,
        hash,
    }
}

/// The action of the first entry of a chain restarted by `custodian catalogue rebuild` after
/// the catalogue, and the trail in it, was lost. It links to the last anchored checkpoint, the
/// only thing that survives of the chain before it, so verification can say where the chain
/// restarts and check that the restart continues what the anchor vouched for.
pub const RESTART_ACTION: &str = "audit.restarted";

/// The first entry of a restarted chain: after the anchored checkpoint `after`, or a new chain
/// when no anchor survived.
pub fn restart(bureau: &str, after: Option<&Checkpoint>, mut new: NewAuditEntry) -> AuditEntry {
    new.action = RESTART_ACTION.to_owned();
    chain(bureau, after.map(|c| (c.seq, c.hash.as_str())), new)
}

/// A signed statement that a bureau's chain reached `seq` with `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub bureau: String,
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    /// ed25519 over `checkpoint_message`, hex.
    pub signature: String,
}

fn checkpoint_message(bureau: &str, seq: i64, hash: &str, at: DateTime<Utc>) -> Vec<u8> {
    format!(
        "custodian-audit-checkpoint-v1\n{bureau}\n{seq}\n{hash}\n{}",
        at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
    .into_bytes()
}

pub fn sign_checkpoint(key: &SigningKey, entry: &AuditEntry, at: DateTime<Utc>) -> Checkpoint {
    let signature = key.sign(&checkpoint_message(
        &entry.bureau,
        entry.seq,
        &entry.hash,
        at,
    ));
    Checkpoint {
        bureau: entry.bureau.clone(),
        seq: entry.seq,
        hash: entry.hash.clone(),
        at,
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Whether `checkpoint` carries the signature of `key`.
pub fn checkpoint_signed(checkpoint: &Checkpoint, key: &VerifyingKey) -> bool {
    let Some(bytes) = hex::decode(&checkpoint.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    key.verify(
        &checkpoint_message(
            &checkpoint.bureau,
            checkpoint.seq,
            &checkpoint.hash,
            checkpoint.at,
        ),
        &Signature::from_bytes(&bytes),
    )
    .is_ok()
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq} of bureau {bureau} was altered: its hash does not match its content")]
    Altered { bureau: String, seq: i64 },
    #[error("entry {expected} of bureau {bureau} is missing (found {found} next): removed")]
    Removed {
        bureau: String,
        expected: i64,
        found: i64,
    },
    #[error("entry {seq} of bureau {bureau} does not follow the entry before it: reordered, or one before it was removed")]
    Unlinked { bureau: String, seq: i64 },
    #[error("entry {seq} of bureau {bureau} is in another bureau's chain")]
    WrongBureau { bureau: String, seq: i64 },
    #[error("checkpoint at entry {seq} of bureau {bureau} is not signed by this key")]
    BadSignature { bureau: String, seq: i64 },
    #[error("checkpoint at entry {seq} of bureau {bureau} does not match the chain: entries up to it were rewritten")]
    CheckpointMismatch { bureau: String, seq: i64 },
    #[error("checkpoint at entry {seq} of bureau {bureau} names an entry the chain no longer has: entries were removed from its end")]
    Truncated { bureau: String, seq: i64 },
    #[error("the chain of bureau {bureau} restarts at entry {seq} and no signed checkpoint vouches for the entry before it: the start of the chain was removed")]
    UnvouchedRestart { bureau: String, seq: i64 },
    #[error("entry {seq} of bureau {bureau} ({at}) is older than {max_age_hours} h and no checkpoint anchored outside the catalogue covers it: anchoring stopped, or the trail was rewritten after its last anchor")]
    Unanchored {
        bureau: String,
        seq: i64,
        at: DateTime<Utc>,
        max_age_hours: i64,
    },
}

/// Where checkpoints are anchored outside the catalogue, in the blob store: one object per
/// checkpoint, never replaced, so rewriting the database (and re-signing with a stolen key)
/// cannot move what an anchor says the chain held.
pub const ANCHOR_PREFIX: &str = "audit-anchors/";

/// The blob key of the anchor of `bureau`'s checkpoint at `seq`.
pub fn anchor_key(bureau: &str, seq: i64) -> String {
    format!("{ANCHOR_PREFIX}{bureau}/{seq:020}.json")
}

/// The bureau an anchor key belongs to.
pub fn anchor_bureau(key: &str) -> Option<&str> {
    key.strip_prefix(ANCHOR_PREFIX)?
        .split_once('/')
        .map(|(bureau, _)| bureau)
        .filter(|bureau| !bureau.is_empty())
}

/// Verifies a bureau's chain against its checkpoints in the catalogue and those anchored
/// outside it: every anchor must match the chain (a chain shortened, removed or rewritten
/// before an anchor is caught even if its catalogue checkpoints were re-signed), and no entry
/// older than `max_age` at `now` may lie beyond the last anchor.
pub fn verify_anchored(
    bureau: &str,
    entries: &[AuditEntry],
    checkpoints: &[Checkpoint],
    anchors: &[Checkpoint],
    key: &VerifyingKey,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
) -> Result<ChainReport, ChainError> {
    let mut all: Vec<Checkpoint> = checkpoints.to_vec();
    for anchor in anchors.iter().filter(|a| a.bureau == bureau) {
        if !all.contains(anchor) {
            all.push(anchor.clone());
        }
    }
    all.sort_by_key(|c| c.seq);
    let mut report = verify_chain(bureau, entries, &all, key)?;
    let last_anchored = anchors
        .iter()
        .filter(|a| a.bureau == bureau)
        .map(|a| a.seq)
        .max()
        .unwrap_or(0);
    if let Some(stale) = entries
        .iter()
        .find(|e| e.seq > last_anchored && e.at < now - max_age)
    {
        return Err(ChainError::Unanchored {
            bureau: bureau.to_owned(),
            seq: stale.seq,
            at: stale.at,
            max_age_hours: max_age.num_hours(),
        });
    }
    report.anchored = anchors.iter().filter(|a| a.bureau == bureau).count();
    Ok(report)
}

/// What verification found to be sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: usize,
    pub checkpoints: usize,
    /// Entries after the last checkpoint: chained, but not yet signed.
    pub unsigned_tail: usize,
    /// Checkpoints anchored outside the catalogue (by [`verify_anchored`]).
    pub anchored: usize,
    /// Where the chain restarted after a rebuild: the entries up to this one were lost with
    /// the catalogue and only their signed head survives.
    pub restarted_after: Option<i64>,
}

/// Verifies one bureau's entries (in `seq` order as stored) and its checkpoints. Returns the
/// first break found, walking from the start.
pub fn verify_chain(
    bureau: &str,
    entries: &[AuditEntry],
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
) -> Result<ChainReport, ChainError> {
    // A chain restarted after a rebuild begins past 1, with the restart entry; any other
    // chain that does not begin at 1 lost its start.
    let (lost, mut prev_hash) = match entries.first() {
        Some(first) if first.seq > 1 && first.action == RESTART_ACTION => {
            (first.seq - 1, first.prev_hash.clone())
        }
        _ => (0, GENESIS.to_owned()),
    };
    for (index, entry) in entries.iter().enumerate() {
        let expected = lost + index as i64 + 1;
        if entry.bureau != bureau {
            return Err(ChainError::WrongBureau {
                bureau: bureau.to_owned(),
                seq: entry.seq,
            });
        }
        if entry.seq != expected {
            return Err(ChainError::Removed {
                bureau: bureau.to_owned(),
                expected,
                found: entry.seq,
            });
        }
        let new = NewAuditEntry {
            at: entry.at,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            detail: entry.detail.clone(),
        };
        if entry_hash(bureau, entry.seq, &new, &entry.prev_hash) != entry.hash {
            return Err(ChainError::Altered {
                bureau: bureau.to_owned(),
                seq: entry.seq,
            });
        }
        if entry.prev_hash != prev_hash {
            return Err(ChainError::Unlinked {
                bureau: bureau.to_owned(),
                seq: entry.seq,
            });
        }
        prev_hash = entry.hash.clone();
    }
    let mut last_signed = lost;
    let mut restart_vouched = lost == 0;
    for checkpoint in checkpoints.iter().filter(|c| c.bureau == bureau) {
        if !checkpoint_signed(checkpoint, key) {
            return Err(ChainError::BadSignature {
                bureau: bureau.to_owned(),
                seq: checkpoint.seq,
            });
        }
        if checkpoint.seq <= lost {
            // Its entries were lost: only the one the restart continues can be checked.
            if checkpoint.seq == lost {
                if entries.first().map(|e| &e.prev_hash) != Some(&checkpoint.hash) {
                    return Err(ChainError::CheckpointMismatch {
                        bureau: bureau.to_owned(),
                        seq: checkpoint.seq,
                    });
                }
                restart_vouched = true;
            }
            continue;
        }
        let entry = usize::try_from(checkpoint.seq - lost - 1)
            .ok()
            .and_then(|i| entries.get(i));
        match entry {
            None => {
                return Err(ChainError::Truncated {
                    bureau: bureau.to_owned(),
                    seq: checkpoint.seq,
                })
            }
            Some(entry) if entry.hash != checkpoint.hash => {
                return Err(ChainError::CheckpointMismatch {
                    bureau: bureau.to_owned(),
                    seq: checkpoint.seq,
                })
            }
            Some(_) => last_signed = last_signed.max(checkpoint.seq),
        }
    }
    if !restart_vouched {
        return Err(ChainError::UnvouchedRestart {
            bureau: bureau.to_owned(),
            seq: lost + 1,
        });
    }
    Ok(ChainReport {
        entries: entries.len(),
        checkpoints: checkpoints.iter().filter(|c| c.bureau == bureau).count(),
        unsigned_tail: entries.len() - usize::try_from(last_signed - lost).unwrap_or(0),
        anchored: 0,
        restarted_after: (lost > 0).then_some(lost),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn chain_of(n: usize) -> Vec<AuditEntry> {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let new = NewAuditEntry {
                at: start + Duration::seconds(i as i64),
                actor: "archivist (token 1)".into(),
                action: "GET /v1/clips/{id}".into(),
                target: Some(format!("clip-{i}")),
                detail: "200".into(),
            };
            let prev = entries.last().map(|e| (e.seq, e.hash.as_str()));
            entries.push(chain("b1", prev, new));
        }
        entries
    }

    fn checkpoints(entries: &[AuditEntry], at: &[usize]) -> Vec<Checkpoint> {
        at.iter()
            .map(|&i| sign_checkpoint(&key(), &entries[i - 1], entries[i - 1].at))
            .collect()
    }

    fn verify(entries: &[AuditEntry], cps: &[Checkpoint]) -> Result<ChainReport, ChainError> {
        verify_chain("b1", entries, cps, &key().verifying_key())
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let entries = chain_of(10);
        let cps = checkpoints(&entries, &[4, 8]);
        assert_eq!(
            verify(&entries, &cps),
            Ok(ChainReport {
                entries: 10,
                checkpoints: 2,
                unsigned_tail: 2,
                anchored: 0,
                restarted_after: None,
            })
        );
        assert_eq!(entries[0].prev_hash, GENESIS);
    }

    #[test]
    fn every_kind_of_tampering_is_named_at_its_place() {
        let entries = chain_of(10);
        let cps = checkpoints(&entries, &[4, 8]);

        let mut altered = entries.clone();
        altered[5].detail = "403".into();
        assert_eq!(
            verify(&altered, &cps),
            Err(ChainError::Altered {
                bureau: "b1".into(),
                seq: 6
            })
        );

        let mut removed = entries.clone();
        removed.remove(3);
        assert_eq!(
            verify(&removed, &cps),
            Err(ChainError::Removed {
                bureau: "b1".into(),
                expected: 4,
                found: 5
            })
        );

        let mut reordered = entries.clone();
        reordered.swap(2, 3);
        assert!(matches!(
            verify(&reordered, &cps),
            Err(ChainError::Removed { expected: 3, .. })
        ));
        // Reordered and renumbered so the sequence looks whole: the links break.
        let mut renumbered = entries.clone();
        renumbered.swap(2, 3);
        let (a, b) = (renumbered[2].clone(), renumbered[3].clone());
        renumbered[2] = chain_with_seq(a, 3);
        renumbered[3] = chain_with_seq(b, 4);
        assert!(matches!(
            verify(&renumbered, &cps),
            Err(ChainError::Unlinked { seq: 3, .. })
        ));

        // A forger rewrites entry 2 and recomputes every hash after it: the chain is whole
        // again, but the signed checkpoint at 4 no longer matches.
        let mut forged = chain_of(10);
        forged[1].detail = "forged".into();
        for i in 1..forged.len() {
            let prev = (forged[i - 1].seq, forged[i - 1].hash.clone());
            let e = forged[i].clone();
            let new = NewAuditEntry {
                at: e.at,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: e.detail,
            };
            forged[i] = chain("b1", Some((prev.0, &prev.1)), new);
        }
        assert_eq!(
            verify(&forged, &cps),
            Err(ChainError::CheckpointMismatch {
                bureau: "b1".into(),
                seq: 4
            })
        );

        // Cutting entries off the end shows at the last checkpoint.
        assert_eq!(
            verify(&entries[..6], &cps),
            Err(ChainError::Truncated {
                bureau: "b1".into(),
                seq: 8
            })
        );

        // A checkpoint signed by another key is refused.
        let other = SigningKey::from_bytes(&[9; 32]);
        let foreign = vec![sign_checkpoint(&other, &entries[3], entries[3].at)];
        assert_eq!(
            verify(&entries, &foreign),
            Err(ChainError::BadSignature {
                bureau: "b1".into(),
                seq: 4
            })
        );
    }

    /// The same entry under another sequence number, its hash recomputed on its old link.
    fn chain_with_seq(e: AuditEntry, seq: i64) -> AuditEntry {
        let new = NewAuditEntry {
            at: e.at,
            actor: e.actor.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            detail: e.detail.clone(),
        };
        AuditEntry {
            seq,
            hash: entry_hash(&e.bureau, seq, &new, &e.prev_hash),
            ..e
        }
    }

    #[test]
    fn anchors_catch_what_re_signed_catalogue_checkpoints_hide() {
        let entries = chain_of(10);
        let anchors = checkpoints(&entries, &[4, 8]);
        let late = entries[9].at + Duration::minutes(5);
        let day = Duration::hours(24);
        let check = |entries: &[AuditEntry], catalogue: &[Checkpoint], anchors: &[Checkpoint]| {
            verify_anchored(
                "b1",
                entries,
                catalogue,
                anchors,
                &key().verifying_key(),
                late,
                day,
            )
        };
        assert_eq!(check(&entries, &anchors, &anchors).unwrap().anchored, 2);

        // The tail and its checkpoints deleted from the catalogue: the anchor at 8 remains.
        assert_eq!(
            check(&entries[..6], &anchors[..1], &anchors),
            Err(ChainError::Truncated {
                bureau: "b1".into(),
                seq: 8
            })
        );
        // The whole chain of the bureau deleted.
        assert_eq!(
            check(&[], &[], &anchors),
            Err(ChainError::Truncated {
                bureau: "b1".into(),
                seq: 4
            })
        );
        // Entry 2 rewritten, the chain re-hashed and re-signed with the key beside the database:
        // the catalogue's checkpoints agree, the anchors do not.
        let mut forged = entries.clone();
        forged[1].detail = "forged".into();
        let mut rechained: Vec<AuditEntry> = Vec::new();
        for e in &forged {
            let prev = rechained.last().map(|p| (p.seq, p.hash.as_str()));
            let new = NewAuditEntry {
                at: e.at,
                actor: e.actor.clone(),
                action: e.action.clone(),
                target: e.target.clone(),
                detail: e.detail.clone(),
            };
            rechained.push(chain("b1", prev, new));
        }
        let resigned = checkpoints(&rechained, &[4, 8]);
        assert_eq!(verify(&rechained, &resigned).unwrap().entries, 10);
        assert_eq!(
            check(&rechained, &resigned, &anchors),
            Err(ChainError::CheckpointMismatch {
                bureau: "b1".into(),
                seq: 4
            })
        );
        // Entries older than the allowed age beyond the last anchor: anchoring stopped.
        let much_later = entries[9].at + Duration::hours(30);
        assert!(matches!(
            verify_anchored(
                "b1",
                &entries,
                &anchors,
                &anchors[..1],
                &key().verifying_key(),
                much_later,
                day
            ),
            Err(ChainError::Unanchored { seq: 5, .. })
        ));
    }

    #[test]
    fn a_chain_restarted_after_a_rebuild_verifies_only_against_the_anchor_it_continues() {
        let lost = chain_of(10);
        let anchors = checkpoints(&lost, &[4, 8]);
        let later = lost[9].at + Duration::days(1);
        let note = |i: i64| NewAuditEntry {
            at: later + Duration::seconds(i),
            actor: "custodian catalogue rebuild".into(),
            action: "ingest.restored".into(),
            target: None,
            detail: String::new(),
        };
        let mut rebuilt = vec![restart("b1", Some(&anchors[1]), note(0))];
        for i in 1..3 {
            let prev = rebuilt.last().map(|e| (e.seq, e.hash.as_str()));
            rebuilt.push(chain("b1", prev, note(i)));
        }
        assert_eq!(
            (rebuilt[0].seq, rebuilt[0].action.as_str()),
            (9, RESTART_ACTION)
        );
        let report = verify(&rebuilt, &anchors).expect("a vouched restart verifies");
        assert_eq!(report.restarted_after, Some(8));
        assert_eq!((report.entries, report.unsigned_tail), (3, 3));
        // A checkpoint signed after the restart is checked against the new entries.
        let signed = sign_checkpoint(&key(), &rebuilt[1], later);
        let mut all = anchors.clone();
        all.push(signed);
        assert_eq!(verify(&rebuilt, &all).unwrap().unsigned_tail, 1);

        // Without the anchor it continues, a restart vouches for nothing.
        assert_eq!(
            verify(&rebuilt, &anchors[..1]),
            Err(ChainError::UnvouchedRestart {
                bureau: "b1".into(),
                seq: 9
            })
        );
        // A restart that claims to continue another head than the anchor's.
        let other = {
            let mut entries = chain_of(8);
            entries[7].detail = "rewritten".into();
            entries[7].hash = entry_hash(
                "b1",
                8,
                &NewAuditEntry {
                    at: entries[7].at,
                    actor: entries[7].actor.clone(),
                    action: entries[7].action.clone(),
                    target: entries[7].target.clone(),
                    detail: entries[7].detail.clone(),
                },
                &entries[7].prev_hash,
            );
            entries
        };
        let forged = vec![restart(
            "b1",
            Some(&sign_checkpoint(&key(), &other[7], later)),
            note(0),
        )];
        assert_eq!(
            verify(&forged, &anchors),
            Err(ChainError::CheckpointMismatch {
                bureau: "b1".into(),
                seq: 8
            })
        );
        // A chain whose start was deleted is not a restart, however it begins.
        assert_eq!(
            verify(&lost[8..], &anchors),
            Err(ChainError::Removed {
                bureau: "b1".into(),
                expected: 1,
                found: 9
            })
        );
    }

    #[test]
    fn anchor_keys_name_their_bureau() {
        let key = anchor_key("qd-yingji", 42);
        assert_eq!(key, "audit-anchors/qd-yingji/00000000000000000042.json");
        assert_eq!(anchor_bureau(&key), Some("qd-yingji"));
        assert_eq!(anchor_bureau("originals/x"), None);
    }
}
