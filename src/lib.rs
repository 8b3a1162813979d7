//! The `custodian` program: the only place that knows every role. It reads the command line,
//! builds the ports a mode needs (local directory, SQLite and in-process queues for the
//! standalone server; S3, PostgreSQL and NATS for a region), starts the roles on them, serves
//! their HTTP routes beside `/metrics`, `/healthz` and `/readyz`, and shuts them down in order.

pub mod admin;
pub mod app;
pub mod backup;
pub mod cli;
pub mod demo;
pub mod media_cli;
pub mod media_job;
pub mod rebuild;
