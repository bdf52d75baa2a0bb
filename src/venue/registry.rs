//! The one place venues are listed: each adapter is plugged in here, and
//! nothing above `venue/` names one. An account's venue parameters come in
//! as [`VenueLink`] (built by the config), never the whole account config.
//!
//! Adding a venue: its folder (adapter and simulator), one arm in each
//! `match` below, one `VenueKind`.

use std::time::Duration;

use rust_decimal::Decimal;

use super::types::{
    AccountFields, CloseSettings, CloseVenue, FieldError, MarketInfo, OfflineOrder, RestError, RestSnapshot,
    StreamConfig, StreamEvent, StreamStyle,
};
use super::{binance, hyperliquid, nado, pacifica};
use crate::domain::{Position, VenueKind};
use crate::secret::Secret;

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
    /// Set for (and only for) Hyperliquid.
    pub hyperliquid: Option<hyperliquid::account::HyperliquidAccount>,
    /// Binance: the API key's secret (the key is the address).
    pub api_secret: Option<Secret>,
    /// Set for (and only for) Binance.
    pub binance: Option<binance::account::BinanceAccount>,
}

/// How a venue's position stream describes state: decided here, once per venue.
pub fn stream_style(venue: VenueKind) -> StreamStyle {
    match venue {
        VenueKind::Pacifica => StreamStyle::FullSnapshots,
        VenueKind::Nado => StreamStyle::PerKeyUpdates,
        // clearinghouseState / webData: the whole account every frame.
        VenueKind::Hyperliquid => StreamStyle::FullSnapshots,
        // ACCOUNT_UPDATE: the changed positions, zero when closed.
        VenueKind::Binance => StreamStyle::PerKeyUpdates,
    }
}

/// The venue's public REST and WebSocket URLs (mainnet).
pub fn default_urls(venue: VenueKind) -> (&'static str, &'static str) {
    match venue {
        VenueKind::Pacifica => (pacifica::account::REST_URL, pacifica::account::WS_URL),
        VenueKind::Nado => (nado::account::REST_URL, nado::account::WS_URL),
        VenueKind::Hyperliquid => (hyperliquid::account::REST_URL, hyperliquid::account::WS_URL),
        VenueKind::Binance => (binance::account::REST_URL, binance::account::WS_URL),
    }
}

/// Why an account's ping interval is at most 30 s on its venue.
pub fn ping_rule(venue: VenueKind) -> &'static str {
    match venue {
        VenueKind::Pacifica => pacifica::account::PING_RULE,
        VenueKind::Nado => nado::account::PING_RULE,
        VenueKind::Hyperliquid => hyperliquid::account::PING_RULE,
        VenueKind::Binance => binance::account::PING_RULE,
    }
}

/// Whether `address` is an account address on `venue`.
pub fn check_address(venue: VenueKind, address: &str) -> Result<(), String> {
    match venue {
        VenueKind::Pacifica => pacifica::account::check_address(address),
        VenueKind::Nado => nado::account::check_address(address),
        VenueKind::Hyperliquid => hyperliquid::account::check_address(address),
        VenueKind::Binance => binance::account::check_address(address),
    }
}

/// Whether `key` may close for `fields.address` on `venue` (its own key, or
/// with `agent` an agent wallet the venue binds to it).
pub fn check_close_key(venue: VenueKind, key: &Secret, fields: &AccountFields, agent: bool) -> Result<(), String> {
    match venue {
        VenueKind::Pacifica => pacifica::account::check_close_key(key.expose(), &fields.address, agent),
        VenueKind::Nado => nado::account::check_close_key(key.expose(), &fields.address, agent),
        VenueKind::Hyperliquid => {
            hyperliquid::account::check_close_key(key.expose(), &fields.address, agent, fields.vault == Some(true))
        }
        VenueKind::Binance => binance::account::check_close_key(key.expose()),
    }
}

/// The venue parameters of an account, from its venue-specific fields
/// (a field set for another venue is an error).
#[derive(Debug, Clone, Default)]
pub struct VenueParams {
    pub nado: Option<nado::account::NadoAccount>,
    pub hyperliquid: Option<hyperliquid::account::HyperliquidAccount>,
    pub binance: Option<binance::account::BinanceAccount>,
}

/// The venue-specific fields set on an account of another venue.
pub fn foreign_fields(venue: VenueKind, f: &AccountFields) -> Vec<FieldError> {
    let owners = |field: &str| {
        [
            (VenueKind::Pacifica, pacifica::account::FIELDS),
            (VenueKind::Nado, nado::account::FIELDS),
            (VenueKind::Hyperliquid, hyperliquid::account::FIELDS),
            (VenueKind::Binance, binance::account::FIELDS),
        ]
        .into_iter()
        .filter(|(_, fields)| fields.contains(&field))
        .map(|(v, _)| v.as_str())
        .collect::<Vec<_>>()
    };
    f.set()
        .into_iter()
        .filter(|field| !owners(field).contains(&venue.as_str()))
        .map(|field| {
            (
                field,
                format!("{field} is only for venue: {}", owners(field).join(" or ")),
            )
        })
        .collect()
}

/// Checks an account's own venue fields and builds its parameters.
pub fn venue_params(venue: VenueKind, f: &AccountFields) -> Result<VenueParams, Vec<FieldError>> {
    Ok(match venue {
        VenueKind::Pacifica => VenueParams::default(),
        VenueKind::Nado => VenueParams {
            nado: Some(nado::account::from_fields(f)?),
            ..VenueParams::default()
        },
        VenueKind::Hyperliquid => VenueParams {
            hyperliquid: Some(hyperliquid::account::from_fields(f)?),
            ..VenueParams::default()
        },
        VenueKind::Binance => VenueParams {
            binance: Some(binance::account::from_fields(f)?),
            ..VenueParams::default()
        },
    })
}

/// The shortest gap between an account's REST polls its share of the
/// venue's limits sustains, where that is a limit worth checking the
/// config against, with the reason.
pub fn rest_poll_floor(link: &VenueLink) -> Option<(Duration, String)> {
    let n = link.nado.as_ref()?;
    let floor = nado::limits::poll_floor(&nado::limits::limits_for(n.query_share));
    Some((
        floor,
        format!("its query_share {} of Nado's per-IP budget", n.query_share),
    ))
}

/// The offline panic button: the exact signed close request from explicit
/// inputs, or why none was signed.
pub fn offline_close(venue: VenueKind, order: &OfflineOrder) -> Result<String, String> {
    match venue {
        VenueKind::Pacifica => pacifica::offline::signed(order),
        VenueKind::Nado => nado::offline::signed(order),
        VenueKind::Hyperliquid => hyperliquid::offline::signed(order),
        VenueKind::Binance => binance::offline::signed(order),
    }
}

/// `driftwatch sim`: the venue's simulator on loopback until `until`.
pub async fn serve_simulator(
    venue: VenueKind,
    rest: std::net::SocketAddr,
    ws: std::net::SocketAddr,
    open: &[String],
    until: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    match venue {
        VenueKind::Pacifica => pacifica::sim::serve(rest, ws, open, until).await,
        // One port: the gateway and its socket.
        VenueKind::Nado => nado::sim::serve(rest, open, until).await,
        VenueKind::Hyperliquid => hyperliquid::sim::serve(rest, ws, open, until).await,
        VenueKind::Binance => binance::sim::serve(rest, ws, open, until).await,
    }
}

/// One account's REST client, whatever its venue.
#[derive(Debug, Clone)]
pub enum Rest {
    Pacifica(pacifica::http::RestClient),
    Nado(nado::http::RestClient),
    Hyperliquid(hyperliquid::http::RestClient),
    Binance(binance::http::RestClient),
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
            (VenueKind::Hyperliquid, _) => hyperliquid::http::RestClient::new(
                &acc.rest_url,
                &acc.address,
                acc.hyperliquid.as_ref().map_or(Decimal::new(25, 2), |h| h.rest_share),
                acc.stream.rest_timeout,
            )
            .map(Rest::Hyperliquid),
            (VenueKind::Binance, _) => binance::http::RestClient::new(
                &acc.rest_url,
                Secret::new(acc.address.clone()),
                acc.api_secret
                    .clone()
                    .ok_or_else(|| RestError::Decode("a Binance account without its api_secret".into()))?,
                acc.binance.as_ref().map_or(Decimal::new(25, 2), |b| b.rest_share),
                acc.stream.rest_timeout,
            )
            .map(Rest::Binance),
        }
    }

    /// The account's open positions (a failure is never "flat").
    /// The shortest gap between position polls the venue's limits sustain.
    pub fn poll_floor(&self) -> Duration {
        match self {
            Rest::Pacifica(_) => Duration::ZERO,
            Rest::Nado(c) => c.poll_floor(),
            Rest::Hyperliquid(c) => c.poll_floor(),
            Rest::Binance(c) => c.poll_floor(),
        }
    }

    /// A second, independent reading of these symbols' net sizes where the
    /// venue has one (Nado's reduce-only `max_order_size`), empty where it has
    /// none (Pacifica's stream brings its own snapshots: no baseline to settle).
    pub async fn corroborate(&self, symbols: &[String]) -> Result<Vec<Position>, RestError> {
        match self {
            Rest::Pacifica(_) | Rest::Hyperliquid(_) | Rest::Binance(_) => Ok(Vec::new()),
            Rest::Nado(c) => c.corroborate(symbols).await,
        }
    }

    pub async fn positions(&self) -> Result<RestSnapshot, RestError> {
        match self {
            Rest::Pacifica(c) => c.positions().await,
            Rest::Nado(c) => c.positions().await,
            Rest::Hyperliquid(c) => c.positions().await,
            Rest::Binance(c) => c.positions().await,
        }
    }

    /// Lot and tick sizes (and, for Nado, the product table and contracts).
    pub async fn markets(&self) -> Result<Vec<MarketInfo>, RestError> {
        match self {
            Rest::Pacifica(c) => c.markets().await,
            Rest::Nado(c) => c.markets().await,
            Rest::Hyperliquid(c) => c.markets().await,
            Rest::Binance(c) => c.markets().await,
        }
    }

    /// Mark (Nado: oracle) prices by symbol.
    pub async fn prices(&self) -> Result<std::collections::BTreeMap<String, Decimal>, RestError> {
        match self {
            Rest::Pacifica(c) => c.prices().await,
            Rest::Nado(c) => c.prices().await,
            Rest::Hyperliquid(c) => c.prices().await,
            Rest::Binance(c) => c.prices().await,
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
        Rest::Hyperliquid(_) => {
            let params = hyperliquid::ws::StreamParams {
                url: acc.ws_url.clone(),
                user: acc.address.clone(),
                timing: acc.stream.clone(),
                resync,
            };
            hyperliquid::ws::run(params, emit, shutdown).await
        }
        Rest::Binance(c) => {
            let params = binance::ws::StreamParams {
                url: acc.ws_url.clone(),
                rest: c.clone(),
                timing: acc.stream.clone(),
                resync,
            };
            binance::ws::run(params, emit, shutdown).await
        }
    }
}

/// An account's close key, parsed once when the account is set up (config
/// load has checked it), not per close.
pub enum CloseKeys {
    Pacifica(pacifica::sign::Keypair),
    Nado {
        signer: nado::sign::Signer,
        chain_id: u64,
        endpoint: alloy_primitives::Address,
        sender: alloy_primitives::B256,
    },
    Hyperliquid {
        signer: super::evm::Signer,
        vault: Option<alloy_primitives::Address>,
        network: hyperliquid::sign::Network,
    },
    /// The REST client holds the secret that signs.
    Binance,
}

impl CloseKeys {
    /// The close key for `link`'s venue (and, on Nado, its subaccount).
    pub fn load(link: &VenueLink, key: &Secret) -> Result<CloseKeys, String> {
        match (link.venue, &link.nado) {
            (VenueKind::Pacifica, _) => pacifica::sign::Keypair::from_base58(key.expose())
                .map(CloseKeys::Pacifica)
                .map_err(|e| format!("close key: {e}")),
            (VenueKind::Nado, Some(n)) => Ok(CloseKeys::Nado {
                signer: nado::sign::Signer::from_hex(key.expose()).map_err(|e| format!("close key: {e}"))?,
                chain_id: n.chain_id,
                endpoint: n.endpoint.parse().map_err(|_| "the Nado endpoint does not parse")?,
                sender: n.subaccount.parse().map_err(|_| "the Nado subaccount does not parse")?,
            }),
            (VenueKind::Nado, None) => Err("a Nado account without its subaccount".into()),
            (VenueKind::Hyperliquid, _) => {
                let h = link
                    .hyperliquid
                    .as_ref()
                    .ok_or("a Hyperliquid account without its network")?;
                Ok(CloseKeys::Hyperliquid {
                    signer: super::evm::Signer::from_hex(key.expose()).map_err(|e| format!("close key: {e}"))?,
                    vault: match h.vault {
                        true => Some(
                            link.address
                                .parse()
                                .map_err(|_| "the Hyperliquid vault address does not parse")?,
                        ),
                        false => None,
                    },
                    network: h.network,
                })
            }
            (VenueKind::Binance, _) => binance::account::check_close_key(key.expose()).map(|_| CloseKeys::Binance),
        }
    }
}

/// Something to do with a venue's closer, whatever the venue: the close
/// loop, handed the concrete closer by [`with_closer`].
pub trait CloseJob {
    type Out;
    fn run<V: CloseVenue>(self, venue: &V) -> impl std::future::Future<Output = Self::Out> + Send;
}

/// Builds `rest`'s venue closer from its keys and settings and runs `job`
/// with it; an error when the keys are another venue's.
pub async fn with_closer<J: CloseJob>(
    rest: &Rest,
    keys: &CloseKeys,
    address: &str,
    s: &CloseSettings,
    job: J,
) -> Result<J::Out, String> {
    match (rest, keys) {
        (Rest::Pacifica(rest), CloseKeys::Pacifica(signer)) => {
            let params = pacifica::close::CloseParams {
                account: address,
                signer,
                agent: s.agent,
                slippage_percent: s.slippage_percent,
                expiry_window_ms: s.expiry_window.as_millis() as u64,
                run: s.run(),
            };
            Ok(job
                .run(&pacifica::close::PacificaCloser { rest, params: &params })
                .await)
        }
        (
            Rest::Nado(rest),
            CloseKeys::Nado {
                signer,
                chain_id,
                endpoint,
                sender,
            },
        ) => {
            let params = nado::close::NadoCloseParams {
                signer,
                chain_id: *chain_id,
                endpoint: *endpoint,
                sender: *sender,
                slippage_percent: s.slippage_percent,
                cancel_orders_first: s.cancel_orders_first,
                run: s.run(),
            };
            Ok(job.run(&nado::close::NadoCloser { rest, params: &params }).await)
        }
        (Rest::Hyperliquid(rest), CloseKeys::Hyperliquid { signer, vault, network }) => {
            let params = hyperliquid::close::HyperliquidCloseParams {
                signer,
                vault: *vault,
                network: *network,
                slippage_percent: s.slippage_percent,
                expiry_window: s.expiry_window,
                run: s.run(),
            };
            Ok(job
                .run(&hyperliquid::close::HyperliquidCloser::new(rest, &params))
                .await)
        }
        (Rest::Binance(rest), CloseKeys::Binance) => {
            let params = binance::close::BinanceCloseParams {
                run: s.run(),
                cancel_orders_first: s.cancel_orders_first,
            };
            Ok(job.run(&binance::close::BinanceCloser::new(rest, &params)).await)
        }
        _ => Err("the close keys are for another venue".into()),
    }
}
