//! Administration commands.

use anyhow::Context;
use custodian_core::roles::{OfficerIdentity, Role};
use custodian_core::token::{token_from_random, token_hash};
use custodian_core::{BureauId, LocalId};
use custodian_platform::catalogue::{self, AccessRepo, AuditRepo, CaseRepo, Catalogue, Team};
use custodian_platform::clock::{Clock, SystemClock};

use crate::cli::{OfficerArgs, TeamCreateArgs, TokenCreateArgs};

/// Creates a bureau's token and returns it; only its hash is kept.
pub async fn create_token(
    catalogue: &dyn AccessRepo,
    bureau: &BureauId,
    bureau_name: &str,
    label: &str,
    role: Role,
) -> anyhow::Result<String> {
    Ok(create_token_for(
        catalogue,
        bureau,
        bureau_name,
        label,
        role,
        &OfficerIdentity::default(),
    )
    .await?
    .0)
}

/// Creates a bureau's token speaking for an officer (checked by [`officer_identity`]): the
/// token (shown once) and its id; only its hash is kept.
pub async fn create_token_for(
    catalogue: &dyn AccessRepo,
    bureau: &BureauId,
    bureau_name: &str,
    label: &str,
    role: Role,
    identity: &OfficerIdentity,
) -> anyhow::Result<(String, uuid::Uuid)> {
    let now = SystemClock.now();
    catalogue.ensure_bureau(bureau, bureau_name, now).await?;
    let token = token_from_random(rand::random());
    let id = catalogue
        .insert_token(bureau, &token_hash(&token), label, role, identity, now)
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
    catalogue: &dyn AuditRepo,
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

/// Binds a token to a client certificate, or unbinds it; returns the thumbprint bound.
pub async fn token_bind(args: &crate::cli::TokenBindArgs) -> anyhow::Result<Option<String>> {
    let bureau = BureauId::parse(&args.token.bureau).context("--bureau")?;
    let thumbprint = match (&args.client_cert, args.unbind) {
        (Some(path), false) => Some(custodian_platform::config::certificate_file_thumbprint(
            "client-cert",
            path,
        )?),
        (None, true) => None,
        _ => anyhow::bail!("give --client-cert PATH or --unbind"),
    };
    let catalogue = open(&args.token.catalogue).await?;
    if !catalogue
        .set_token_certificate(&bureau, args.token.id, thumbprint.as_deref())
        .await?
    {
        anyhow::bail!(
            "bureau {bureau} has no unrevoked token {} (see admin token list)",
            args.token.id
        );
    }
    let detail = thumbprint.as_ref().map_or_else(
        || "unbound from its client certificate".to_owned(),
        |t| format!("bound to the client certificate x5t#S256 {t}"),
    );
    audit_operator(
        &*catalogue,
        &bureau,
        "bind token",
        args.token.id.to_string(),
        detail,
    )
    .await?;
    Ok(thumbprint)
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

/// The officer a credential of `role` will speak for, from `--officer-id` and `--team`: only
/// an officer's credential names one (staff classify every clip anyway, and a collection
/// station speaks for no one), and the team must be one of the bureau's, so a misspelt team
/// is refused here rather than silently granting nothing.
pub async fn officer_identity(
    catalogue: &dyn CaseRepo,
    bureau: &BureauId,
    role: Role,
    args: &OfficerArgs,
) -> anyhow::Result<OfficerIdentity> {
    if args.officer_id.is_none() && args.team.is_none() {
        return Ok(OfficerIdentity::default());
    }
    if role != Role::Officer {
        anyhow::bail!(
            "--officer-id and --team are for officers' credentials; a {role} classifies every clip of the bureau or none"
        );
    }
    let officer = args
        .officer_id
        .as_deref()
        .map(|o| LocalId::parse("officer id", o.trim()))
        .transpose()
        .context("--officer-id")?;
    let team = match &args.team {
        None => None,
        Some(text) => {
            let team = custodian_core::cases::team_name(text).context("--team")?;
            let known = catalogue
                .teams(bureau)
                .await?
                .into_iter()
                .any(|t| t.name == team)
                || catalogue
                    .devices(bureau)
                    .await?
                    .iter()
                    .any(|d| d.team == team);
            if !known {
                anyhow::bail!(
                    "team {team:?} is not a team of bureau {bureau}; register it first (custodian admin team create --bureau {bureau} --name {team:?})"
                );
            }
            Some(team)
        }
    };
    Ok(OfficerIdentity { officer, team })
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
    let identity = officer_identity(&*catalogue, &bureau, args.role, &args.officer).await?;
    catalogue
        .create_user(
            &bureau,
            &args.username,
            args.role,
            &identity,
            &hash,
            SystemClock.now(),
        )
        .await?;
    Ok(())
}

/// Registers a team of an existing bureau (art. 15).
pub async fn team_create(args: &TeamCreateArgs) -> anyhow::Result<Team> {
    let bureau = BureauId::parse(&args.bureau).context("--bureau")?;
    let name = custodian_core::cases::team_name(&args.name).context("--name")?;
    let catalogue = open(&args.catalogue).await?;
    if !catalogue.bureau_exists(&bureau).await? {
        anyhow::bail!("bureau {bureau} does not exist (create it with admin token create)");
    }
    Ok(catalogue
        .register_team(&bureau, &name, SystemClock.now())
        .await?)
}

/// Imports a plan's tasks into a bureau: (tasks in the plan, tasks added).
pub async fn tasks_import(args: &crate::cli::TasksImportArgs) -> anyhow::Result<(usize, usize)> {
    use custodian_core::supervision;
    let bureau = BureauId::parse(&args.bureau).context("--bureau")?;
    let rules = match &args.record_rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--record-rules {}", path.display()))?;
            custodian_core::records::RecordRules::from_toml(&text)
                .with_context(|| format!("--record-rules {}", path.display()))?
        }
        None => custodian_core::records::RecordRules::default(),
    };
    let kinds: Vec<&str> = rules.case_types().iter().map(String::as_str).collect();
    let text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("reading {} (a UTF-8 file)", args.plan.display()))?;
    let is_json = args
        .plan
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        let plans = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON array of tasks", args.plan.display()))?;
        supervision::check_plan(plans, &kinds)
    } else {
        supervision::parse_plan_csv(&text, &kinds)
    };
    let plans = parsed.map_err(|rows| {
        let lines: Vec<String> = rows
            .iter()
            .map(|r| format!("row {}: {}", r.row, r.error))
            .collect();
        anyhow::anyhow!(
            "{} rows of {} are wrong; nothing was imported:\n{}",
            rows.len(),
            args.plan.display(),
            lines.join("\n")
        )
    })?;
    let catalogue = open(&args.catalogue).await?;
    if !catalogue.bureau_exists(&bureau).await? {
        anyhow::bail!("bureau {bureau} does not exist (create it with admin token create)");
    }
    let now = SystemClock.now();
    let tasks = custodian_platform::catalogue::TaskRecord::new_for(
        &bureau,
        plans,
        "custodian admin tasks import",
        now,
    );
    let added = catalogue.create_tasks(&tasks).await?;
    Ok((tasks.len(), added))
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
    verifying_key(
        &args.catalogue,
        args.public_key.as_deref(),
        args.audit_key_file.as_deref(),
    )
}

/// The audit key's public half: given in hex, or read from the key file (by default the
/// standalone data directory's).
pub(crate) fn verifying_key(
    location: &crate::cli::CatalogueLocation,
    public_key: Option<&str>,
    key_file: Option<&std::path::Path>,
) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    if let Some(hex_key) = public_key {
        return parse_public_key(hex_key).context("--public-key");
    }
    let path = match (key_file, &location.data) {
        (Some(path), _) => path.to_owned(),
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
        None => String::from_utf8_lossy(
            files
                .get(custodian_core::export::PUBLIC_KEY)
                .context("the package has no public-key.txt")?,
        )
        .trim()
        .to_owned(),
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
    let anchors = if args.without_anchors {
        Vec::new()
    } else {
        anchored_checkpoints(&*blob_store(&args.catalogue)?).await?
    };
    let mut bureaus = match &args.bureau {
        Some(bureau) => vec![bureau.clone()],
        None => catalogue.audit_bureaus().await?,
    };
    // A bureau whose whole chain was deleted from the catalogue still has its anchors.
    if args.bureau.is_none() {
        for anchor in &anchors {
            if !bureaus.contains(&anchor.bureau) {
                bureaus.push(anchor.bureau.clone());
            }
        }
    }
    let max_age = chrono::Duration::from_std(args.max_checkpoint_age)
        .context("--max-checkpoint-age is too long")?;
    let now = args.as_of.unwrap_or_else(chrono::Utc::now);
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
        let report = if args.without_anchors {
            custodian_core::audit::verify_chain(&bureau, &entries, &checkpoints, &key)
        } else {
            custodian_core::audit::verify_anchored(
                &bureau,
                &entries,
                &checkpoints,
                &anchors,
                &key,
                now,
                max_age,
            )
        }
        .with_context(|| format!("the audit trail of bureau {bureau} is broken"))?;
        reports.push((bureau, report));
    }
    Ok(reports)
}

/// The blob store beside a catalogue: DATA/blobs for `--data`, else the region's S3 bucket
/// from its `CUSTODIAN_S3_*` variables.
pub(crate) fn blob_store(
    location: &crate::cli::CatalogueLocation,
) -> anyhow::Result<Box<dyn custodian_platform::blob::BlobStore>> {
    use custodian_platform::blob::BlobStore;
    /// A region's blob store, from its `CUSTODIAN_S3_*` variables.
    #[derive(clap::Parser)]
    struct RegionStore {
        #[command(flatten)]
        s3: custodian_platform::config::S3Args,
    }
    let store: Box<dyn BlobStore> = match &location.data {
        Some(data) => Box::new(
            // The server may be running: read its store without touching its writes.
            custodian_platform::blob::LocalBlobStore::open_beside_its_server(data.join("blobs")),
        ),
        None => {
            let region =
                <RegionStore as clap::Parser>::try_parse_from(["anchors"]).map_err(|e| {
                    anyhow::anyhow!(
                        "the audit anchors and the originals' records live in the region's \
                         blob store: set its CUSTODIAN_S3_* variables (audit verify can also \
                         be given --without-anchors to verify the catalogue alone) ({})",
                        e.kind()
                    )
                })?;
            Box::new(custodian_platform::blob::S3BlobStore::new(
                &region
                    .s3
                    .validate()
                    .context("the S3 settings of the region's blob store")?,
            ))
        }
    };
    Ok(store)
}

/// Every checkpoint anchored in the blob store.
pub(crate) async fn anchored_checkpoints(
    store: &dyn custodian_platform::blob::BlobStore,
) -> anyhow::Result<Vec<custodian_core::audit::Checkpoint>> {
    let mut anchors = Vec::new();
    for key in store
        .list(custodian_core::audit::ANCHOR_PREFIX)
        .await
        .context("listing the audit anchors")?
    {
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut store.open(&key).await?, &mut bytes)
            .await
            .with_context(|| format!("reading anchor {key}"))?;
        let checkpoint: custodian_core::audit::Checkpoint = serde_json::from_slice(&bytes)
            .with_context(|| format!("anchor {key} is not a checkpoint"))?;
        if custodian_core::audit::anchor_bureau(&key) != Some(checkpoint.bureau.as_str()) {
            anyhow::bail!(
                "anchor {key} names bureau {}: moved or forged",
                checkpoint.bureau
            );
        }
        anchors.push(checkpoint);
    }
    Ok(anchors)
}

/// A standalone data directory's catalogue, or the one at a database URL.
pub(crate) async fn open(
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
    let binding = args
        .bind_client_cert
        .as_deref()
        .map(|path| {
            custodian_platform::config::certificate_file_thumbprint("bind-client-cert", path)
        })
        .transpose()?;
    let catalogue = open(&args.catalogue).await?;
    let name = args
        .bureau_name
        .clone()
        .unwrap_or_else(|| bureau.to_string());
    let identity = officer_identity(&*catalogue, &bureau, args.role, &args.officer).await?;
    let (token, id) = create_token_for(
        &*catalogue,
        &bureau,
        &name,
        &args.label,
        args.role,
        &identity,
    )
    .await?;
    // Dated and bound after it is made: if this fails the token is never shown, so no one
    // holds it.
    if end.is_some() {
        catalogue.set_token_expiry(&bureau, id, end).await?;
    }
    if let Some(thumbprint) = &binding {
        catalogue
            .set_token_certificate(&bureau, id, Some(thumbprint))
            .await?;
    }
    Ok(token)
}
