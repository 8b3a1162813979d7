//! The queries of rectification orders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::rectification::{RectificationState, RectificationStep};
use custodian_core::BureauId;
use uuid::Uuid;

use super::{Adapter, BEGIN_WRITE};
use crate::catalogue::model::{RectificationRow, RectificationStepRow, RECTIFICATION_COLUMNS};
use crate::catalogue::sql::err;
use crate::catalogue::{
    CatalogueError, RectificationMove, RectificationRecord, RectificationRepo,
    RectificationStepRecord,
};

#[async_trait]
impl RectificationRepo for Adapter {
    async fn create_rectification(
        &self,
        order: &RectificationRecord,
    ) -> Result<(), CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("order rectification"))?;
        let sql = format!(
            "INSERT INTO rectifications ({RECTIFICATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        sqlx::query(&sql)
            .bind(order.id)
            .bind(order.bureau.as_str())
            .bind(&order.finding_kind)
            .bind(&order.article)
            .bind(order.subject.as_deref())
            .bind(order.reference.as_deref())
            .bind(&order.detail)
            .bind(&order.responsible)
            .bind(order.state.as_str())
            .bind(order.due_at)
            .bind(order.calendar_complete)
            .bind(&order.ordered_by)
            .bind(order.ordered_at)
            .bind(order.answered_late)
            .bind(order.closed_at)
            .execute(&mut *tx)
            .await
            .map_err(err("order rectification"))?;
        insert_step(
            &mut tx,
            order.id,
            &RectificationStepRecord {
                step: RectificationStep::Order,
                at: order.ordered_at,
                by: order.ordered_by.clone(),
                text: order.detail.clone(),
                due_at: Some(order.due_at),
            },
        )
        .await?;
        tx.commit().await.map_err(err("order rectification"))?;
        Ok(())
    }

    async fn rectification(
        &self,
        bureau: &BureauId,
        id: Uuid,
    ) -> Result<Option<RectificationRecord>, CatalogueError> {
        let sql = format!(
            "SELECT {RECTIFICATION_COLUMNS} FROM rectifications WHERE id = $1 AND bureau_id = $2"
        );
        let row: Option<RectificationRow> = sqlx::query_as(&sql)
            .bind(id)
            .bind(bureau.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("rectification"))?;
        row.map(RectificationRecord::try_from).transpose()
    }

    async fn rectification_steps(
        &self,
        id: Uuid,
    ) -> Result<Vec<RectificationStepRecord>, CatalogueError> {
        let rows: Vec<RectificationStepRow> = sqlx::query_as(
            "SELECT rectification_id, step, at, by_whom, text, due_at FROM rectification_steps \
             WHERE rectification_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(err("rectification steps"))?;
        rows.into_iter()
            .map(RectificationStepRecord::try_from)
            .collect()
    }

    async fn list_rectifications(
        &self,
        bureau: &BureauId,
        state: Option<RectificationState>,
        limit: i64,
    ) -> Result<Vec<RectificationRecord>, CatalogueError> {
        let sql = format!(
            "SELECT {RECTIFICATION_COLUMNS} FROM rectifications WHERE bureau_id = $1 \
             AND ($2 OR state = $3) ORDER BY ordered_at DESC, id DESC LIMIT $4"
        );
        let rows: Vec<RectificationRow> = sqlx::query_as(&sql)
            .bind(bureau.as_str())
            .bind(state.is_none())
            .bind(state.map_or("", RectificationState::as_str))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("list rectifications"))?;
        rows.into_iter()
            .map(RectificationRecord::try_from)
            .collect()
    }

    async fn advance_rectification(
        &self,
        id: Uuid,
        change: &RectificationMove,
    ) -> Result<bool, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("advance rectification"))?;
        let closed_at = (change.to == RectificationState::Accepted).then_some(change.step.at);
        let moved = sqlx::query(
            "UPDATE rectifications SET state = $3, \
             due_at = COALESCE($4, due_at), calendar_complete = COALESCE($5, calendar_complete), \
             answered_late = answered_late OR $6, closed_at = $7 \
             WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(change.from.as_str())
        .bind(change.to.as_str())
        .bind(change.new_due.map(|(due, _)| due))
        .bind(change.new_due.map(|(_, complete)| complete))
        .bind(change.late)
        .bind(closed_at)
        .execute(&mut *tx)
        .await
        .map_err(err("advance rectification"))?
        .rows_affected();
        if moved != 1 {
            return Ok(false);
        }
        insert_step(&mut tx, id, &change.step).await?;
        tx.commit().await.map_err(err("advance rectification"))?;
        Ok(true)
    }

    async fn overdue_rectifications(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(BureauId, i64)>, CatalogueError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT bureau_id, COUNT(*) FROM rectifications WHERE state = 'ordered' AND due_at < $1 \
             GROUP BY bureau_id ORDER BY bureau_id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(err("overdue rectifications"))?;
        rows.into_iter()
            .map(|(bureau, count)| {
                Ok((
                    BureauId::parse(&bureau).map_err(|e| CatalogueError::Corrupt {
                        detail: format!("rectification of bureau {bureau}: {e}"),
                    })?,
                    count,
                ))
            })
            .collect()
    }
}

async fn insert_step(
    tx: &mut sqlx::Transaction<'_, super::Db>,
    id: Uuid,
    step: &RectificationStepRecord,
) -> Result<(), CatalogueError> {
    sqlx::query(
        "INSERT INTO rectification_steps (rectification_id, step, at, by_whom, text, due_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(step.step.as_str())
    .bind(step.at)
    .bind(&step.by)
    .bind(&step.text)
    .bind(step.due_at)
    .execute(&mut **tx)
    .await
    .map_err(err("rectification step"))?;
    Ok(())
}
