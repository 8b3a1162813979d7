//! Administration commands.

use anyhow::Context;
use custodian_core::roles::Role;
use custodian_core::token::{token_from_random, token_hash};
use custodian_core::BureauId;
use custodian_platform::catalogue::{self, Catalogue};
use custodian_platform::clock::{Clock, SystemClock};

use crate::cli::TokenCreateArgs;

/// Creates a bureau's token and returns it; only its hash is kept.
pub async fn create_token(
    catalogue: &dyn Catalogue,
    bureau: &BureauId,
    bureau_name: &str,
    label: &str,
    role: Role,
) -> anyhow::Result<String> {
    Ok(insert_token(catalogue, bureau, bureau_name, label, role)
        .await?
        .0)
}

/// Creates a bureau's token: the token (shown once) and its id.
async fn insert_token(
    catalogue: &dyn Catalogue,
    bureau: &BureauId,
    bureau_name: &str,
    label: &str,
    role: Role,
) -> anyhow::Result<(String, uuid::Uuid)> {
    let now = SystemClock.now();
    catalogue.ensure_bureau(bureau, bureau_name, now).await?;
    let token = token_from_random(rand::random());
    let id = catalogue
        .insert_token(bureau, &token_hash(&token), label, role, now)
        .await?;
    Ok((token, id))
}

/// `from` plus `after`, as the end of a credential.
fn end_after(
    from: chrono::DateTime<chrono::Utc>,
    after: std::time::Duration,
    flag: &str,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if after.is_zero() {
        anyhow::bail!("{flag} must be more than 0 (revoke the token to end it now)");
    }
    chrono::Duration::from_std(after)
        .ok()
        .and_then(|d| from.checked_add_signed(d))
        .with_context(|| format!("{flag} {after:?} is too long"))
}

/// An entry in the bureau's audit trail for a change made here: by whoever holds the
/// catalogue's keys, not by an API caller, and recorded all the same.
async fn audit_operator(
    catalogue: &dyn Catalogue,
    bureau: &BureauId,
    action: &str,
    target: String,
    detail: String,
) -> anyhow::Result<()> {
    catalogue
        .append_audit(
            bureau.as_str(),
            custodian_core::audit::NewAuditEntry {
                at: SystemClock.now(),
                actor: "operator (custodian admin)".into(),
                action: action.into(),
                target: Some(target),
                detail,
            },
        )
        .await
        .context("recording the change in the audit trail")?;
    Ok(())
}

/// Every token (of `--bureau`, or all), as JSON with its state; never a secret.
pub async fn token_list(args: &crate::cli::ListArgs) -> anyhow::Result<Vec<serde_json::Value>> {
    let bureau = args
        .bureau
        .as_deref()
        .map(BureauId::parse)
        .transpose()
        .context("--bureau")?;
    let catalogue = open(&args.catalogue).await?;
    let now = SystemClock.now();
    catalogue
        .tokens(bureau.as_ref())
        .await?
        .into_iter()
        .map(|token| {
            let state = token.state(now);
            let mut json = serde_json::to_value(token)?;
            json["state"] = state.into();
            Ok(json)
        })
        .collect()
}

pub async fn token_revoke(args: &crate::cli::TokenIdArgs) -> anyhow::Result<()> {
    let bureau = BureauId::parse(&args.bureau).context("--bureau")?;
    let catalogue = open(&args.catalogue).await?;
    if !catalogue
        .revoke_token(&bureau, args.id, SystemClock.now())
        .await?
    {
        anyhow::bail!(
            "bureau {bureau} has no unrevoked token {} (see admin token list)",
            args.id
        );
    }
    audit_operator(
        &*catalogue,
        &bureau,
        "revoke token",
        args.id.to_string(),
        "revoked".into(),
    )
    .await
}

/// Rotates a token; returns the new one (shown once) and its id.
pub async fn token_rotate(
    args: &crate::cli::TokenRotateArgs,
) -> anyhow::Result<(String, uuid::Uuid)> {
    let bureau = BureauId::parse(&args.token.bureau).context("--bureau")?;
    let catalogue = open(&args.token.catalogue).await?;
    let now = SystemClock.now();
    let old_end = args
        .overlap
        .map(|overlap| end_after(now, overlap, "--overlap"))
        .transpose()?;
    let token = token_from_random(rand::random());
    let Some(record) = catalogue
        .rotate_token(&bureau, args.token.id, &token_hash(&token), now, old_end)
        .await?
    else {
        anyhow::bail!(
            "bureau {bureau} has no live token {} (see admin token list)",
            args.token.id
        );
    };
    let detail = match old_end {
        Some(end) => format!(
            "replaced by token {}; the old one ends {}",
            record.id,
            end.to_rfc3339()
        ),
        None => format!("replaced by token {}; the old one is revoked", record.id),
    };
    audit_operator(
        &*catalogue,
        &bureau,
        "rotate token",
        args.token.id.to_string(),
        detail,
    )
    .await?;
    Ok((token, record.id))
}

/// Sets or clears a token's end; returns it.
pub async fn token_expire(
    args: &crate::cli::TokenExpireArgs,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let bureau = BureauId::parse(&args.token.bureau).context("--bureau")?;
    let end = match (args.expires_in, args.never) {
        (Some(after), false) => Some(end_after(SystemClock.now(), after, "--in")?),
        (None, true) => None,
        _ => anyhow::bail!("give --in DURATION or --never"),
    };
    let catalogue = open(&args.token.catalogue).await?;
    if !catalogue
        .set_token_expiry(&bureau, args.token.id, end)
        .await?
    {
        anyhow::bail!(
            "bureau {bureau} has no unrevoked token {} (see admin token list)",
            args.token.id
        );
    }
    let detail = end.map_or_else(
        || "never expires".to_owned(),
        |end| format!("expires {}", end.to_rfc3339()),
    );
    audit_operator(
        &*catalogue,
        &bureau,
        "set token expiry",
        args.token.id.to_string(),
        detail,
    )
    .await?;
    Ok(end)
}

/// Every account (of `--bureau`, or all), as JSON; never a password hash.
pub async fn user_list(args: &crate::cli::ListArgs) -> anyhow::Result<Vec<serde_json::Value>> {
    let bureau = args
        .bureau
        .as_deref()
        .map(BureauId::parse)
        .transpose()
        .context("--bureau")?;
    let catalogue = open(&args.catalogue).await?;
    catalogue
        .users(bureau.as_ref())
        .await?
        .into_iter()
        .map(|user| Ok(serde_json::to_value(user)?))
        .collect()
}

/// Disables (`disable`) or enables an account.
pub async fn user_set_disabled(
    args: &crate::cli::UserNameArgs,
    disable: bool,
) -> anyhow::Result<()> {
    let bureau = BureauId::parse(&args.bureau).context("--bureau")?;
    let catalogue = open(&args.catalogue).await?;
    let found = if disable {
        catalogue
            .disable_user(&bureau, &args.username, SystemClock.now())
            .await?
    } else {
        catalogue.enable_user(&bureau, &args.username).await?
    };
    if !found {
        anyhow::bail!(
            "bureau {bureau} has no user {:?} (see admin user list)",
            args.username
        );
    }
    let (action, detail) = if disable {
        ("disable user", "disabled; sessions ended")
    } else {
        ("enable user", "enabled")
    };
    audit_operator(
        &*catalogue,
        &bureau,
        action,
        args.username.clone(),
        detail.into(),
    )
    .await
}

/// Creates a person's account with an argon2id hash of `password`.
pub async fn user_create(args: &crate::cli::UserCreateArgs, password: &str) -> anyhow::Result<()> {
    let bureau = BureauId::parse(&args.bureau).context("--bureau")?;
    custodian_core::users::check_username(&args.username)?;
    custodian_core::users::check_new_password(&args.username, password)?;
    let hash = custodian_core::users::hash_password(password, rand::random())?;
    let catalogue = open(&args.catalogue).await?;
    if !catalogue.bureau_exists(&bureau).await? {
        anyhow::bail!("bureau {bureau} does not exist (create it with admin token create)");
    }
    catalogue
        .create_user(&bureau, &args.username, args.role, &hash, SystemClock.now())
        .await?;
    Ok(())
}

/// The retention plan, for every bureau, as `custodian retention plan` prints it.
pub async fn retention_plan(
    args: &crate::cli::PlanArgs,
) -> anyhow::Result<Vec<custodian_retention::PlanEntry>> {
    let policy = args.retention.policy()?;
    let catalogue = open(&args.catalogue).await?;
    Ok(custodian_retention::plan(&*catalogue, &policy, SystemClock.now(), args.days, None).await?)
}

/// An ed25519 public key written as 64 hex digits.
fn parse_public_key(hex_key: &str) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("a public key must be 64 hex digits")?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).context("not an ed25519 public key")
}

/// The key checkpoints are checked with: `--public-key`, else the key file's public half.
pub fn audit_key(args: &crate::cli::AuditArgs) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    if let Some(hex_key) = &args.public_key {
        return parse_public_key(hex_key).context("--public-key");
    }
    let path = match (&args.audit_key_file, &args.catalogue.data) {
        (Some(path), _) => path.clone(),
        (None, Some(data)) => data.join(crate::app::STANDALONE_KEY),
        (None, None) => anyhow::bail!("give --public-key or --audit-key-file"),
    };
    Ok(custodian_custody::read_key(&path)?.verifying_key())
}

/// Verifies an evidence package offline.
pub fn export_verify(
    package: &std::path::Path,
    public_key: Option<&str>,
) -> anyhow::Result<custodian_core::export::PackageReport> {
    use std::io::Read;
    let file =
        std::fs::File::open(package).with_context(|| format!("opening {}", package.display()))?;
    let mut files = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().context("reading the package")? {
        let mut entry = entry.context("reading the package")?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        if files.insert(path.clone(), bytes).is_some() {
            anyhow::bail!("{path} is in the package twice");
        }
    }
    let key_hex = match public_key {
        Some(key) => key.to_owned(),
        None => {
            eprintln!("checking against the key inside the package: this proves the package is intact, not who made it (give --public-key)");
            String::from_utf8_lossy(
                files
                    .get(custodian_core::export::PUBLIC_KEY)
                    .context("the package has no public-key.txt")?,
            )
            .trim()
            .to_owned()
        }
    };
    Ok(custodian_core::export::check_package(
        &files,
        &parse_public_key(&key_hex)?,
    )?)
}

/// Verifies every bureau's audit chain (or one) against its signed checkpoints.
pub async fn audit_verify(
    args: &crate::cli::AuditArgs,
) -> anyhow::Result<Vec<(String, custodian_core::audit::ChainReport)>> {
    let key = audit_key(args)?;
    let catalogue = open(&args.catalogue).await?;
    let bureaus = match &args.bureau {
        Some(bureau) => vec![bureau.clone()],
        None => catalogue.audit_bureaus().await?,
    };
    let mut reports = Vec::new();
    for bureau in bureaus {
        let mut entries: Vec<custodian_core::audit::AuditEntry> = Vec::new();
        loop {
            let after = entries.last().map(|e| e.seq).unwrap_or(0);
            let page = catalogue.audit_entries(&bureau, after, 10_000).await?;
            if page.is_empty() {
                break;
            }
            entries.extend(page);
        }
        let checkpoints = catalogue.checkpoints(&bureau).await?;
        let report = custodian_core::audit::verify_chain(&bureau, &entries, &checkpoints, &key)
            .with_context(|| format!("the audit trail of bureau {bureau} is broken"))?;
        reports.push((bureau, report));
    }
    Ok(reports)
}

/// A standalone data directory's catalogue, or the one at a database URL.
async fn open(
    location: &crate::cli::CatalogueLocation,
) -> anyhow::Result<std::sync::Arc<dyn Catalogue>> {
    match (&location.data, &location.database_url) {
        (Some(data), _) => crate::app::open_standalone_catalogue(data).await,
        (None, Some(url)) => catalogue::connect(url, 1)
            .await
            .context("opening the catalogue (--database-url)"),
        (None, None) => anyhow::bail!("give --data DIR or --database-url URL"),
    }
}

pub async fn token_create(args: &TokenCreateArgs) -> anyhow::Result<String> {
    let bureau = BureauId::parse(&args.bureau).context("--bureau")?;
    let end = args
        .expires_in
        .map(|after| end_after(SystemClock.now(), after, "--expires-in"))
        .transpose()?;
    let catalogue = open(&args.catalogue).await?;
    let name = args
        .bureau_name
        .clone()
        .unwrap_or_else(|| bureau.to_string());
    let (token, id) = insert_token(&*catalogue, &bureau, &name, &args.label, args.role).await?;
    // Dated after it is made: if this fails the token is never shown, so no one holds it.
    if end.is_some() {
        catalogue.set_token_expiry(&bureau, id, end).await?;
    }
    Ok(token)
}
