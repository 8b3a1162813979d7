//! The queries of cases, devices and teams.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::cases::CaseState;
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::{Adapter, Db, BEGIN_WRITE};
use crate::catalogue::model::{CaseRow, DeviceRow, CASE_COLUMNS};
use crate::catalogue::sql::err;
use crate::catalogue::{
    CaseClosure, CaseFilter, CaseRecord, CaseRepo, CatalogueError, Device, Team,
};

#[async_trait]
impl CaseRepo for Adapter {
    async fn create_case(&self, case: &CaseRecord) -> Result<(), CatalogueError> {
        let sql = format!("INSERT INTO cases ({CASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
        sqlx::query(&sql)
            .bind(case.id)
            .bind(case.bureau.as_str())
            .bind(&case.reference)
            .bind(&case.title)
            .bind(case.state.as_str())
            .bind(case.opened_at)
            .bind(case.closed_at)
            .bind(case.filing_due_at)
            .bind(case.filed_at)
            .bind(case.calendar_complete)
            .bind(case.closed_on)
            .bind(&case.case_type)
            .execute(&self.pool)
            .await
            .map_err(err("create case"))?;
        Ok(())
    }

    async fn case(
        &self,
        bureau: &BureauId,
        id: Uuid,
    ) -> Result<Option<CaseRecord>, CatalogueError> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1 AND bureau_id = $2");
        let row: Option<CaseRow> = sqlx::query_as(&sql)
            .bind(id)
            .bind(bureau.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("get case"))?;
        row.map(CaseRecord::try_from).transpose()
    }

    async fn case_by_reference(
        &self,
        bureau: &BureauId,
        reference: &str,
    ) -> Result<Option<CaseRecord>, CatalogueError> {
        let sql =
            format!("SELECT {CASE_COLUMNS} FROM cases WHERE bureau_id = $1 AND reference = $2");
        let row: Option<CaseRow> = sqlx::query_as(&sql)
            .bind(bureau.as_str())
            .bind(reference)
            .fetch_optional(&self.pool)
            .await
            .map_err(err("get case"))?;
        row.map(CaseRecord::try_from).transpose()
    }

    async fn case_clip_ids(&self, case: Uuid) -> Result<Vec<ClipId>, CatalogueError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT clip_id FROM case_clips WHERE case_id = $1 ORDER BY clip_id",
        )
        .bind(case)
        .fetch_all(&self.pool)
        .await
        .map_err(err("case clips"))?;
        Ok(ids.into_iter().map(ClipId::from_uuid).collect())
    }

    async fn link_clips(
        &self,
        case: Uuid,
        clips: &[ClipId],
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("link clips"))?;
        let mut linked = 0;
        for clip in clips {
            linked += sqlx::query(
                "INSERT INTO case_clips (case_id, clip_id, linked_at, linked_by) VALUES ($1, $2, $3, $4) ON CONFLICT (case_id, clip_id) DO NOTHING",
            )
            .bind(case)
            .bind(clip.as_uuid())
            .bind(at)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(err("link clips"))?
            .rows_affected() as usize;
        }
        tx.commit().await.map_err(err("link clips"))?;
        Ok(linked)
    }

    async fn set_case_state(
        &self,
        id: Uuid,
        from: CaseState,
        to: CaseState,
        at: DateTime<Utc>,
        closure: Option<&CaseClosure>,
    ) -> Result<bool, CatalogueError> {
        let (closed_at, filed_at) = match to {
            CaseState::Closed => (Some(at), None),
            CaseState::Filed => (None, Some(at)),
            CaseState::Open => (None, None),
        };
        let moved = sqlx::query(
            "UPDATE cases SET state = $3, closed_at = COALESCE($4, closed_at), filed_at = COALESCE($5, filed_at), \
             filing_due_at = COALESCE($6, filing_due_at), calendar_complete = COALESCE($7, calendar_complete), \
             closed_on = COALESCE($8, closed_on) WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(closed_at)
        .bind(filed_at)
        .bind(closure.map(|c| c.filing_due))
        .bind(closure.map(|c| c.calendar_complete))
        .bind(closure.map(|c| c.closed_on))
        .execute(&self.pool)
        .await
        .map_err(err("case state"))?
        .rows_affected();
        Ok(moved == 1)
    }

    async fn list_cases(
        &self,
        bureau: &BureauId,
        filter: &CaseFilter,
        limit: i64,
    ) -> Result<Vec<CaseRecord>, CatalogueError> {
        let mut query = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE bureau_id = "
        ));
        query.push_bind(bureau.as_str());
        if let Some(state) = filter.state {
            query.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(at) = filter.filing_overdue_at {
            query
                .push(" AND state = 'closed' AND filing_due_at <= ")
                .push_bind(at);
        }
        if let Some(before) = filter.before {
            query.push(" AND id < ").push_bind(before);
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
        let rows: Vec<CaseRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(err("list cases"))?;
        rows.into_iter().map(CaseRecord::try_from).collect()
    }

    async fn unclassified_in_case(&self, case: Uuid) -> Result<usize, CatalogueError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM case_clips JOIN clips ON clips.id = case_clips.clip_id WHERE case_clips.case_id = $1 AND clips.classified_at IS NULL",
        )
        .bind(case)
        .fetch_one(&self.pool)
        .await
        .map_err(err("unclassified in case"))?;
        Ok(count.max(0) as usize)
    }

    async fn upsert_device(
        &self,
        bureau: &BureauId,
        device: &Device,
    ) -> Result<(), CatalogueError> {
        sqlx::query(
            "INSERT INTO devices (bureau_id, device_id, team, officer_id, registered_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (bureau_id, device_id) DO UPDATE SET team = excluded.team, officer_id = excluded.officer_id",
        )
        .bind(bureau.as_str())
        .bind(device.device.as_str())
        .bind(&device.team)
        .bind(device.officer.as_ref().map(|o| o.as_str()))
        .bind(device.registered_at)
        .execute(&self.pool)
        .await
        .map_err(err("upsert device"))?;
        Ok(())
    }

    async fn devices(&self, bureau: &BureauId) -> Result<Vec<Device>, CatalogueError> {
        let rows: Vec<DeviceRow> =
            sqlx::query_as("SELECT device_id, team, officer_id, registered_at FROM devices WHERE bureau_id = $1 ORDER BY team, device_id")
                .bind(bureau.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(err("devices"))?;
        rows.into_iter().map(Device::try_from).collect()
    }

    async fn register_team(
        &self,
        bureau: &BureauId,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Team, CatalogueError> {
        sqlx::query("INSERT INTO teams (bureau_id, name, registered_at) VALUES ($1, $2, $3) ON CONFLICT (bureau_id, name) DO NOTHING")
            .bind(bureau.as_str())
            .bind(name)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(err("register team"))?;
        let (name, registered_at): (String, DateTime<Utc>) = sqlx::query_as(
            "SELECT name, registered_at FROM teams WHERE bureau_id = $1 AND name = $2",
        )
        .bind(bureau.as_str())
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .map_err(err("register team"))?;
        Ok(Team {
            name,
            registered_at,
        })
    }

    async fn teams(&self, bureau: &BureauId) -> Result<Vec<Team>, CatalogueError> {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT name, registered_at FROM teams WHERE bureau_id = $1 ORDER BY name",
        )
        .bind(bureau.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(err("teams"))?;
        Ok(rows
            .into_iter()
            .map(|(name, registered_at)| Team {
                name,
                registered_at,
            })
            .collect())
    }
}
