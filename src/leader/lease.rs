//! Leadership by a Kubernetes `Lease` (coordination.k8s.io/v1), for
//! clusters (issue `[ha]`), with the semantics of client-go's leader
//! election:
//! - a candidate reads the Lease; absent, it creates it holding it; held by
//!   nobody (`holderIdentity` empty, as a leaving leader leaves it), it takes
//!   it; held by another whose record has not changed for the lease's
//!   duration *as observed locally* (no clock is compared across replicas),
//!   it takes it over (`leaseTransitions` + 1);
//! - every write is a replace carrying the `resourceVersion` read, so of two
//!   candidates only one succeeds (the other gets 409 Conflict);
//! - the leader renews `renewTime` every `takeover_after / 5` and acts only
//!   until `takeover_after / 2` after its last renewal was sent (the loop in
//!   `leader/mod.rs`), so it stops before any standby may take over.
//!
//! The Lease decides who leads; the fence stays in the journal's
//! PostgreSQL: a replica that wins the Lease claims the next epoch in the
//! leader row (`postgres::claim`), and every journal write checks
//! it. A leader whose epoch the row no longer holds steps down without
//! renewing. So a Lease held by a replica that cannot reach the journal is
//! left to expire, and another takes over.
//!
//! In a pod, the API server, the service account's token (re-read for every
//! request: kubelet rotates it), its CA and namespace come from the standard
//! in-cluster places; each can be given instead (`leadership.lease`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::{LeaderConfig, Links, Role};

/// The `leadership.lease` section.
#[derive(Debug, Clone, Default)]
pub struct LeaseConfig {
    /// The Lease's name (default `driftwatch-<scope>`).
    pub name: Option<String>,
    /// Its namespace (default: the pod's).
    pub namespace: Option<String>,
    /// The API server (default: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`).
    pub api_url: Option<String>,
    /// The bearer token's file (default: the service account's).
    pub token_file: Option<PathBuf>,
    /// The API server's CA bundle (default: the service account's).
    pub ca_file: Option<PathBuf>,
}

/// Where a pod finds its service account.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The Lease API of one Lease.
pub(super) struct Api {
    client: reqwest::Client,
    /// `<server>/apis/coordination.k8s.io/v1/namespaces/<ns>/leases`.
    collection: String,
    name: String,
    token_file: PathBuf,
}

/// What a candidate remembers between rounds.
#[derive(Default)]
pub(super) struct LeaseState {
    api: Option<Api>,
    /// The Lease's `resourceVersion` last seen, and when it was first seen:
    /// a record unchanged for the lease's duration belongs to a dead holder.
    observed: Option<(String, Instant)>,
}

/// Why a Lease call failed (none of them means "nobody leads").
fn status_error(status: reqwest::StatusCode, body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    match status.as_u16() {
        401 => format!("the API server refused the token (401): {message}"),
        403 => format!(
            "forbidden (403): the service account needs get, create and update on leases \
             (deploy/kubernetes/standalone.yaml's Role): {message}"
        ),
        code => format!("HTTP {code}: {message}"),
    }
}

impl Api {
    fn new(cfg: &LeaseConfig, scope: &str, timeout: Duration) -> Result<Api, String> {
        let sa = |f: &str| PathBuf::from(SERVICE_ACCOUNT).join(f);
        let base = match &cfg.api_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
                    "not in a pod (no KUBERNETES_SERVICE_HOST): set leadership.lease.api_url".to_owned()
                })?;
                let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                if host.contains(':') {
                    format!("https://[{host}]:{port}")
                } else {
                    format!("https://{host}:{port}")
                }
            }
        };
        let namespace = match &cfg.namespace {
            Some(n) => n.clone(),
            None => std::fs::read_to_string(sa("namespace"))
                .map(|n| n.trim().to_owned())
                .map_err(|e| format!("no namespace given and none in the service account ({e})"))?,
        };
        let mut builder = reqwest::Client::builder().timeout(timeout);
        let ca_file = cfg.ca_file.clone().unwrap_or_else(|| sa("ca.crt"));
        if base.starts_with("https://") {
            let pem = std::fs::read(&ca_file).map_err(|e| format!("{}: {e}", ca_file.display()))?;
            let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", ca_file.display()))?;
            builder = builder.add_root_certificate(ca);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Api {
            client,
            collection: format!("{base}/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"),
            name: cfg.name.clone().unwrap_or_else(|| format!("driftwatch-{scope}")),
            token_file: cfg.token_file.clone().unwrap_or_else(|| sa("token")),
        })
    }

    /// The request, with the token as it is now (kubelet rotates the file).
    fn request(&self, method: reqwest::Method, url: String) -> Result<reqwest::RequestBuilder, String> {
        let token = std::fs::read_to_string(&self.token_file)
            .map_err(|e| format!("the token {}: {e}", self.token_file.display()))?;
        Ok(self
            .client
            .request(method, url)
            .bearer_auth(token.trim())
            .header("accept", "application/json"))
    }

    /// Sends; `Ok(None)` for the status that means "not this time"
    /// (404 for a read, 409 for a write).
    async fn send(&self, req: reqwest::RequestBuilder, none_on: u16) -> Result<Option<Value>, String> {
        let resp = req.send().await.map_err(|e| format!("the API server: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| format!("the API server: {e}"))?;
        if status.as_u16() == none_on {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| format!("an undecodable Lease: {e}"))
    }

    async fn get(&self) -> Result<Option<Value>, String> {
        let req = self.request(reqwest::Method::GET, format!("{}/{}", self.collection, self.name))?;
        self.send(req, 404).await
    }

    async fn create(&self, spec: Value) -> Result<Option<Value>, String> {
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name},
            "spec": spec,
        });
        let req = self
            .request(reqwest::Method::POST, self.collection.clone())?
            .json(&body);
        self.send(req, 409).await
    }

    /// Replaces the Lease read (its `resourceVersion` included): `None` if
    /// someone wrote it since.
    async fn replace(&self, lease: &Value) -> Result<Option<Value>, String> {
        let req = self
            .request(reqwest::Method::PUT, format!("{}/{}", self.collection, self.name))?
            .json(lease);
        self.send(req, 409).await
    }
}

/// A Kubernetes `MicroTime`: RFC 3339, UTC, six fractional digits.
fn micro_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ms = crate::domain::Timestamp(now.as_millis() as i64).to_utc_string();
    // "…:05.123Z" → "…:05.123456Z".
    format!("{}{:03}Z", ms.trim_end_matches('Z'), now.subsec_micros() % 1000)
}

/// The lease duration for `takeover_after`, in whole seconds (rounded up).
fn duration_secs(takeover_after: Duration) -> u64 {
    takeover_after.as_millis().div_ceil(1000).max(1) as u64
}

/// One round: the epoch this replica leads afterwards, if any.
pub(super) async fn round(
    cfg: &LeaderConfig,
    lease_cfg: &LeaseConfig,
    holder: &str,
    links: &mut Links,
    role: Role,
) -> Result<Option<i64>, String> {
    let st = &mut links.lease;
    if st.api.is_none() {
        st.api = Some(Api::new(lease_cfg, &cfg.scope, cfg.takeover_after / 4)?);
    }
    let Some(api) = st.api.as_ref() else {
        return Ok(None);
    };
    let now = micro_time();
    let secs = duration_secs(cfg.takeover_after);
    let Some(mut lease) = api.get().await? else {
        let spec = json!({
            "holderIdentity": holder,
            "leaseDurationSeconds": secs,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        });
        return match api.create(spec).await? {
            Some(_) => claim(cfg, holder, links).await.map(Some),
            None => Ok(None),
        };
    };
    let version = lease["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let seen_at = match &st.observed {
        Some((v, at)) if *v == version => *at,
        _ => {
            st.observed = Some((version, Instant::now()));
            Instant::now()
        }
    };
    let spec = &lease["spec"];
    let current = spec["holderIdentity"].as_str().unwrap_or_default().to_owned();
    // The longer of ours and the record's: a holder configured for longer
    // is not taken over early.
    let held_for = Duration::from_secs(spec["leaseDurationSeconds"].as_u64().unwrap_or(0)).max(cfg.takeover_after);
    if current == holder {
        if let Role::Leader { epoch, .. } = role {
            // The journal's row first: another epoch there means another
            // replica claimed it, and this one must not renew.
            let c = super::connect(cfg, &mut links.conn).await.map_err(|e| e.to_string())?;
            if !super::postgres::heartbeat(c, &cfg.scope, epoch)
                .await
                .map_err(|e| e.to_string())?
            {
                return Ok(None);
            }
            lease["spec"]["renewTime"] = json!(now);
            lease["spec"]["leaseDurationSeconds"] = json!(secs);
            let renewed = links.lease.api.as_ref().map(|api| api.replace(&lease));
            return match renewed {
                Some(r) => Ok(r.await?.map(|_| epoch)),
                None => Ok(None),
            };
        }
        // Holding the Lease without acting (the journal's database was
        // unreachable): claim first, and renew only with the claim made, so
        // a replica that cannot reach the journal lets the Lease expire to
        // one that can.
        let epoch = claim(cfg, holder, links).await?;
        lease["spec"]["renewTime"] = json!(now);
        let renewed = links.lease.api.as_ref().map(|api| api.replace(&lease));
        return match renewed {
            Some(r) => Ok(r.await?.map(|_| epoch)),
            None => Ok(None),
        };
    }
    if !current.is_empty() && seen_at.elapsed() < held_for {
        return Ok(None);
    }
    // Free, or its holder has been silent for the lease's duration.
    let transitions = spec["leaseTransitions"].as_i64().unwrap_or(0) + i64::from(!current.is_empty());
    lease["spec"] = json!({
        "holderIdentity": holder,
        "leaseDurationSeconds": secs,
        "acquireTime": now,
        "renewTime": now,
        "leaseTransitions": transitions,
    });
    if !current.is_empty() {
        tracing::warn!(scope = %cfg.scope, previous = %current, "The Lease's holder has been silent past its duration: taking it over.");
    }
    match api.replace(&lease).await? {
        Some(_) => claim(cfg, holder, links).await.map(Some),
        None => Ok(None),
    }
}

/// Won the Lease: claims the next epoch in the journal's leader row.
async fn claim(cfg: &LeaderConfig, holder: &str, links: &mut Links) -> Result<i64, String> {
    let c = super::connect(cfg, &mut links.conn).await.map_err(|e| e.to_string())?;
    super::postgres::claim(c, &cfg.scope, holder)
        .await
        .map_err(|e| e.to_string())
}

/// Leaving: hands the Lease back (an empty holder), so a standby takes it
/// at its next round rather than after the lease's duration.
pub(super) async fn release(holder: &str, links: &mut Links) {
    let Some(api) = links.lease.api.as_ref() else { return };
    let Ok(Some(mut lease)) = api.get().await else { return };
    if lease["spec"]["holderIdentity"].as_str() != Some(holder) {
        return;
    }
    let now = micro_time();
    lease["spec"]["holderIdentity"] = json!("");
    lease["spec"]["leaseDurationSeconds"] = json!(1);
    lease["spec"]["renewTime"] = json!(now);
    if let Err(e) = api.replace(&lease).await {
        tracing::warn!(error = %e, "Could not hand the Lease back; a standby takes over when it expires.");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn micro_times_have_six_fractional_digits() {
        let t = super::micro_time();
        let frac = t.rsplit('.').next().unwrap();
        assert_eq!(frac.len(), 7, "{t}");
        assert!(
            frac.ends_with('Z') && frac[..6].bytes().all(|b| b.is_ascii_digit()),
            "{t}"
        );
    }

    #[test]
    fn the_lease_duration_rounds_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(super::duration_secs(Duration::from_millis(2500)), 3);
        assert_eq!(super::duration_secs(Duration::from_secs(15)), 15);
    }
}
