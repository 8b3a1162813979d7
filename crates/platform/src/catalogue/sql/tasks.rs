//! The queries of enforcement tasks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::supervision::{MomentMark, NotFilmedReason};
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::{Adapter, Db, BEGIN_WRITE};
use crate::catalogue::model::{reason_text, MomentRow, TaskRow, TASK_COLUMNS};
use crate::catalogue::sql::err;
use crate::catalogue::{CatalogueError, TaskFilter, TaskLink, TaskRecord, TaskRepo};

#[async_trait]
impl TaskRepo for Adapter {
    async fn create_tasks(&self, tasks: &[TaskRecord]) -> Result<usize, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("begin"))?;
        let sql = format!(
            "INSERT INTO enforcement_tasks ({TASK_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (bureau_id, external_id) DO NOTHING"
        );
        let mut added = 0;
        for task in tasks {
            let officers = serde_json::to_string(&task.plan.officers).map_err(|e| {
                CatalogueError::Corrupt {
                    detail: format!("task {}: {e}", task.id),
                }
            })?;
            let result = sqlx::query::<Db>(&sql)
                .bind(task.id)
                .bind(task.bureau.as_str())
                .bind(&task.plan.external_id)
                .bind(&task.plan.enterprise)
                .bind(&task.plan.kind)
                .bind(task.plan.starts_at)
                .bind(task.plan.ends_at)
                .bind(officers)
                .bind(&task.plan.place)
                .bind(&task.plan.case_ref)
                .bind(task.not_filmed.map(reason_text))
                .bind(&task.not_filmed_note)
                .bind(task.created_at)
                .bind(&task.created_by)
                .execute(&mut *tx)
                .await
                .map_err(err("create task"))?;
            added += result.rows_affected() as usize;
        }
        tx.commit().await.map_err(err("commit tasks"))?;
        Ok(added)
    }

    async fn task(
        &self,
        bureau: &BureauId,
        id: Uuid,
    ) -> Result<Option<TaskRecord>, CatalogueError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM enforcement_tasks WHERE id = $1 AND bureau_id = $2"
        );
        let row: Option<TaskRow> = sqlx::query_as(&sql)
            .bind(id)
            .bind(bureau.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("get task"))?;
        row.map(TaskRecord::try_from).transpose()
    }

    async fn list_tasks(
        &self,
        bureau: &BureauId,
        filter: &TaskFilter,
        limit: i64,
    ) -> Result<Vec<TaskRecord>, CatalogueError> {
        let mut query = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT {TASK_COLUMNS} FROM enforcement_tasks WHERE bureau_id = "
        ));
        query.push_bind(bureau.as_str());
        if let Some(from) = filter.ends_from {
            query.push(" AND ends_at >= ").push_bind(from);
        }
        if let Some(to) = filter.ends_to {
            query.push(" AND ends_at < ").push_bind(to);
        }
        if let Some(officer) = &filter.officer {
            // Officers are a JSON array of strings: an officer's quoted number is in the
            // text only if it is one of them (numbers hold no quotes or wildcards).
            query
                .push(" AND officers LIKE ")
                .push_bind(format!("%{}%", serde_json::Value::String(officer.clone())));
        }
        if let Some((at, id)) = filter.after {
            query
                .push(" AND (starts_at > ")
                .push_bind(at)
                .push(" OR (starts_at = ")
                .push_bind(at)
                .push(" AND id > ")
                .push_bind(id)
                .push("))");
        }
        query
            .push(" ORDER BY starts_at, id LIMIT ")
            .push_bind(limit);
        let rows: Vec<TaskRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(err("list tasks"))?;
        rows.into_iter().map(TaskRecord::try_from).collect()
    }

    async fn link_task_clip(
        &self,
        task: Uuid,
        clip: ClipId,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let result = sqlx::query(
            "INSERT INTO task_clips (task_id, clip_id, linked_at, linked_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (task_id, clip_id) DO NOTHING",
        )
        .bind(task)
        .bind(clip.as_uuid())
        .bind(at)
        .bind(by)
        .execute(&self.pool)
        .await
        .map_err(err("link task clip"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn task_links(&self, task: Uuid) -> Result<Vec<TaskLink>, CatalogueError> {
        let rows: Vec<(Uuid, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT clip_id, linked_at, linked_by FROM task_clips WHERE task_id = $1 \
             ORDER BY linked_at, clip_id",
        )
        .bind(task)
        .fetch_all(&self.pool)
        .await
        .map_err(err("task links"))?;
        Ok(rows
            .into_iter()
            .map(|(clip, linked_at, linked_by)| TaskLink {
                clip: ClipId::from_uuid(clip),
                linked_at,
                linked_by,
            })
            .collect())
    }

    async fn mark_moment(
        &self,
        task: Uuid,
        mark: &MomentMark,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError> {
        let clips = serde_json::to_string(&mark.clips).map_err(|e| CatalogueError::Corrupt {
            detail: format!("task {task}: {e}"),
        })?;
        sqlx::query(
            "INSERT INTO task_moments (task_id, moment, clips, not_filmed, note, marked_at, marked_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (task_id, moment) DO UPDATE SET clips = excluded.clips, \
             not_filmed = excluded.not_filmed, note = excluded.note, \
             marked_at = excluded.marked_at, marked_by = excluded.marked_by",
        )
        .bind(task)
        .bind(i64::from(mark.moment))
        .bind(clips)
        .bind(mark.not_filmed.map(reason_text))
        .bind(&mark.note)
        .bind(at)
        .bind(by)
        .execute(&self.pool)
        .await
        .map_err(err("mark moment"))?;
        Ok(())
    }

    async fn task_moments(&self, task: Uuid) -> Result<Vec<MomentMark>, CatalogueError> {
        let rows: Vec<MomentRow> = sqlx::query_as(
            "SELECT task_id, moment, clips, not_filmed, note FROM task_moments \
             WHERE task_id = $1 ORDER BY moment",
        )
        .bind(task)
        .fetch_all(&self.pool)
        .await
        .map_err(err("task moments"))?;
        rows.into_iter().map(MomentMark::try_from).collect()
    }

    async fn set_task_not_filmed(
        &self,
        task: Uuid,
        reason: Option<NotFilmedReason>,
        note: Option<&str>,
    ) -> Result<(), CatalogueError> {
        sqlx::query(
            "UPDATE enforcement_tasks SET not_filmed = $1, not_filmed_note = $2 WHERE id = $3",
        )
        .bind(reason.map(reason_text))
        .bind(note)
        .bind(task)
        .execute(&self.pool)
        .await
        .map_err(err("task not filmed"))?;
        Ok(())
    }
}
