//! An order aggregate: topic `shop.orders`, keyed by order id, its keys in Avro (`OrderKey`,
//! subject `shop.orders-key`) as the shop's services in other languages expect them.
//!
//! History:
//! - version 1: `Placed` and `Cancelled`.
//! - version 2: `OrderLine.quantity` promoted from int to long; `tags` added with an empty
//!   default; `Cancelled` gains `refunded`; `Shipped` added.
//! - version 3: `coupon` removed, carried into the new `promotion_codes` by a record upgrade;
//!   `Customer.email` added (a nested record changing on its own).
//! - version 4: `total_cents` (a long of cents) becomes `total` (a decimal): a rename and a
//!   retype Avro cannot resolve, done by an upgrade function; `Carrier` gains `Fedex`.

use std::collections::HashMap;

use strata::{Decimal, TimestampMillis, UpcastError};
use uuid::Uuid;

/// Everything that happens to an order; topic `shop.orders`, keyed by order id.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "shop.orders", namespace = "com.example.shop", version = 4, key = OrderKey)]
#[strata(breaks(
    in = 4,
    reason = "`total_cents` (long) became `total` (decimal); `total_from_cents` converts it"
))]
pub enum OrderEvent {
    Placed(OrderPlaced),
    Cancelled(OrderCancelled),
    #[strata(added = 2)]
    Shipped(OrderShipped),
}

/// The key of every `shop.orders` record: the order it belongs to.
#[derive(strata::Record, Debug, Clone, PartialEq, Eq, Hash)]
#[strata(namespace = "com.example.shop")]
pub struct OrderKey {
    /// The order's id.
    pub order_id: Uuid,
}

/// A customer placed an order.
#[derive(strata::Record, Debug, Clone, PartialEq)]
#[strata(removed(
    field = "coupon",
    ty = "Option<String>",
    after = "lines",
    in = 3,
    upgrade = "placed_v2_to_v3"
))]
pub struct OrderPlaced {
    pub order_id: Uuid,
    pub customer: Customer,
    pub lines: Vec<OrderLine>,
    /// Promotion codes applied to the order; version 3 replaced the single `coupon`.
    #[strata(added(in = 3, default = Vec::new()))]
    pub promotion_codes: Vec<String>,
    /// Free-form labels.
    #[strata(added(in = 2, default = HashMap::new()))]
    pub tags: HashMap<String, String>,
    /// The order total; a long of cents until version 4.
    #[strata(
        renamed(from = "total_cents", in = 4),
        changed(in = 4, from = "i64", upgrade = "total_from_cents")
    )]
    pub total: Decimal<12, 2>,
    pub placed_at: TimestampMillis,
    /// An MD5 of the basket, for deduplication.
    pub basket_digest: [u8; 16],
}

/// Version 3 turned the single optional coupon into a list of promotion codes.
fn placed_v2_to_v3(v2: OrderPlacedV2) -> Result<OrderPlacedV3, UpcastError> {
    Ok(OrderPlacedV3 {
        order_id: v2.order_id,
        customer: v2.customer,
        lines: v2.lines,
        promotion_codes: v2.coupon.into_iter().collect(),
        tags: v2.tags,
        total_cents: v2.total_cents,
        placed_at: v2.placed_at,
        basket_digest: v2.basket_digest,
    })
}

/// Cents are the decimal's unscaled value; a total beyond its 12 digits is refused.
fn total_from_cents(v3: &OrderPlacedV3) -> Result<Decimal<12, 2>, UpcastError> {
    Decimal::from_unscaled(i128::from(v3.total_cents))
        .map_err(|e| UpcastError::caused_by("the total does not fit `Decimal<12, 2>`", e))
}

/// Who ordered.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct Customer {
    pub customer_id: Uuid,
    pub name: String,
    #[strata(added(in = 3))]
    pub email: Option<String>,
}

/// One line of an order; a bundle lists its parts as nested lines.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub sku: String,
    #[strata(changed(in = 2, from = "i32"))]
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub parts: Vec<OrderLine>,
}

/// The order was cancelled before shipping.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct OrderCancelled {
    pub order_id: Uuid,
    pub reason: String,
    /// Whether the payment was refunded; cancellations before version 2 were not.
    #[strata(added(in = 2, default = false))]
    pub refunded: bool,
}

/// The order left the warehouse.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct OrderShipped {
    pub order_id: Uuid,
    pub carrier: Carrier,
    pub tracking_code: Option<String>,
    pub shipped_on: time::Date,
}

/// Who carries a parcel.
#[derive(strata::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    #[strata(default)]
    Other,
    Dhl,
    Ups,
    #[strata(added = 4)]
    Fedex,
}
