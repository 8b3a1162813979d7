//! Enforcement tasks (执法任务) of a bureau's plan, the recordings linked to them by hand,
//! and the art. 7 moments marked on them (art. 6, 7, 8, 25).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::supervision::{MomentMark, NotFilmedReason};
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::{CatalogueError, TaskFilter, TaskLink, TaskRecord};

#[async_trait]
pub trait TaskRepo: Send + Sync {
    /// Adds the tasks in one transaction; a task whose plan number the bureau already has
    /// is left as it is. Returns the tasks added.
    async fn create_tasks(&self, tasks: &[TaskRecord]) -> Result<usize, CatalogueError>;

    async fn task(&self, bureau: &BureauId, id: Uuid)
        -> Result<Option<TaskRecord>, CatalogueError>;

    /// A bureau's tasks by start time, after the filter's cursor.
    async fn list_tasks(
        &self,
        bureau: &BureauId,
        filter: &TaskFilter,
        limit: i64,
    ) -> Result<Vec<TaskRecord>, CatalogueError>;

    /// Links a clip (already checked to be the task's bureau's) by hand; whether it was not
    /// linked before.
    async fn link_task_clip(
        &self,
        task: Uuid,
        clip: ClipId,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;

    async fn task_links(&self, task: Uuid) -> Result<Vec<TaskLink>, CatalogueError>;

    /// Marks a moment (replacing an earlier mark of it).
    async fn mark_moment(
        &self,
        task: Uuid,
        mark: &MomentMark,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;

    async fn task_moments(&self, task: Uuid) -> Result<Vec<MomentMark>, CatalogueError>;

    /// Records (or, with `None`, withdraws) an art. 8 reason for not filming the task.
    async fn set_task_not_filmed(
        &self,
        task: Uuid,
        reason: Option<NotFilmedReason>,
        note: Option<&str>,
    ) -> Result<(), CatalogueError>;
}
