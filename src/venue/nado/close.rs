//! Nado's side of a reduce-only close (nado.md §5): an EIP-712 signed IOC
//! at a worst price off the same-side top of book, widening with each
//! attempt inside the venue's band, with a fresh nonce each time. Nado has
//! no client order id, so a retry after a lost reply re-reads and re-sizes
//! first (reduce-only caps a late landing). An IOC has matched when the
//! reply comes.

use rust_decimal::Decimal;
use serde_json::Value;

use super::http::{CloseRead, RestClient, Resting};
use super::price::{worst_price, NADO_BAND};
use crate::venue::types::{CloseOrder, CloseRun, CloseVenue, OrderFailure, OrderSide, RestError};

/// How to send Nado closes for one subaccount.
pub struct NadoCloseParams<'a> {
    pub signer: &'a super::sign::Signer,
    pub chain_id: u64,
    /// The Endpoint contract (cancels are verified against it).
    pub endpoint: alloy_primitives::Address,
    /// The subaccount the orders are sent for.
    pub sender: alloy_primitives::B256,
    /// First attempt's slippage off the same-side top of book, in percent;
    /// attempt `n` uses `n` times it (inside the venue's band).
    pub slippage_percent: Decimal,
    /// Cancel the product's resting orders first.
    pub cancel_orders_first: bool,
    pub run: CloseRun,
}

/// Closes on one Nado subaccount.
pub struct NadoCloser<'a> {
    pub rest: &'a RestClient,
    pub params: &'a NadoCloseParams<'a>,
}

impl CloseVenue for NadoCloser<'_> {
    type Read = CloseRead;

    fn run(&self) -> CloseRun {
        self.params.run
    }

    fn fills_before_reply(&self) -> bool {
        true
    }

    fn idempotent(&self) -> bool {
        false
    }

    async fn read(&self, key: &crate::domain::PositionKey) -> Result<(Decimal, CloseRead), RestError> {
        let symbol = crate::venue::types::net_leg(key)?;
        let read = self.rest.close_read(symbol).await?;
        Ok((read.position, read))
    }

    async fn read_to_send(&self, key: &crate::domain::PositionKey) -> Result<(Decimal, CloseRead), RestError> {
        let symbol = crate::venue::types::net_leg(key)?;
        let orders = self.params.cancel_orders_first && self.params.run.armed;
        let read = self.rest.close_read_to_send(symbol, orders).await?;
        Ok((read.position, read))
    }

    async fn prepare(&self, read: &CloseRead) {
        let (rest, params) = (self.rest, self.params);
        if !params.cancel_orders_first {
            return;
        }
        match read.resting {
            Resting::Nothing => {
                tracing::debug!(product = read.product.product_id, "No resting orders to cancel.");
                return;
            }
            Resting::Orders(n) => {
                tracing::info!(
                    product = read.product.product_id,
                    orders = n,
                    "Cancelling resting orders before the close."
                )
            }
            Resting::Unknown => {}
        }
        let nonce = super::sign::nonce(rest.venue_now_ms() + 90_000, rand::random::<u32>() & 0xF_FFFF);
        let body = match super::sign::sign_cancel_product_orders(
            params.signer,
            params.chain_id,
            params.endpoint,
            params.sender,
            &[read.product.product_id],
            nonce,
        ) {
            Ok(s) => s.body,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot sign cancel_product_orders; closing anyway.");
                return;
            }
        };
        if let Err(e) = rest.cancel(&body).await {
            tracing::warn!(product = read.product.product_id, error = %e, "cancel_product_orders failed; closing anyway (reduce-only).");
        }
    }

    async fn request(&self, order: &CloseOrder, read: &CloseRead, _: &str, attempt: u32) -> Result<Value, String> {
        let (rest, params) = (self.rest, self.params);
        // The first order is priced off the book read beside the position;
        // a retry (or an order after a re-read) reads the book again.
        let (bid, ask) = match read.book.filter(|_| attempt == 1) {
            Some(book) => book,
            None => rest.market_price(read.product.product_id).await.unwrap_or((None, None)),
        };
        let reference = match order.side {
            OrderSide::Ask => bid,
            OrderSide::Bid => ask,
        }
        .unwrap_or(read.oracle);
        let price = worst_price(
            order.side,
            reference,
            read.oracle,
            params.slippage_percent * Decimal::from(attempt.max(1)),
            NADO_BAND,
            read.product.price_increment,
        );
        let amount = match order.side {
            OrderSide::Ask => -order.amount,
            OrderSide::Bid => order.amount,
        };
        let p = super::sign::OrderParams {
            chain_id: params.chain_id,
            product_id: read.product.product_id,
            sender: params.sender,
            price_x18: super::parse::to_x18(price)?,
            amount_x18: super::parse::to_x18(amount)?,
            expiration: rest.venue_now_ms() / 1000 + 1000,
            nonce: super::sign::nonce(rest.venue_now_ms() + 90_000, rand::random::<u32>() & 0xF_FFFF),
            appendix: super::sign::appendix(super::sign::OrderType::Ioc, true, false),
        };
        let signed = super::sign::sign_order(params.signer, &p)?;
        serde_json::from_str(&signed.body).map_err(|e| e.to_string())
    }

    async fn send(&self, body: &Value) -> Result<String, OrderFailure> {
        self.rest.execute(&body.to_string()).await
    }
}
