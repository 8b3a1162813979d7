//! Blobs in S3-compatible object storage through aws-sdk-s3. Small objects go up in one
//! PutObject; larger ones as a multipart upload with a few parts in flight, so memory stays
//! bounded by `part_size × parts_in_flight` whatever the file size. Every request carries the
//! SHA-256 of its bytes, which the server checks; afterwards HeadObject's checksum is compared
//! with ours (for multipart, the composite of the part digests). Bodies go unsigned
//! (UNSIGNED-PAYLOAD): the signed checksum header binds them just as well, and signing them
//! would hash every byte once more on a path that already hashes each byte twice.
//!
//! Some servers (Garage) ignore `If-None-Match: *`, so a key is checked with HeadObject before
//! it is written; keys carry a fresh clip id, so the check guards against bugs, not races.

use async_trait::async_trait;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockEnabled,
    ObjectLockLegalHoldStatus, ObjectLockMode, StorageClass,
};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use custodian_core::Sha256Digest;
use tokio::task::JoinSet;

use super::{
    BlobError, BlobReader, BlobStore, BlobWriter, LockSupport, PartBody, PartSizes, PartUpload,
    RunningDigest, StoredPart, WriteOptions, WrittenObject,
};

/// The smallest part S3 accepts, except for the last.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    /// Never printed: its Debug shows `[REDACTED]`.
    pub secret_access_key: secrecy::SecretString,
    pub path_style: bool,
    pub part_size: usize,
    pub parts_in_flight: usize,
}

#[derive(Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    part_size: usize,
    parts_in_flight: usize,
}

fn classify<E, R>(operation: &'static str, key: &str, err: SdkError<E, R>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let key = key.to_owned();
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => BlobError::Unavailable {
            operation,
            key,
            message: err_text(&err),
        },
        SdkError::ResponseError(_) => BlobError::Unavailable {
            operation,
            key,
            message: err_text(&err),
        },
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            let message = format!("{code}: {}", service.err().message().unwrap_or(""));
            match code {
                "NoSuchKey" | "NotFound" => BlobError::NotFound { key },
                "InternalError" | "ServiceUnavailable" | "SlowDown" | "RequestTimeout" => {
                    BlobError::Unavailable {
                        operation,
                        key,
                        message,
                    }
                }
                _ => BlobError::Failed {
                    operation,
                    key,
                    message,
                },
            }
        }
        _ => BlobError::Failed {
            operation,
            key,
            message: err_text(&err),
        },
    }
}

fn err_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

impl S3BlobStore {
    pub fn new(settings: &S3Settings) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let credentials = Credentials::new(
            &settings.access_key_id,
            secrecy::ExposeSecret::expose_secret(&settings.secret_access_key),
            None,
            None,
            "custodian-config",
        );
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .http_client(http)
            .force_path_style(settings.path_style)
            // We compute SHA-256 ourselves and send it; the SDK's default trailing CRC32 on a
            // streamed body is rejected by some S3-compatible servers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            part_size: settings.part_size.max(MIN_PART_SIZE),
            parts_in_flight: settings.parts_in_flight.max(1),
        }
    }

    /// Stores one part with its SHA-256; answers the store's ETag for it.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: PartBody,
    ) -> Result<String, BlobError> {
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .checksum_sha256(body.sha256.to_base64())
            .body(ByteStream::from(body.bytes))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| classify("upload_part", key, e))?;
        Ok(uploaded.e_tag().unwrap_or_default().to_owned())
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The SDK client, for tests and tools that need a call this store does not make.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the bucket if it does not exist (development and tests; production buckets
    /// are made by their operators with their retention settings).
    pub async fn ensure_bucket(&self) -> Result<(), BlobError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err().code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("create_bucket", &self.bucket, e)),
        }
    }

    async fn head(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head)),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(classify("head_object", key, e)),
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn create_with(
        &self,
        key: &str,
        options: &WriteOptions,
    ) -> Result<Box<dyn BlobWriter>, BlobError> {
        if self.head(key).await?.is_some() {
            return Err(BlobError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        Ok(Box::new(S3Writer {
            options: options.clone(),
            store: self.clone(),
            key: key.to_owned(),
            buffer: BytesMut::with_capacity(self.part_size),
            digest: RunningDigest::default(),
            upload_id: None,
            in_flight: JoinSet::new(),
            done_parts: Vec::new(),
        }))
    }

    async fn verify(&self, written: &WrittenObject) -> Result<(), BlobError> {
        let head = self
            .head(&written.key)
            .await?
            .ok_or_else(|| BlobError::NotFound {
                key: written.key.clone(),
            })?;
        let mismatch = |detail: String| BlobError::Mismatch {
            key: written.key.clone(),
            detail,
        };
        let size = head.content_length().unwrap_or(-1);
        if size != written.size as i64 {
            return Err(mismatch(format!(
                "wrote {} bytes, store reports {size}",
                written.size
            )));
        }
        let expected = if written.part_digests.is_empty() {
            written.sha256.to_base64()
        } else {
            Sha256Digest::composite_of_parts(&written.part_digests)
        };
        match head.checksum_sha256() {
            Some(reported) if reported == expected => Ok(()),
            Some(reported) => Err(mismatch(format!(
                "sha-256 sent {expected}, store reports {reported}"
            ))),
            // The server checked the SHA-256 sent with each request when it took the bytes;
            // one that does not report it back can only be checked by size here.
            None => {
                tracing::debug!(key = %written.key, "store reports no sha-256; verified by size");
                Ok(())
            }
        }
    }

    async fn size_of(&self, key: &str) -> Result<Option<u64>, BlobError> {
        Ok(self
            .head(key)
            .await?
            .map(|head| head.content_length().unwrap_or(0).max(0) as u64))
    }

    async fn open(&self, key: &str) -> Result<BlobReader, BlobError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("get_object", key, e))?;
        Ok(Box::pin(object.body.into_async_read()))
    }

    async fn open_range(
        &self,
        key: &str,
        start: u64,
        length: u64,
    ) -> Result<BlobReader, BlobError> {
        if length == 0 {
            return Ok(Box::pin(tokio::io::empty()));
        }
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={start}-{}", start + length - 1))
            .send()
            .await
            .map_err(|e| classify("get_object", key, e))?;
        Ok(Box::pin(object.body.into_async_read()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("list_objects_v2", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("delete_object", key, e))?;
        Ok(())
    }

    async fn check(&self) -> Result<(), BlobError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| classify("head_bucket", &self.bucket, e))?;
        Ok(())
    }

    fn part_sizes(&self) -> PartSizes {
        PartSizes {
            min: MIN_PART_SIZE,
            preferred: self.part_size,
            max_parts: 10_000,
        }
    }

    async fn start_parts(&self, key: &str) -> Result<PartUpload, BlobError> {
        if self.head(key).await?.is_some() {
            return Err(BlobError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(|e| classify("create_multipart_upload", key, e))?;
        let upload_id = created
            .upload_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| BlobError::Failed {
                operation: "create_multipart_upload",
                key: key.to_owned(),
                message: "the store answered no upload id".into(),
            })?;
        Ok(PartUpload {
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
        })
    }

    async fn put_part(
        &self,
        upload: &PartUpload,
        number: u32,
        body: PartBody,
    ) -> Result<StoredPart, BlobError> {
        let size = body.len() as u64;
        let sha256 = body.sha256();
        let etag = self
            .upload_part(&upload.key, &upload.upload_id, number, body)
            .await?;
        Ok(StoredPart {
            number,
            size,
            sha256,
            etag,
        })
    }

    async fn complete_parts(
        &self,
        upload: &PartUpload,
        parts: &[StoredPart],
        sha256: Sha256Digest,
    ) -> Result<WrittenObject, BlobError> {
        let completed = parts
            .iter()
            .map(|part| {
                CompletedPart::builder()
                    .part_number(part.number as i32)
                    .e_tag(&part.etag)
                    .checksum_sha256(part.sha256.to_base64())
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("complete_multipart_upload", &upload.key, e))?;
        // The server checked each part's SHA-256 as it took it; `verify` compares the
        // composite it reports with these part digests.
        Ok(WrittenObject {
            key: upload.key.clone(),
            size: parts.iter().map(|p| p.size).sum(),
            sha256,
            part_digests: parts.iter().map(|p| p.sha256).collect(),
        })
    }

    async fn abort_parts(&self, upload: &PartUpload) -> Result<(), BlobError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if e.err().code() == Some("NoSuchUpload") || e.raw().status().as_u16() == 404 =>
            {
                Ok(())
            }
            Err(e) => Err(classify("abort_multipart_upload", &upload.key, e)),
        }
    }

    async fn abort_unfinished(&self, key: &str) -> Result<usize, BlobError> {
        let listed = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(key)
            .send()
            .await
            .map_err(|e| classify("list_multipart_uploads", key, e))?;
        let mut aborted = 0;
        for upload in listed.uploads() {
            let (Some(found), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                continue;
            };
            if found != key {
                continue;
            }
            self.abort_parts(&PartUpload {
                key: key.to_owned(),
                upload_id: upload_id.to_owned(),
            })
            .await?;
            aborted += 1;
        }
        Ok(aborted)
    }

    async fn lock_support(&self) -> LockSupport {
        match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out)
                if out
                    .object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    == Some(&ObjectLockEnabled::Enabled) =>
            {
                LockSupport::Compliance
            }
            Ok(_) => LockSupport::Unsupported(format!(
                "bucket {} was created without Object Lock",
                self.bucket
            )),
            Err(e) => LockSupport::Unsupported(format!(
                "bucket {} answers no Object Lock configuration: {}",
                self.bucket,
                e.code().unwrap_or("no code")
            )),
        }
    }
}

struct S3Writer {
    options: WriteOptions,
    store: S3BlobStore,
    key: String,
    buffer: BytesMut,
    digest: RunningDigest,
    upload_id: Option<String>,
    in_flight: JoinSet<Result<(CompletedPart, Sha256Digest), BlobError>>,
    done_parts: Vec<(CompletedPart, Sha256Digest)>,
}

impl S3Writer {
    fn lock_mode(&self) -> Option<ObjectLockMode> {
        self.options
            .retain_until
            .map(|_| ObjectLockMode::Compliance)
    }

    fn retain_until(&self) -> Option<aws_sdk_s3::primitives::DateTime> {
        self.options
            .retain_until
            .map(|at| aws_sdk_s3::primitives::DateTime::from_secs(at.timestamp()))
    }

    fn legal_hold(&self) -> Option<ObjectLockLegalHoldStatus> {
        self.options
            .legal_hold
            .then_some(ObjectLockLegalHoldStatus::On)
    }

    fn storage_class(&self) -> Option<StorageClass> {
        self.options
            .storage_class
            .as_deref()
            .map(StorageClass::from)
    }

    async fn send_part(&mut self, body: Bytes) -> Result<(), BlobError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .store
                    .client
                    .create_multipart_upload()
                    .bucket(&self.store.bucket)
                    .key(&self.key)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .set_object_lock_mode(self.lock_mode())
                    .set_object_lock_retain_until_date(self.retain_until())
                    .set_object_lock_legal_hold_status(self.legal_hold())
                    .set_storage_class(self.storage_class())
                    .send()
                    .await
                    .map_err(|e| classify("create_multipart_upload", &self.key, e))?;
                let id = created.upload_id().unwrap_or_default().to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= self.store.parts_in_flight {
            self.collect_one().await?;
        }
        let part_number = (self.done_parts.len() + self.in_flight.len() + 1) as u32;
        let store = self.store.clone();
        let key = self.key.clone();
        self.in_flight.spawn(async move {
            let body = PartBody::new(body);
            let digest = body.sha256();
            let etag = store
                .upload_part(&key, &upload_id, part_number, body)
                .await?;
            let part = CompletedPart::builder()
                .part_number(part_number as i32)
                .set_e_tag(Some(etag).filter(|etag| !etag.is_empty()))
                .checksum_sha256(digest.to_base64())
                .build();
            Ok((part, digest))
        });
        Ok(())
    }

    async fn collect_one(&mut self) -> Result<(), BlobError> {
        if let Some(joined) = self.in_flight.join_next().await {
            let part = joined.map_err(|e| BlobError::Failed {
                operation: "upload_part",
                key: self.key.clone(),
                message: e.to_string(),
            })??;
            self.done_parts.push(part);
        }
        Ok(())
    }

    async fn finish_inner(&mut self) -> Result<WrittenObject, BlobError> {
        let rest = self.buffer.split().freeze();
        let store = self.store.clone();
        if self.upload_id.is_none() {
            let digest = Sha256Digest::of(&rest);
            store
                .client
                .put_object()
                .bucket(&store.bucket)
                .key(&self.key)
                .if_none_match("*")
                .checksum_sha256(digest.to_base64())
                // Object Lock puts must name their checksum algorithm; others need not, and
                // some servers mishandle the header.
                .set_checksum_algorithm(self.lock_mode().map(|_| ChecksumAlgorithm::Sha256))
                .set_object_lock_mode(self.lock_mode())
                .set_object_lock_retain_until_date(self.retain_until())
                .set_object_lock_legal_hold_status(self.legal_hold())
                .set_storage_class(self.storage_class())
                .body(ByteStream::from(rest))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| classify("put_object", &self.key, e))?;
        } else {
            if !rest.is_empty() {
                self.send_part(rest).await?;
            }
            while !self.in_flight.is_empty() {
                self.collect_one().await?;
            }
            self.done_parts.sort_by_key(|(part, _)| part.part_number());
            let parts = self
                .done_parts
                .iter()
                .map(|(part, _)| part.clone())
                .collect();
            store
                .client
                .complete_multipart_upload()
                .bucket(&store.bucket)
                .key(&self.key)
                .upload_id(self.upload_id.clone().unwrap_or_default())
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify("complete_multipart_upload", &self.key, e))?;
        }
        let (size, sha256) = std::mem::take(&mut self.digest).finish();
        let part_digests = self.done_parts.iter().map(|(_, digest)| *digest).collect();
        Ok(WrittenObject {
            key: self.key.clone(),
            size,
            sha256,
            part_digests,
        })
    }

    async fn abort_inner(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(upload_id) = self.upload_id.take() {
            let aborted = self
                .store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::warn!(key = %self.key, error = %err_text(&e), "could not abort multipart upload; the bucket's lifecycle rule must clean it");
            }
        }
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, mut chunk: Bytes) -> Result<(), BlobError> {
        self.digest.update(&chunk);
        while !chunk.is_empty() {
            let room = self.store.part_size - self.buffer.len();
            let take = room.min(chunk.len());
            self.buffer.extend_from_slice(&chunk.split_to(take));
            if self.buffer.len() == self.store.part_size {
                let part = self.buffer.split().freeze();
                self.buffer.reserve(self.store.part_size);
                if let Err(e) = self.send_part(part).await {
                    self.abort_inner().await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<WrittenObject, BlobError> {
        match self.finish_inner().await {
            Ok(written) => Ok(written),
            Err(e) => {
                self.abort_inner().await;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        self.abort_inner().await;
    }

    fn written(&self) -> u64 {
        self.digest.size()
    }
}
