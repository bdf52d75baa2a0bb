//! A Kubernetes API server's Lease endpoints on loopback, for the tests of
//! Lease leadership (there is no cluster here): `coordination.k8s.io/v1`
//! `GET`, `POST` (create) and `PUT` (replace) of namespaced Leases, as the
//! API server answers them:
//! - objects carry `metadata.resourceVersion`, a new one on every write; a
//!   replace whose `resourceVersion` is not the current one is refused with
//!   409 `Conflict`, one without it with 422 `Invalid`, a create of an
//!   existing name with 409 `AlreadyExists`, a read of a missing one with
//!   404 `NotFound`, each as a `Status` object;
//! - requests need `Authorization: Bearer <token>`: an unknown token is 401,
//!   a token without the Role's verbs on leases is 403 `Forbidden`;
//! - `set_unavailable` answers 503 to everything (the API server cut off).
//!
//! The official Python client (`kubernetes`, its `LeaseLock` leader
//! election) runs against it in tests/ha.rs, so it answers what that client
//! sends and reads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

const PREFIX: &str = "/apis/coordination.k8s.io/v1/namespaces/";

#[derive(Default)]
struct State {
    /// (namespace, name) → the Lease as stored.
    leases: BTreeMap<(String, String), Value>,
    version: u64,
    /// token → may it use leases (the RBAC Role bound to it)?
    tokens: BTreeMap<String, bool>,
    unavailable: bool,
    /// (method, path, token) of every request.
    requests: Vec<(String, String, String)>,
}

/// A handle on the running simulator.
#[derive(Clone)]
pub struct LeaseSim {
    state: Arc<Mutex<State>>,
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// A `Status` failure, as the API server writes it.
fn status(code: u16, reason: &str, message: String, name: &str) -> Response<Full<Bytes>> {
    reply(
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {"name": name, "group": "coordination.k8s.io", "kind": "leases"},
            "code": code,
        }),
    )
}

impl LeaseSim {
    /// Serves on `addr` until `shutdown`; tokens are added with [`LeaseSim::token`].
    pub async fn start(addr: SocketAddr, shutdown: watch::Receiver<bool>) -> std::io::Result<(LeaseSim, SocketAddr)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let sim = LeaseSim {
            state: Arc::new(Mutex::new(State::default())),
        };
        let s2 = sim.clone();
        crate::venue::simkit::serve_http(listener, shutdown, move |req| {
            let sim = s2.clone();
            async move { sim.handle(req).await }
        });
        Ok((sim, local))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts `token`; `allowed`: its service account may use leases.
    pub fn token(&self, token: &str, allowed: bool) {
        self.lock().tokens.insert(token.to_owned(), allowed);
    }

    /// Answers 503 to everything while set.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    /// The Lease as stored.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .leases
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Its holder (empty: free).
    pub fn holder(&self, namespace: &str, name: &str) -> Option<String> {
        self.lease(namespace, name)
            .map(|l| l["spec"]["holderIdentity"].as_str().unwrap_or_default().to_owned())
    }

    /// (method, path, token) of every request so far.
    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.lock().requests.clone()
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let token = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_owned();
        let body = crate::venue::simkit::body(req).await;
        let mut st = self.lock();
        crate::venue::simkit::remember(&mut st.requests, (method.clone(), path.clone(), token.clone()));
        if st.unavailable {
            return status(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request".into(),
                "",
            );
        }
        // /apis/coordination.k8s.io/v1/namespaces/<ns>/leases[/<name>]
        let parts: Vec<&str> = path.strip_prefix(PREFIX).unwrap_or("").split('/').collect();
        let (namespace, name) = match parts.as_slice() {
            [ns, "leases"] if !ns.is_empty() => (ns.to_string(), None),
            [ns, "leases", name] if !ns.is_empty() && !name.is_empty() => (ns.to_string(), Some(name.to_string())),
            _ => {
                return status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource".into(),
                    "",
                )
            }
        };
        let verb = match (method.as_str(), &name) {
            ("GET", Some(_)) => "get",
            ("POST", None) => "create",
            ("PUT", Some(_)) => "update",
            _ => return status(405, "MethodNotAllowed", format!("{method} is not supported here"), ""),
        };
        match st.tokens.get(&token) {
            None => return status(401, "Unauthorized", "Unauthorized".into(), ""),
            Some(false) => {
                return status(
                    403,
                    "Forbidden",
                    format!(
                        "leases.coordination.k8s.io is forbidden: User \"system:serviceaccount:{namespace}:driftwatch\" cannot {verb} resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"{namespace}\""
                    ),
                    name.as_deref().unwrap_or(""),
                )
            }
            Some(true) => {}
        }
        match verb {
            "get" => {
                let name = name.unwrap_or_default();
                match st.leases.get(&(namespace, name.clone())) {
                    Some(l) => reply(200, l.clone()),
                    None => status(
                        404,
                        "NotFound",
                        format!("leases.coordination.k8s.io \"{name}\" not found"),
                        &name,
                    ),
                }
            }
            _ => {
                let Ok(mut lease) = serde_json::from_slice::<Value>(&body) else {
                    return status(400, "BadRequest", "the body is not a Lease".into(), "");
                };
                let name = match (verb, name) {
                    ("create", _) => lease["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                    (_, Some(n)) => n,
                    _ => String::new(),
                };
                if name.is_empty() {
                    return status(
                        422,
                        "Invalid",
                        "Lease.coordination.k8s.io is invalid: metadata.name: Required value".into(),
                        "",
                    );
                }
                let key = (namespace.clone(), name.clone());
                let current = st.leases.get(&key).map(|l| l["metadata"]["resourceVersion"].clone());
                match (verb, current) {
                    ("create", Some(_)) => {
                        return status(409, "AlreadyExists", format!("leases.coordination.k8s.io \"{name}\" already exists"), &name)
                    }
                    ("update", None) => {
                        return status(404, "NotFound", format!("leases.coordination.k8s.io \"{name}\" not found"), &name)
                    }
                    ("update", Some(v)) => match lease["metadata"].get("resourceVersion") {
                        None | Some(Value::Null) => {
                            return status(
                                422,
                                "Invalid",
                                format!("Lease.coordination.k8s.io \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"),
                                &name,
                            )
                        }
                        Some(sent) if *sent != v => {
                            return status(
                                409,
                                "Conflict",
                                format!("Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
                                &name,
                            )
                        }
                        Some(_) => {}
                    },
                    _ => {}
                }
                st.version += 1;
                let created = st
                    .leases
                    .get(&key)
                    .map(|l| (l["metadata"]["uid"].clone(), l["metadata"]["creationTimestamp"].clone()));
                let (uid, created_at) = created.unwrap_or_else(|| {
                    (
                        json!(format!("00000000-0000-4000-8000-{:012}", st.version)),
                        json!(format!("{}Z", &crate::clock::now().to_utc_string()[..19])),
                    )
                });
                lease["apiVersion"] = json!("coordination.k8s.io/v1");
                lease["kind"] = json!("Lease");
                lease["metadata"]["name"] = json!(name);
                lease["metadata"]["namespace"] = json!(namespace);
                lease["metadata"]["resourceVersion"] = json!(st.version.to_string());
                lease["metadata"]["uid"] = uid;
                lease["metadata"]["creationTimestamp"] = created_at;
                st.leases.insert(key, lease.clone());
                reply(if verb == "create" { 201 } else { 200 }, lease)
            }
        }
    }
}
