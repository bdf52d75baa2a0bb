//! Nado (Ink): EIP-712 signing and x18 fixed point so far. The stream,
//! REST and simulator parts follow the Pacifica adapter's shape (see
//! shared/venues/nado.md and issue 5).

pub mod models;
pub mod parse;
pub mod sign;
