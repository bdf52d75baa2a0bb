//! The one place venues are listed: each adapter is plugged in here, and
//! nothing above `venue/` names one. An account's venue parameters come in
//! as [`VenueLink`] (built by the config), never the whole account config.
//!
//! Adding a venue: its folder (adapter and simulator), one arm in each
//! `match` below, one `VenueKind`.

use std::time::Duration;

use rust_decimal::Decimal;

use super::types::{MarketInfo, RestError, RestSnapshot, StreamConfig, StreamEvent, StreamStyle};
use super::{nado, pacifica};
use crate::config::secret::Secret;
use crate::domain::{Position, VenueKind};

/// What an account's adapter needs: the venue's parameters only.
#[derive(Debug, Clone)]
pub struct VenueLink {
    pub venue: VenueKind,
    /// The venue's account address (Pacifica: the main account's base58
    /// key; Nado: the subaccount owner's 0x address).
    pub address: String,
    pub rest_url: String,
    pub ws_url: String,
    pub api_key: Option<Secret>,
    pub stream: StreamConfig,
    /// Set for (and only for) Nado.
    pub nado: Option<nado::account::NadoAccount>,
}

/// How a venue's position stream describes state: decided here, once per venue.
pub fn stream_style(venue: VenueKind) -> StreamStyle {
    match venue {
        VenueKind::Pacifica => StreamStyle::FullSnapshots,
        VenueKind::Nado => StreamStyle::PerKeyUpdates,
        // clearinghouseState / webData: the whole account every frame.
        VenueKind::Hyperliquid => StreamStyle::FullSnapshots,
    }
}

/// One account's REST client, whatever its venue.
#[derive(Debug, Clone)]
pub enum Rest {
    Pacifica(pacifica::http::RestClient),
    Nado(nado::http::RestClient),
}

impl Rest {
    pub fn for_account(acc: &VenueLink) -> Result<Rest, RestError> {
        match (acc.venue, &acc.nado) {
            (VenueKind::Pacifica, _) => pacifica::http::RestClient::new(
                &acc.rest_url,
                &acc.address,
                acc.api_key.clone(),
                acc.stream.rest_timeout,
            )
            .map(Rest::Pacifica),
            (VenueKind::Nado, Some(n)) => nado::http::RestClient::new(
                &acc.rest_url,
                nado::http::Identity {
                    subaccount: n.subaccount.clone(),
                    chain_id: n.chain_id,
                    endpoint: n.endpoint.clone(),
                },
                n.query_share,
                acc.stream.rest_timeout,
            )
            .map(Rest::Nado),
            (VenueKind::Nado, None) => Err(RestError::Decode("a Nado account without its subaccount".into())),
            (VenueKind::Hyperliquid, _) => Err(RestError::Decode(
                "Hyperliquid is not watched yet: only `close --offline --venue hyperliquid` signs for it".into(),
            )),
        }
    }

    /// The account's open positions (a failure is never "flat").
    /// The shortest gap between position polls the venue's limits sustain.
    pub fn poll_floor(&self) -> Duration {
        match self {
            Rest::Pacifica(_) => Duration::ZERO,
            Rest::Nado(c) => c.poll_floor(),
        }
    }

    /// A second, independent reading of these symbols' net sizes where the
    /// venue has one (Nado's reduce-only `max_order_size`), empty where it has
    /// none (Pacifica's stream brings its own snapshots: no baseline to settle).
    pub async fn corroborate(&self, symbols: &[String]) -> Result<Vec<Position>, RestError> {
        match self {
            Rest::Pacifica(_) => Ok(Vec::new()),
            Rest::Nado(c) => c.corroborate(symbols).await,
        }
    }

    pub async fn positions(&self) -> Result<RestSnapshot, RestError> {
        match self {
            Rest::Pacifica(c) => c.positions().await,
            Rest::Nado(c) => c.positions().await,
        }
    }

    /// Lot and tick sizes (and, for Nado, the product table and contracts).
    pub async fn markets(&self) -> Result<Vec<MarketInfo>, RestError> {
        match self {
            Rest::Pacifica(c) => c.markets().await,
            Rest::Nado(c) => c.markets().await,
        }
    }

    /// Mark (Nado: oracle) prices by symbol.
    pub async fn prices(&self) -> Result<std::collections::BTreeMap<String, Decimal>, RestError> {
        match self {
            Rest::Pacifica(c) => c.prices().await,
            Rest::Nado(c) => c.prices().await,
        }
    }
}

/// Runs an account's position stream (reconnecting) until `shutdown`.
pub async fn run_stream<F, Fut>(
    acc: &VenueLink,
    rest: &Rest,
    resync: std::sync::Arc<tokio::sync::Notify>,
    emit: F,
    shutdown: tokio::sync::watch::Receiver<bool>,
) where
    F: FnMut(StreamEvent) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    match rest {
        Rest::Pacifica(_) => {
            let params = pacifica::ws::StreamParams {
                url: acc.ws_url.clone(),
                account: acc.address.clone(),
                api_key: acc.api_key.clone(),
                timing: acc.stream.clone(),
                resync,
            };
            pacifica::ws::run(params, emit, shutdown).await
        }
        Rest::Nado(c) => {
            let params = nado::ws::StreamParams {
                url: acc.ws_url.clone(),
                subaccount: c.identity().subaccount.clone(),
                timing: acc.stream.clone(),
                products: c.products(),
                resync,
            };
            nado::ws::run(params, emit, shutdown).await
        }
    }
}
