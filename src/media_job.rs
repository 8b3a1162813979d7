//! `custodian media-job`: the sandboxed child a media worker starts for each job. It knows
//! the jobs by name (`custodian_media::jobs`) and runs them with ffmpeg-next, after
//! `custodian_media::sandbox::child::serve` has confined it; the worker reads its answer.

use std::process::ExitCode;

use custodian_media::sandbox::child::{serve as serve_job, JobInput};
use custodian_media::{jobs, MediaError};
use custodian_transcoder::{render_job, RenderParams};

/// Runs the one job on stdin and answers on stdout.
pub fn serve() -> ExitCode {
    serve_job(run)
}

fn run(input: JobInput<'_>) -> Result<serde_json::Value, MediaError> {
    match input.job {
        jobs::SAMPLE => to_json(custodian_media::sample(
            input.original,
            input.limits,
            input.stop,
        )?),
        jobs::RENDER => {
            let params: RenderParams = serde_json::from_value(input.params)
                .map_err(|e| MediaError::Sandbox(format!("render parameters: {e}")))?;
            to_json(render_job(
                input.dir,
                input.original,
                params,
                input.limits,
                input.stop,
            )?)
        }
        other => Err(MediaError::Sandbox(format!(
            "no media job is called {other:?}"
        ))),
    }
}

fn to_json(value: impl serde::Serialize) -> Result<serde_json::Value, MediaError> {
    serde_json::to_value(value).map_err(|e| MediaError::Sandbox(format!("the answer: {e}")))
}
