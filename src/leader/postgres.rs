//! Leadership by a PostgreSQL advisory lock (issue `[ha]`): the lock held
//! on a dedicated connection decides who leads; the leader row's heartbeat
//! lets a standby end a holder that hangs with its connection open.

use sqlx::{PgConnection, Row};

use super::{LeaderConfig, Role};

/// The advisory lock's key for `scope` (stable across versions: FNV-1a).
pub fn lock_key(scope: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("driftwatch/{scope}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

pub const DDL: &str = "CREATE TABLE IF NOT EXISTS driftwatch_leader (\
    scope TEXT PRIMARY KEY, epoch BIGINT NOT NULL, holder TEXT NOT NULL, \
    backend_pid INTEGER NOT NULL, heartbeat_at TIMESTAMPTZ NOT NULL)";

/// The epoch this replica leads after the round, if any.
pub(super) async fn round(
    cfg: &LeaderConfig,
    holder: &str,
    conn: &mut Option<PgConnection>,
    role: Role,
) -> Result<Option<i64>, sqlx::Error> {
    let c = super::connect(cfg, conn).await?;
    let key = lock_key(&cfg.scope);
    if let Role::Leader { epoch, .. } = role {
        let renewed = sqlx::query(
            "UPDATE driftwatch_leader SET heartbeat_at = now() \
             WHERE scope = $1 AND epoch = $2 AND backend_pid = pg_backend_pid()",
        )
        .bind(&cfg.scope)
        .bind(epoch)
        .execute(&mut *c)
        .await?;
        if renewed.rows_affected() == 1 {
            return Ok(Some(epoch));
        }
        // Someone else holds the row: give the lock up too.
        sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut *c).await?;
        return Ok(None);
    }
    let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
    if got {
        return claim(c, &cfg.scope, holder).await.map(Some);
    }
    // Someone holds the lock. Silent for longer than takeover_after (hung,
    // stopped): end its session, which frees the lock for the next round.
    let silent = sqlx::query(
        "SELECT backend_pid FROM driftwatch_leader WHERE scope = $1 \
         AND heartbeat_at < now() - make_interval(secs => $2)",
    )
    .bind(&cfg.scope)
    .bind(cfg.takeover_after.as_secs_f64())
    .fetch_optional(&mut *c)
    .await?;
    if let Some(row) = silent {
        let pid: i32 = row.try_get(0)?;
        tracing::warn!(scope = %cfg.scope, pid, "The leader has been silent past takeover_after: ending its session.");
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut *c)
            .await?;
    }
    Ok(None)
}

/// Claims the next epoch of `scope` for `holder` (the lock or the Lease
/// is won): from now on, journal writes of any earlier epoch are refused.
pub(super) async fn claim(c: &mut PgConnection, scope: &str, holder: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO driftwatch_leader (scope, epoch, holder, backend_pid, heartbeat_at) \
         VALUES ($1, 1, $2, pg_backend_pid(), now()) \
         ON CONFLICT (scope) DO UPDATE SET epoch = driftwatch_leader.epoch + 1, \
         holder = excluded.holder, backend_pid = excluded.backend_pid, heartbeat_at = now() \
         RETURNING epoch",
    )
    .bind(scope)
    .bind(holder)
    .fetch_one(c)
    .await?
    .try_get(0)
}

/// Renews the heartbeat of `epoch`: false if the row holds another epoch
/// (another replica claimed it).
pub(super) async fn heartbeat(c: &mut PgConnection, scope: &str, epoch: i64) -> Result<bool, sqlx::Error> {
    let renewed = sqlx::query("UPDATE driftwatch_leader SET heartbeat_at = now() WHERE scope = $1 AND epoch = $2")
        .bind(scope)
        .bind(epoch)
        .execute(c)
        .await?;
    Ok(renewed.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_are_stable_and_scoped() {
        assert_eq!(super::lock_key("a"), super::lock_key("a"));
        assert_ne!(super::lock_key("a"), super::lock_key("b"));
    }
}
