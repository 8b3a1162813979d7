//! For tests only (feature `testing`): fresh, isolated resources on the real services this
//! machine runs, so tests can run in parallel. Each call makes its own PostgreSQL database,
//! S3 bucket, or JetStream stream with its own subject prefix. Where a service is missing the
//! helpers fail loudly: a test never skips for lack of one.

pub mod pdf;

use std::time::Duration;

use crate::blob::{S3BlobStore, S3Settings};
use crate::bus::NatsSettings;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A new, empty PostgreSQL database; returns its URL.
pub async fn fresh_postgres_url() -> String {
    use sqlx::Connection;
    let admin = env_or(
        "CUSTODIAN_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    let name = unique("custodian_t_");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin} is needed for this test (scripts/test.sh starts it): {e}")
        });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("creating the test database");
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base.to_owned())
        .unwrap_or(admin);
    format!("{base}/{name}")
}

/// S3 settings for the test server, for `bucket`.
pub fn s3_settings(bucket: &str) -> S3Settings {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test.sh, or eval \"$(scripts/garage.sh env)\" after scripts/garage.sh start"))
    };
    S3Settings {
        endpoint: Some(var("CUSTODIAN_TEST_S3_ENDPOINT")),
        bucket: bucket.to_owned(),
        region: "us-east-1".into(),
        access_key_id: var("CUSTODIAN_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: var("CUSTODIAN_TEST_S3_SECRET_ACCESS_KEY").into(),
        path_style: true,
        part_size: 5 << 20,
        parts_in_flight: 2,
    }
}

/// A store on a new bucket of the test S3 server.
pub async fn fresh_s3_store() -> (S3BlobStore, S3Settings) {
    let settings = s3_settings(&unique("t-"));
    let store = S3BlobStore::new(&settings);
    store
        .ensure_bucket()
        .await
        .unwrap_or_else(|e| panic!("creating test bucket {}: {e}", settings.bucket));
    (store, settings)
}

/// Every object key in the store's bucket, sorted.
pub async fn object_keys(store: &S3BlobStore) -> Result<Vec<String>, aws_sdk_s3::Error> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store
            .client()
            .list_objects_v2()
            .bucket(store.bucket())
            .set_continuation_token(token.clone())
            .send()
            .await?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    keys.sort();
    Ok(keys)
}

/// The keys of the multipart writes still open in the store's bucket, sorted.
pub async fn open_multipart_keys(store: &S3BlobStore) -> Result<Vec<String>, aws_sdk_s3::Error> {
    let open = store
        .client()
        .list_multipart_uploads()
        .bucket(store.bucket())
        .send()
        .await?;
    let mut keys: Vec<String> = open
        .uploads()
        .iter()
        .filter_map(|u| u.key().map(str::to_owned))
        .collect();
    keys.sort();
    Ok(keys)
}

/// A store on a new bucket of the moto S3 emulator (scripts/moto.sh), created with Object Lock
/// enabled when `object_lock`: for the Object Lock paths Garage does not implement.
pub async fn fresh_moto_store(object_lock: bool) -> S3BlobStore {
    let endpoint = std::env::var("CUSTODIAN_TEST_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("CUSTODIAN_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, or scripts/moto.sh start")
    });
    let settings = S3Settings {
        endpoint: Some(endpoint),
        bucket: unique("lock-"),
        region: "us-east-1".into(),
        access_key_id: "moto".into(),
        secret_access_key: "moto".into(),
        path_style: true,
        part_size: 5 << 20,
        parts_in_flight: 2,
    };
    let store = S3BlobStore::new(&settings);
    store
        .client()
        .create_bucket()
        .bucket(&settings.bucket)
        .object_lock_enabled_for_bucket(object_lock)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating moto bucket {}: {e:?}", settings.bucket));
    store
}

/// Settings for a stream and subject prefix of this test's own on the local NATS server.
pub fn fresh_nats() -> NatsSettings {
    let id = unique("");
    NatsSettings {
        url: env_or("CUSTODIAN_TEST_NATS_URL", "nats://127.0.0.1:4222"),
        stream: format!("T_{id}"),
        subject_prefix: format!("t{id}"),
        max_age: Duration::from_secs(3600),
        security: Default::default(),
    }
}

/// Polls `check` until it returns `Some`, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
