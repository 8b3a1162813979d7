//! The audit trail's rows.

use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct AuditRow {
    pub bureau_id: String,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for custodian_core::audit::AuditEntry {
    fn from(row: AuditRow) -> Self {
        Self {
            bureau: row.bureau_id,
            seq: row.seq,
            at: row.at,
            actor: row.actor,
            action: row.action,
            target: row.target,
            detail: row.detail,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct CheckpointRow {
    pub bureau_id: String,
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    pub signature: String,
}

impl From<CheckpointRow> for custodian_core::audit::Checkpoint {
    fn from(row: CheckpointRow) -> Self {
        Self {
            bureau: row.bureau_id,
            seq: row.seq,
            hash: row.hash,
            at: row.at,
            signature: row.signature,
        }
    }
}
