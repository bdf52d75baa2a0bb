//! The venue interface: what every exchange adapter delivers, in venue-neutral
//! data, and the shape each adapter folder has.
//!
//! Here: [`types`] (venue-neutral data, pure), [`registry`] (the one place
//! each venue is listed and dispatched to), [`reconnect`] (the stream
//! tasks' shared reconnect policy), [`scan`] (the strict JSON cursor of the
//! hand-written frame decoders), [`changes`] (a full-snapshot connection's
//! last frame, so the next is told as what changed). Every adapter lives in `venue/<name>/`
//! with the same files (adapter, closer, offline signer, config checks and
//! simulator; see [`types`]); [`simkit`] is what the simulators share.

pub mod binance;
pub mod changes;
pub mod evm;
pub mod hyperliquid;
pub mod lost_reply;
pub mod nado;
pub mod pacifica;
pub mod reconnect;
pub mod registry;
pub mod remembered;
pub mod scan;
pub mod session;
pub mod simkit;
pub mod types;
