//! A bot read over its HTTP API, for a bot whose database driftwatch cannot
//! reach. Freqtrade's API: HTTP basic auth on every request, or (the
//! default) its JWT login: `POST /api/v1/token/login` with basic auth gives
//! an access token (15 minutes) and a refresh token; an access token that
//! is refused is refreshed once (`POST /api/v1/token/refresh`), then the
//! login is done again.
//!
//! Reading only: corrections through an API are alert-only (Freqtrade's
//! API offers no operation that closes a trade without trading).

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;

use super::mapping::Mapping;
use super::DbError;
use crate::domain::DbSnapshot;
use crate::secret::Secret;

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiAuth {
    /// Log in once, send the access token, refresh it when refused.
    Jwt,
    /// Send the username and password with every request.
    Basic,
}

/// What driftwatch needs to read a bot's API.
#[derive(Debug, Clone)]
pub struct BotApiConfig {
    /// The API's base, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub auth: ApiAuth,
    pub timeout: Duration,
}

#[derive(Debug, Default)]
struct Tokens {
    access: Option<String>,
    refresh: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// A client for one bot's API.
#[derive(Debug)]
pub struct BotApi {
    cfg: BotApiConfig,
    http: reqwest::Client,
    tokens: Mutex<Tokens>,
}

fn api(e: impl std::fmt::Display) -> DbError {
    DbError::Api(e.to_string())
}

impl BotApi {
    pub fn new(cfg: BotApiConfig) -> Result<BotApi, DbError> {
        let http = reqwest::Client::builder().timeout(cfg.timeout).build().map_err(api)?;
        Ok(BotApi {
            cfg,
            http,
            tokens: Mutex::new(Tokens::default()),
        })
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.url.trim_end_matches('/'))
    }

    /// The open trades, as rows placed by `mapping`.
    pub async fn read(&self, mapping: &Mapping) -> Result<DbSnapshot, DbError> {
        let body = self.get("/api/v1/status").await?;
        super::freqtrade_api::status_rows(&body, mapping).map_err(DbError::Api)
    }

    /// A GET with the configured auth; a refused token is renewed once.
    async fn get(&self, path: &str) -> Result<Vec<u8>, DbError> {
        let url = self.endpoint(path);
        if self.cfg.auth == ApiAuth::Basic {
            let r = self
                .http
                .get(&url)
                .basic_auth(&self.cfg.username, Some(self.cfg.password.expose()))
                .send()
                .await
                .map_err(api)?;
            return body(r).await;
        }
        let mut tokens = self.tokens.lock().await;
        for _ in 0..2 {
            if tokens.access.is_none() {
                self.renew(&mut tokens).await?;
            }
            let token = tokens.access.clone().unwrap_or_default();
            let r = self.http.get(&url).bearer_auth(token).send().await.map_err(api)?;
            if r.status() == reqwest::StatusCode::UNAUTHORIZED {
                tokens.access = None;
                continue;
            }
            return body(r).await;
        }
        // Refused twice: the next read starts from a fresh login.
        tokens.refresh = None;
        Err(DbError::Api(format!("{path}: the API refused a fresh token (401)")))
    }

    /// A new access token: by the refresh token when there is one, else
    /// (or when the refresh is refused) by logging in.
    async fn renew(&self, tokens: &mut Tokens) -> Result<(), DbError> {
        if let Some(refresh) = tokens.refresh.clone() {
            let r = self
                .http
                .post(self.endpoint("/api/v1/token/refresh"))
                .bearer_auth(refresh)
                .send()
                .await
                .map_err(api)?;
            if r.status().is_success() {
                let login: Login = serde_json::from_slice(&body(r).await?).map_err(api)?;
                tokens.access = Some(login.access_token);
                return Ok(());
            }
            tokens.refresh = None;
        }
        let r = self
            .http
            .post(self.endpoint("/api/v1/token/login"))
            .basic_auth(&self.cfg.username, Some(self.cfg.password.expose()))
            .send()
            .await
            .map_err(api)?;
        if r.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(DbError::Api(
                "login refused (401): check the API username and password".into(),
            ));
        }
        let login: Login = serde_json::from_slice(&body(r).await?).map_err(|e| DbError::Api(format!("login: {e}")))?;
        tokens.access = Some(login.access_token);
        tokens.refresh = login.refresh_token;
        Ok(())
    }
}

/// The body of a successful answer, or the status and its first words.
async fn body(r: reqwest::Response) -> Result<Vec<u8>, DbError> {
    let status = r.status();
    let bytes = r.bytes().await.map_err(api)?;
    if status.is_success() {
        Ok(bytes.to_vec())
    } else {
        let text: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        Err(DbError::Api(format!("HTTP {status}: {text}")))
    }
}
