//! `custodian-loadtest`: an open-model load generator for Custodian's upload pipeline. It
//! generates a few small clips with ffmpeg, uploads them for simulated bureaus and devices at
//! `--rate` uploads/s for `--duration`, follows each clip to `catalogued`, and writes a
//! report to `--out` (see the crate documentation and docs/performance.md, "Load test").

use clap::Parser as _;
use custodian_loadtest::{clips, config, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = config::Args::parse();
    // Check every setting before spending time generating clips.
    config::validate(&args)?;
    let tokens = config::tokens(&args)?;
    let work = tempfile::tempdir()?;
    eprintln!(
        "generating {} clip(s) of {} s with ffmpeg",
        args.clips, args.clip_seconds
    );
    let (dir, count, seconds) = (work.path().to_path_buf(), args.clips, args.clip_seconds);
    // ffmpeg blocks for seconds: keep it off the async workers.
    let clips =
        tokio::task::spawn_blocking(move || clips::generate(&dir, count, seconds)).await??;
    let report = run::run(&args, tokens, clips).await?;
    println!("{}", custodian_loadtest::report::markdown(&report));
    eprintln!("report written to {}", args.out.display());
    Ok(())
}
