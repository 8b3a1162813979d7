//! Write-behind for resumable uploads. The parts a PATCH brought keep going to the store after
//! the PATCH is answered, so the client sends its next chunk while the store still takes the
//! last ones (as `aws s3 cp` keeps several parts in flight). Only durable parts move the
//! catalogue's offset, which is what HEAD answers and what any replica resumes from: a replica
//! that dies with parts in flight loses them, and the client, told so by 409 or HEAD, sends
//! them again. Memory stays bounded: a few parts per upload and a budget for the replica.
//!
//! A session lives on the replica that took the upload's last request, under a lock that
//! serialises the upload's requests; once the upload has been idle a moment its parts are
//! settled (awaited and saved) and the session dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use custodian_core::resumable::ResumableSha256;
use custodian_core::ClipId;
use custodian_platform::blob::{BlobError, BlobStore, PartBody, PartUpload, StoredPart};
use custodian_platform::catalogue::{CatalogueError, TusProgress, TusUpload, UploadRepo};
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// How many parts of one upload may be on their way to the store at once.
pub(crate) const PARTS_IN_FLIGHT_PER_UPLOAD: usize = 2;
/// Stored parts are saved in the catalogue this many at a time (and whenever the upload is
/// settled): one commit per part would hold up every request. A replica that dies loses at
/// most this much progress, which the client sends again.
const SAVE_EVERY_PARTS: usize = 4;
/// An upload without requests for this long has its parts settled and its session dropped.
pub(crate) const SETTLE_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Why a session could not go on; the caller answers with it and the session starts again
/// from the catalogue.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("the catalogue's offset moved under this replica")]
    Concurrent,
    #[error("upload {clip}: {detail}")]
    Corrupt { clip: ClipId, detail: String },
}

type SharedSession = Arc<Mutex<Session>>;

/// The sessions of this replica, and its budget of part buffers.
pub(crate) struct Sessions {
    /// Each upload's session, with the id that tells it from a later one of the same upload.
    open: StdMutex<HashMap<ClipId, (u64, SharedSession)>>,
    next_id: AtomicU64,
    budget: Arc<Semaphore>,
}

impl Sessions {
    pub(crate) fn new(parts_budget: usize) -> Arc<Self> {
        Arc::new(Self {
            open: StdMutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            budget: Arc::new(Semaphore::new(parts_budget.max(1))),
        })
    }

    fn get(&self, clip: ClipId) -> Option<SharedSession> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&clip)
            .map(|(_, session)| session.clone())
    }

    /// The upload's session, locked, consistent with `upload` as the catalogue just gave it.
    /// A new session gets a settler that closes it once the upload is idle. `None` if a
    /// session closed while this waited for it: it may have saved progress since `upload`
    /// was read, so the caller reads it again.
    pub(crate) async fn open(
        self: &Arc<Self>,
        blob: &Arc<dyn BlobStore>,
        catalogue: &Arc<dyn UploadRepo>,
        upload: &TusUpload,
    ) -> Result<Option<OwnedMutexGuard<Session>>, SessionError> {
        {
            let session = {
                let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                match open.get(&upload.clip) {
                    Some((_, session)) => session.clone(),
                    None => {
                        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                        let session = Arc::new(Mutex::new(Session::new(
                            id,
                            upload,
                            blob.clone(),
                            self.budget.clone(),
                        )?));
                        open.insert(upload.clip, (id, session.clone()));
                        self.spawn_settler(upload.clip, session.clone(), catalogue.clone());
                        session
                    }
                }
            };
            let mut guard = session.lock_owned().await;
            if guard.closed {
                return Ok(None);
            }
            guard.touch();
            guard.discard_unverified().await;
            if guard.poisoned || guard.saved.offset != upload.progress.offset {
                // Another replica moved the upload on, or this session failed: what the
                // catalogue says is the truth.
                guard.reset(upload.progress.clone()).await;
            }
            Ok(Some(guard))
        }
    }

    /// Settles the upload's parts if this replica has any in flight, so the catalogue holds
    /// every byte this replica acknowledged.
    pub(crate) async fn settle(
        &self,
        catalogue: &dyn UploadRepo,
        clip: ClipId,
    ) -> Result<(), SessionError> {
        if let Some(session) = self.get(clip) {
            let mut session = session.lock().await;
            session.discard_unverified().await;
            session.settle_all(catalogue).await?;
        }
        Ok(())
    }

    /// Settles every session of this replica (on shutdown), logging what could not be.
    pub(crate) async fn settle_every(&self, catalogue: &dyn UploadRepo) {
        let clips: Vec<ClipId> = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        for clip in clips {
            if let Err(e) = self.settle(catalogue, clip).await {
                tracing::warn!(clip_id = %clip, error = %e, "acknowledged parts not settled at shutdown; the client will send them again");
            }
        }
    }

    /// Ends the upload's session on this replica, waiting out its parts in flight; their
    /// results are dropped (the upload is finished or given up).
    pub(crate) async fn close(&self, clip: ClipId) {
        if let Some(session) = self.get(clip) {
            let mut session = session.lock().await;
            let saved = session.saved.clone();
            session.reset(saved).await;
            self.remove(clip, &mut session);
        }
    }

    /// Takes a session out of the map (if the map still holds this one) and marks it closed,
    /// so a request that was waiting for its lock opens a new one.
    pub(crate) fn remove(&self, clip: ClipId, session: &mut Session) {
        session.closed = true;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.get(&clip).is_some_and(|(id, _)| *id == session.id) {
            open.remove(&clip);
        }
    }

    fn spawn_settler(
        self: &Arc<Self>,
        clip: ClipId,
        session: SharedSession,
        catalogue: Arc<dyn UploadRepo>,
    ) {
        let sessions = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SETTLE_AFTER_IDLE).await;
                let mut guard = session.lock().await;
                if guard.closed {
                    return;
                }
                if guard.last_used.elapsed() < SETTLE_AFTER_IDLE {
                    continue;
                }
                guard.discard_unverified().await;
                if let Err(e) = guard.settle_all(catalogue.as_ref()).await {
                    tracing::warn!(clip_id = %clip, error = %e, "parts of an idle upload could not be settled; the client will send them again");
                }
                sessions.remove(clip, &mut guard);
                return;
            }
        });
    }
}

/// A part sent to the store, and where the upload stands once it is there.
struct QueuedPart {
    sending: Option<JoinHandle<Result<StoredPart, BlobError>>>,
    stored: Option<StoredPart>,
    /// The running digest over every byte up to the end of this part (its length is the
    /// upload's offset then).
    hash_after: ResumableSha256,
}

impl QueuedPart {
    /// The stored part, once it is. Cancel-safe: a wait cut short can be taken up again.
    async fn wait(&mut self, key: &str) -> Result<StoredPart, BlobError> {
        if let Some(sending) = self.sending.as_mut() {
            let joined = sending.await;
            self.sending = None;
            let joined = joined.map_err(|e| BlobError::Failed {
                operation: "upload_part",
                key: key.to_owned(),
                message: e.to_string(),
            })?;
            self.stored = Some(joined?);
        }
        self.stored.clone().ok_or_else(|| BlobError::Failed {
            operation: "upload_part",
            key: key.to_owned(),
            message: "a failed part was awaited twice".into(),
        })
    }
}

/// One upload's state on this replica: what the catalogue holds, and the parts acknowledged to
/// the client that are still on their way.
pub(crate) struct Session {
    id: u64,
    blob: Arc<dyn BlobStore>,
    budget: Arc<Semaphore>,
    pub(crate) handle: PartUpload,
    clip: ClipId,
    /// The upload as the catalogue holds it (durable).
    pub(crate) saved: TusProgress,
    /// Acknowledged parts being stored, oldest first.
    queue: VecDeque<QueuedPart>,
    /// Parts of the request in progress whose chunk checksum is not checked yet. They are
    /// saved only if it matches, and are awaited before their numbers are used again (a late
    /// write must not replace a newer part).
    unverified: VecDeque<QueuedPart>,
    last_used: Instant,
    /// Set once a request failed midway: the next one starts from the catalogue.
    poisoned: bool,
    closed: bool,
}

impl Session {
    fn new(
        id: u64,
        upload: &TusUpload,
        blob: Arc<dyn BlobStore>,
        budget: Arc<Semaphore>,
    ) -> Result<Self, SessionError> {
        let session = Self {
            id,
            blob,
            budget,
            handle: PartUpload {
                key: upload.object_key.clone(),
                upload_id: upload.multipart_id.clone(),
            },
            clip: upload.clip,
            saved: upload.progress.clone(),
            queue: VecDeque::new(),
            unverified: VecDeque::new(),
            last_used: Instant::now(),
            poisoned: false,
            closed: false,
        };
        session.saved_hash()?;
        Ok(session)
    }

    fn saved_hash(&self) -> Result<ResumableSha256, SessionError> {
        ResumableSha256::from_saved(&self.saved.hash_state).map_err(|e| SessionError::Corrupt {
            clip: self.clip,
            detail: e.to_string(),
        })
    }

    /// Where the client's next byte goes: the digest so far and the bytes waiting for a full
    /// part (only ever left when nothing is in flight).
    pub(crate) fn acknowledged(&self) -> Result<(ResumableSha256, Vec<u8>), SessionError> {
        match self.queue.back() {
            Some(last) => Ok((last.hash_after.clone(), Vec::new())),
            None => Ok((self.saved_hash()?, self.saved.tail.clone())),
        }
    }

    /// Notes a request: the settler leaves the session alone until it has been idle a while.
    pub(crate) fn touch(&mut self) {
        self.last_used = Instant::now();
    }

    /// The offset the client has been told: every byte up to it is stored or on its way.
    pub(crate) fn acknowledged_offset(&self) -> u64 {
        match self.queue.back() {
            Some(last) => last.hash_after.length(),
            None => self.saved.offset,
        }
    }

    fn in_flight(&self) -> usize {
        self.queue
            .iter()
            .chain(&self.unverified)
            .filter(|part| part.sending.is_some())
            .count()
    }

    /// Sends the next part to the store without waiting for it. `hash_after` is the digest up
    /// to the part's end; `checked` says whether the bytes are known good (no chunk checksum
    /// pending). Waits first while the upload has its fill of parts in flight.
    pub(crate) async fn send_part(
        &mut self,
        catalogue: &dyn UploadRepo,
        part: PartBody,
        hash_after: ResumableSha256,
        checked: bool,
    ) -> Result<(), SessionError> {
        while self.in_flight() >= PARTS_IN_FLIGHT_PER_UPLOAD {
            let oldest = self
                .queue
                .iter_mut()
                .chain(self.unverified.iter_mut())
                .find(|p| p.sending.is_some());
            if let Some(oldest) = oldest {
                if let Err(e) = oldest.wait(&self.handle.key).await {
                    self.poisoned = true;
                    return Err(e.into());
                }
            }
        }
        if self.stored_unsaved() >= SAVE_EVERY_PARTS {
            self.save_stored(catalogue).await?;
        }
        let permit: OwnedSemaphorePermit =
            self.budget
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| BlobError::Failed {
                    operation: "upload_part",
                    key: self.handle.key.clone(),
                    message: e.to_string(),
                })?;
        let number = (self.saved.parts.len() + self.queue.len() + self.unverified.len() + 1) as u32;
        let blob = self.blob.clone();
        let handle = self.handle.clone();
        let sending = tokio::spawn(async move {
            let stored = blob.put_part(&handle, number, part).await;
            drop(permit);
            stored
        });
        let queued = QueuedPart {
            sending: Some(sending),
            stored: None,
            hash_after,
        };
        if checked {
            self.queue.push_back(queued);
        } else {
            self.unverified.push_back(queued);
        }
        Ok(())
    }

    /// The request's chunk checksum matched: its parts count as acknowledged.
    pub(crate) fn accept_unverified(&mut self) {
        self.queue.extend(self.unverified.drain(..));
    }

    /// The request's bytes are not to be kept: its parts are awaited and forgotten.
    pub(crate) async fn discard_unverified(&mut self) {
        for mut part in self.unverified.drain(..) {
            let _ = part.wait(&self.handle.key).await;
        }
    }

    /// Waits out everything in flight, forgets it, and takes `progress` as the truth.
    async fn reset(&mut self, progress: TusProgress) {
        self.discard_unverified().await;
        for mut part in self.queue.drain(..) {
            let _ = part.wait(&self.handle.key).await;
        }
        self.saved = progress;
        self.poisoned = false;
    }

    /// How many acknowledged parts, oldest first, are stored but not yet saved.
    fn stored_unsaved(&self) -> usize {
        self.queue
            .iter()
            .take_while(|part| part.sending.is_none())
            .count()
    }

    /// Saves the upload up to the end of the last of the oldest parts that are stored. They
    /// leave the queue only once saved, so a request cancelled meanwhile loses nothing.
    async fn save_stored(&mut self, catalogue: &dyn UploadRepo) -> Result<(), SessionError> {
        let key = self.handle.key.clone();
        let count = self.stored_unsaved();
        let Some(last) = count.checked_sub(1).map(|i| &self.queue[i]) else {
            return Ok(());
        };
        let hash_after = last.hash_after.clone();
        let mut parts = self.saved.parts.clone();
        for part in self.queue.iter_mut().take(count) {
            parts.push(part.wait(&key).await?);
        }
        self.record(
            catalogue,
            TusProgress {
                offset: hash_after.length(),
                parts,
                hash_state: hash_after.to_saved(),
                tail: Vec::new(),
            },
        )
        .await?;
        self.queue.drain(..count);
        Ok(())
    }

    /// Waits for every acknowledged part and saves the upload's progress, so the catalogue
    /// holds everything the client was told.
    pub(crate) async fn settle_all(
        &mut self,
        catalogue: &dyn UploadRepo,
    ) -> Result<(), SessionError> {
        let key = self.handle.key.clone();
        for part in self.queue.iter_mut() {
            if let Err(e) = part.wait(&key).await {
                self.poisoned = true;
                return Err(e.into());
            }
        }
        self.save_stored(catalogue).await
    }

    /// Saves `progress` if the catalogue still holds what this session last saved.
    pub(crate) async fn record(
        &mut self,
        catalogue: &dyn UploadRepo,
        progress: TusProgress,
    ) -> Result<(), SessionError> {
        if catalogue
            .save_tus_progress(self.clip, self.saved.offset, &progress)
            .await?
        {
            self.saved = progress;
            Ok(())
        } else {
            self.poisoned = true;
            Err(SessionError::Concurrent)
        }
    }
}
