//! Rectification orders (责令限期整改, art. 25): ordered, answered, accepted or reopened, with
//! every step kept.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::rectification::RectificationState;
use custodian_core::BureauId;
use uuid::Uuid;

use super::{CatalogueError, RectificationRecord, RectificationStepRecord};

/// A move of an order from one state to the next, with the step that made it.
#[derive(Debug, Clone)]
pub struct RectificationMove {
    pub from: RectificationState,
    pub to: RectificationState,
    pub step: RectificationStepRecord,
    /// A reopening's new limit (and whether the calendar knew every day of it).
    pub new_due: Option<(DateTime<Utc>, bool)>,
    /// An answer after the limit.
    pub late: bool,
}

#[async_trait]
pub trait RectificationRepo: Send + Sync {
    /// Stores a new order with its first step (`order`, the text of what to mend).
    async fn create_rectification(&self, order: &RectificationRecord)
        -> Result<(), CatalogueError>;

    async fn rectification(
        &self,
        bureau: &BureauId,
        id: Uuid,
    ) -> Result<Option<RectificationRecord>, CatalogueError>;

    /// An order's steps, first to last.
    async fn rectification_steps(
        &self,
        id: Uuid,
    ) -> Result<Vec<RectificationStepRecord>, CatalogueError>;

    /// A bureau's orders, newest first, in `state` if given.
    async fn list_rectifications(
        &self,
        bureau: &BureauId,
        state: Option<RectificationState>,
        limit: i64,
    ) -> Result<Vec<RectificationRecord>, CatalogueError>;

    /// Moves an order if it is still in `change.from`, keeping the step. Returns whether it
    /// moved.
    async fn advance_rectification(
        &self,
        id: Uuid,
        change: &RectificationMove,
    ) -> Result<bool, CatalogueError>;

    /// Per bureau, how many orders wait for their answer past their limit at `now`.
    async fn overdue_rectifications(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(BureauId, i64)>, CatalogueError>;
}
