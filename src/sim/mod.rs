//! Simulated exchanges: real servers on loopback that speak each venue's
//! documented protocol, used by `driftwatch sim`, `driftwatch demo` and the
//! tests. They are part of the product, not test doubles.

pub mod nado;
pub mod pacifica;

/// A REST fault, for a number of requests or until cleared; both
/// simulators inject it the same way.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestFaults {
    fault: Option<pacifica::RestFault>,
    times: Option<u32>,
}

impl RestFaults {
    pub fn set(&mut self, fault: Option<pacifica::RestFault>, times: Option<u32>) {
        self.fault = fault;
        self.times = times;
    }

    /// The fault in force, without using it up.
    pub fn peek(&self) -> Option<pacifica::RestFault> {
        self.fault
    }

    /// The fault for this request, counting it.
    pub fn take(&mut self) -> Option<pacifica::RestFault> {
        let fault = self.fault?;
        if let Some(n) = self.times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.set(None, None);
            }
        }
        Some(fault)
    }
}
