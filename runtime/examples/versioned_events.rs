//! Define an event type and version it: a field added with a default, a field widened, a new
//! event; print every version's Avro schema, and read a version 1 record as the latest type.
//!
//! ```sh
//! cargo run -p strata-es --example versioned_events
//! ```

use std::sync::Arc;

use strata::{Decoder, Event, LocalSource};

/// Everything that happens to a cart; topic `shop.carts`.
#[derive(strata::Event, Debug, Clone, PartialEq)]
#[strata(topic = "shop.carts", namespace = "com.example.carts", version = 2)]
pub enum CartEvent {
    ItemAdded(ItemAdded),
    /// New in version 2.
    #[strata(added = 2)]
    CheckedOut(CheckedOut),
}

/// An item was put into a cart.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct ItemAdded {
    pub cart_id: String,
    pub sku: String,
    /// An `int` in version 1, a `long` since: Avro promotes it by itself.
    #[strata(changed(in = 2, from = "i32"))]
    pub quantity: i64,
    /// New in version 2; version 1 records read as "EUR".
    #[strata(added(in = 2, default = "EUR"))]
    pub currency: String,
}

/// The cart was paid for.
#[derive(strata::Record, Debug, Clone, PartialEq)]
pub struct CheckedOut {
    pub cart_id: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every version's schema, generated from the one Rust type. `cargo xtask schemas` commits
    // them to `schemas/shop.carts-value/`.
    let source = LocalSource::new();
    for version in 1..=CartEvent::VERSION {
        let schema = CartEvent::schema(version)?.to_json();
        println!("version {version}: {schema}");
        source.insert(version, &CartEvent::subject(), &schema.to_string())?;
    }

    // A record a version 1 producer wrote: Confluent framing (magic byte, schema id 1), then
    // the union branch (0: ItemAdded) and the fields as version 1 had them.
    let mut record = vec![0, 0, 0, 0, 1];
    strata::encode::write_long(&mut record, 0);
    strata::encode::write_bytes(&mut record, b"cart-1");
    strata::encode::write_bytes(&mut record, b"sku-42");
    strata::encode::write_long(&mut record, 3); // quantity, an int then

    let decoder = Decoder::<CartEvent>::new(Arc::new(source))?;
    let event = decoder.decode(&record)?;
    println!("version 1 record read as the latest type: {event:?}");
    assert_eq!(
        event,
        CartEvent::ItemAdded(ItemAdded {
            cart_id: "cart-1".into(),
            sku: "sku-42".into(),
            quantity: 3,
            currency: "EUR".into(),
        })
    );
    Ok(())
}
