//! Evidence export packages (art. 20): footage used as evidence leaves the system as one
//! package holding the originals, a manifest (every file with its SHA-256, the clips'
//! metadata, findings and custody trail) and an explanatory note (说明), the manifest signed
//! with the deployment's ed25519 key. `check_package` verifies one offline: the signature, then
//! every file against the manifest, and that nothing was added.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;
use crate::Sha256Digest;

pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";
pub const PUBLIC_KEY: &str = "public-key.txt";
pub const NOTE: &str = "note.txt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagedFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub package_id: String,
    pub bureau: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub case: Option<serde_json::Value>,
    /// Each clip's record as the catalogue holds it, with its findings and history.
    pub clips: Vec<serde_json::Value>,
    /// The custody trail of these clips: every audit entry that names one of them.
    pub custody_trail: Vec<AuditEntry>,
    /// Every file of the package but the manifest and its signature.
    pub files: Vec<PackagedFile>,
}

pub const FORMAT: &str = "custodian-evidence-v1";

/// Signs the manifest's exact bytes.
pub fn sign_manifest(key: &SigningKey, manifest_bytes: &[u8]) -> String {
    hex::encode(key.sign(manifest_bytes).to_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("the package has no {0}")]
    Missing(&'static str),
    #[error("the manifest is not valid: {0}")]
    BadManifest(String),
    #[error("the manifest's signature does not verify with this key: the manifest was changed or signed by another key")]
    BadSignature,
    #[error("{path} does not match the manifest: it was changed ({detail})")]
    FileChanged { path: String, detail: String },
    #[error("{0} is listed in the manifest but missing from the package")]
    FileMissing(String),
    #[error("{0} is in the package but not in the manifest: it was added")]
    FileAdded(String),
}

/// What a sound package holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageReport {
    pub package_id: String,
    pub bureau: String,
    pub clips: usize,
    pub files: usize,
}

/// Checks a package given as its files (path → bytes), with the key to trust.
pub fn check_package(
    files: &BTreeMap<String, Vec<u8>>,
    key: &VerifyingKey,
) -> Result<PackageReport, PackageError> {
    let manifest_bytes = files.get(MANIFEST).ok_or(PackageError::Missing(MANIFEST))?;
    let signature_hex = files
        .get(SIGNATURE)
        .ok_or(PackageError::Missing(SIGNATURE))?;
    let signature: [u8; 64] = hex::decode(String::from_utf8_lossy(signature_hex).trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PackageError::BadSignature)?;
    key.verify(manifest_bytes, &Signature::from_bytes(&signature))
        .map_err(|_| PackageError::BadSignature)?;
    let manifest: Manifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| PackageError::BadManifest(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(PackageError::BadManifest(format!(
            "format {:?}, expected {FORMAT}",
            manifest.format
        )));
    }
    for listed in &manifest.files {
        let bytes = files
            .get(&listed.path)
            .ok_or_else(|| PackageError::FileMissing(listed.path.clone()))?;
        let sha256 = Sha256Digest::of(bytes).to_hex();
        if bytes.len() as u64 != listed.size || sha256 != listed.sha256 {
            return Err(PackageError::FileChanged {
                path: listed.path.clone(),
                detail: format!(
                    "{} bytes sha256 {sha256}; the manifest says {} bytes {}",
                    bytes.len(),
                    listed.size,
                    listed.sha256
                ),
            });
        }
    }
    let allowed = |path: &str| {
        path == MANIFEST || path == SIGNATURE || manifest.files.iter().any(|f| f.path == path)
    };
    if let Some(extra) = files.keys().find(|path| !allowed(path)) {
        return Err(PackageError::FileAdded(extra.clone()));
    }
    Ok(PackageReport {
        package_id: manifest.package_id,
        bureau: manifest.bureau,
        clips: manifest.clips.len(),
        files: manifest.files.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(key: &SigningKey) -> BTreeMap<String, Vec<u8>> {
        let original = b"original footage".to_vec();
        let note = "说明".as_bytes().to_vec();
        let manifest = Manifest {
            format: FORMAT.into(),
            package_id: "p1".into(),
            bureau: "b1".into(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            created_by: "leader".into(),
            case: None,
            clips: vec![serde_json::json!({"id": "c1"})],
            custody_trail: vec![],
            files: vec![
                PackagedFile {
                    path: "originals/c1.mp4".into(),
                    size: original.len() as u64,
                    sha256: Sha256Digest::of(&original).to_hex(),
                },
                PackagedFile {
                    path: NOTE.into(),
                    size: note.len() as u64,
                    sha256: Sha256Digest::of(&note).to_hex(),
                },
            ],
        };
        let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
        let mut files = BTreeMap::new();
        files.insert(
            SIGNATURE.to_owned(),
            sign_manifest(key, &bytes).into_bytes(),
        );
        files.insert(MANIFEST.to_owned(), bytes);
        files.insert("originals/c1.mp4".to_owned(), original);
        files.insert(NOTE.to_owned(), note);
        files
    }

    #[test]
    fn a_sound_package_verifies_and_every_change_is_named() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let public = key.verifying_key();
        let sound = package(&key);
        assert_eq!(check_package(&sound, &public).unwrap().files, 2);

        let mut changed = sound.clone();
        changed.get_mut("originals/c1.mp4").unwrap()[0] ^= 1;
        assert!(
            matches!(check_package(&changed, &public), Err(PackageError::FileChanged { path, .. }) if path == "originals/c1.mp4")
        );

        let mut missing = sound.clone();
        missing.remove(NOTE);
        assert_eq!(
            check_package(&missing, &public),
            Err(PackageError::FileMissing(NOTE.into()))
        );

        let mut added = sound.clone();
        added.insert("originals/extra.mp4".into(), b"inserted".to_vec());
        assert_eq!(
            check_package(&added, &public),
            Err(PackageError::FileAdded("originals/extra.mp4".into()))
        );

        let mut rewritten = sound.clone();
        let text = String::from_utf8(rewritten[MANIFEST].clone())
            .unwrap()
            .replace("leader", "someone");
        rewritten.insert(MANIFEST.into(), text.into_bytes());
        assert_eq!(
            check_package(&rewritten, &public),
            Err(PackageError::BadSignature)
        );

        let stranger = SigningKey::from_bytes(&[2; 32]).verifying_key();
        assert_eq!(
            check_package(&sound, &stranger),
            Err(PackageError::BadSignature)
        );
    }
}
