//! Simulated exchanges: real servers on loopback that speak each venue's
//! documented protocol, used by `driftwatch sim`, `driftwatch demo` and the
//! tests. They are part of the product, not test doubles.

pub mod nado;
pub mod pacifica;
