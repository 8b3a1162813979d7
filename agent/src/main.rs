//! `custodian-agent`: the upload agent on its own, for collection stations.

use clap::Parser;

/// Uploads body-camera files, or every file that appears in a watched directory, to Custodian.
#[derive(Parser)]
#[command(name = "custodian-agent", version)]
struct Cli {
    #[command(flatten)]
    upload: custodian_agent::UploadArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    custodian_agent::run(Cli::parse().upload).await
}
