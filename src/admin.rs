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
    let now = SystemClock.now();
    catalogue.ensure_bureau(bureau, bureau_name, now).await?;
    let token = token_from_random(rand::random());
    catalogue
        .insert_token(bureau, &token_hash(&token), label, role, now)
        .await?;
    Ok(token)
}

/// The retention plan, for every bureau, as `custodian retention plan` prints it.
pub async fn retention_plan(
    args: &crate::cli::PlanArgs,
) -> anyhow::Result<Vec<custodian_retention::PlanEntry>> {
    let policy = args.retention.policy()?;
    let catalogue = open(&args.data, &args.database_url).await?;
    Ok(custodian_retention::plan(&*catalogue, &policy, SystemClock.now(), args.days, None).await?)
}

/// A standalone data directory's catalogue, or the one at a database URL.
async fn open(
    data: &Option<std::path::PathBuf>,
    database_url: &Option<String>,
) -> anyhow::Result<std::sync::Arc<dyn Catalogue>> {
    match (data, database_url) {
        (Some(data), _) => crate::app::open_standalone_catalogue(data).await,
        (None, Some(url)) => catalogue::connect(url, 1)
            .await
            .context("opening the catalogue (--database-url)"),
        (None, None) => anyhow::bail!("give --data DIR or --database-url URL"),
    }
}

pub async fn token_create(args: &TokenCreateArgs) -> anyhow::Result<String> {
    let bureau = BureauId::parse(&args.bureau).context("--bureau")?;
    let catalogue = open(&args.data, &args.database_url).await?;
    let name = args
        .bureau_name
        .clone()
        .unwrap_or_else(|| bureau.to_string());
    create_token(&*catalogue, &bureau, &name, &args.label, args.role).await
}
