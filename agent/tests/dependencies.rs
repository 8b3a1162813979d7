//! The agent runs on collection stations, which must not need FFmpeg's libraries, a database
//! driver or the AWS SDK: none of them may enter its dependency tree.

use std::process::Command;

#[test]
fn the_agent_depends_on_no_ffmpeg_database_or_s3_sdk() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "--package",
            "custodian-agent",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let packages: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(
        packages.contains(&"custodian-agent") && packages.contains(&"reqwest"),
        "not the agent's tree: {tree}"
    );
    let forbidden = [
        "ffmpeg",
        "sqlx",
        "aws-",
        "async-nats",
        "custodian-platform",
        "custodian-media",
    ];
    let found: Vec<&&str> = packages
        .iter()
        .filter(|p| forbidden.iter().any(|f| p.starts_with(f)))
        .collect();
    assert!(found.is_empty(), "the agent pulls in {found:?}");
}
