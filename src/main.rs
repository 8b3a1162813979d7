use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use custodian::cli::{
    AdminCommand, AuditCommand, CatalogueCommand, Cli, Command, ExportCommand, RetentionCommand,
    TasksCommand, TeamCommand, TokenCommand, UserCommand,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::MediaJob) {
        // Before any runtime thread or logger: the child confines itself while it has one
        // thread, so that every thread FFmpeg starts is confined too.
        return custodian::media_job::serve();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main(cli))
}

async fn async_main(cli: Cli) -> ExitCode {
    custodian_platform::telemetry::init(cli.log_json);
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole chain of causes: what failed, then why.
            tracing::error!(error = format!("{e:#}"), "custodian stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::MediaJob => anyhow::bail!("media-job is run by the media workers only"),
        Command::Media { command } => {
            let report = custodian::media_cli::run(command).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Standalone(args) => {
            custodian::app::start_standalone(&args)
                .await?
                .run_until_signal()
                .await
        }
        Command::Serve(args) => {
            custodian::app::start_role(&args)
                .await?
                .run_until_signal()
                .await
        }
        Command::Admin {
            command: AdminCommand::Token { command },
        } => token_command(command).await,
        Command::Admin {
            command: AdminCommand::User { command },
        } => user_command(command).await,
        Command::Admin {
            command:
                AdminCommand::Tasks {
                    command: TasksCommand::Import(args),
                },
        } => {
            let (tasks, added) = custodian::admin::tasks_import(&args).await?;
            eprintln!(
                "plan {}: {tasks} tasks, {added} added, {} already held",
                args.plan.display(),
                tasks - added
            );
            Ok(())
        }
        Command::Retention {
            command: RetentionCommand::Plan(args),
        } => {
            for entry in custodian::admin::retention_plan(&args).await? {
                println!("{}", serde_json::to_string(&entry)?);
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify(args),
        } => {
            for (bureau, report) in custodian::admin::audit_verify(&args).await? {
                let anchored = if args.without_anchors {
                    "anchors not checked".to_owned()
                } else {
                    format!("{} anchored in the blob store", report.anchored)
                };
                let restarted = match report.restarted_after {
                    Some(seq) => format!(
                        "; restarted by a catalogue rebuild after entry {seq}, whose signed head is all that survives of entries 1 to {seq}"
                    ),
                    None => String::new(),
                };
                println!(
                    "bureau {bureau}: {} entries, {} signed checkpoints ({anchored}), {} entries after the last: intact{restarted}",
                    report.entries, report.checkpoints, report.unsigned_tail
                );
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::PublicKey(args),
        } => {
            println!(
                "{}",
                hex::encode(custodian::admin::audit_key(&args)?.to_bytes())
            );
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Team {
                    command: TeamCommand::Create(args),
                },
        } => {
            let team = custodian::admin::team_create(&args).await?;
            eprintln!(
                "team {} of bureau {} registered {}",
                team.name,
                args.bureau,
                team.registered_at.to_rfc3339()
            );
            Ok(())
        }
        Command::Export {
            command:
                ExportCommand::Verify {
                    package,
                    public_key,
                    integrity_only: _,
                },
        } => {
            let report = custodian::admin::export_verify(&package, public_key.as_deref())?;
            let proven = if public_key.is_some() {
                "intact, signed by the given key"
            } else {
                "intact (signed by the key it carries: who made it is not proven)"
            };
            println!(
                "package {} of bureau {}: {} clips, {} files: {proven}",
                report.package_id, report.bureau, report.clips, report.files
            );
            Ok(())
        }
        Command::Migrate(args) => {
            let catalogue =
                custodian_platform::catalogue::PostgresCatalogue::connect(&args.database_url, 1)
                    .await
                    .context("migrating the catalogue (--database-url, a postgres:// URL)")?;
            if let Some(role) = &args.grant_runtime {
                catalogue
                    .grant_runtime(role)
                    .await
                    .with_context(|| format!("granting the runtime role {role}"))?;
            }
            println!("catalogue migrated");
            Ok(())
        }
        Command::Backup(args) => {
            let report = custodian::backup::backup(&args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Restore(args) => {
            let report = custodian::backup::restore(&args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Catalogue {
            command: CatalogueCommand::Rebuild(args),
        } => {
            let report = custodian::rebuild::rebuild(&args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Upload(args) => custodian_agent::run(args).await,
        Command::Demo(args) => {
            let result = custodian::demo::run(&args).await.context("demo failed")?;
            // With --serve the demo printed its record itself before it went on serving.
            if !result.is_null() {
                println!("{}", serde_json::to_string_pretty(&result)?);
            }
            Ok(())
        }
    }
}

async fn token_command(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => {
            let token = custodian::admin::token_create(&args).await?;
            println!("{token}");
            eprintln!("Keep this token now: only its hash is stored, it cannot be shown again.");
        }
        TokenCommand::List(args) => {
            for token in custodian::admin::token_list(&args).await? {
                println!("{token}");
            }
        }
        TokenCommand::Revoke(args) => {
            custodian::admin::token_revoke(&args).await?;
            eprintln!("token {} revoked", args.id);
        }
        TokenCommand::Rotate(args) => {
            let (token, id) = custodian::admin::token_rotate(&args).await?;
            println!("{token}");
            eprintln!(
                "The new token's id is {id}. Keep it now: only its hash is stored, it cannot be shown again."
            );
        }
        TokenCommand::Expire(args) => match custodian::admin::token_expire(&args).await? {
            Some(end) => eprintln!("token {} expires {}", args.token.id, end.to_rfc3339()),
            None => eprintln!("token {} never expires", args.token.id),
        },
        TokenCommand::Bind(args) => match custodian::admin::token_bind(&args).await? {
            Some(thumbprint) => eprintln!(
                "token {} bound to the client certificate x5t#S256 {thumbprint}",
                args.token.id
            ),
            None => eprintln!("token {} unbound", args.token.id),
        },
    }
    Ok(())
}

async fn user_command(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create(args) => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            custodian::admin::user_create(&args, password.trim_end_matches(['\r', '\n'])).await?;
            eprintln!("user {} created in bureau {}", args.username, args.bureau);
        }
        UserCommand::List(args) => {
            for user in custodian::admin::user_list(&args).await? {
                println!("{user}");
            }
        }
        UserCommand::Disable(args) => {
            custodian::admin::user_set_disabled(&args, true).await?;
            eprintln!(
                "user {} of bureau {} disabled; their sessions ended",
                args.username, args.bureau
            );
        }
        UserCommand::Enable(args) => {
            custodian::admin::user_set_disabled(&args, false).await?;
            eprintln!("user {} of bureau {} enabled", args.username, args.bureau);
        }
    }
    Ok(())
}
