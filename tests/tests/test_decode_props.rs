//! The decoding invariant, as a property: for every version of every record of the example
//! domain, random values written with that version's schema by apache-avro (an independent
//! encoder) decode into the typed view of that version holding exactly those values, and the
//! decoder yields exactly the view upgraded to the latest type.

#[path = "support/strategy.rs"]
mod strategy;
#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::types::Value;
use proptest::prelude::*;
use strata::decode::Reader;
use strata::{Decode, Event, View};

/// The schema of `record` at `version` of `E`, and random values of it.
fn record<E: Event>(record: &str, version: u32) -> (Schema, BoxedStrategy<Value>) {
    let union = E::schema(version).expect("derives").to_json();
    let json = union
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == record)
        .unwrap_or_else(|| panic!("`{record}` is not in version {version}"))
        .clone();
    let schema = Schema::parse_str(&json.to_string()).expect("a branch parses on its own");
    let names = Arc::new(support::named_types(&schema));
    let values = strategy::value(&schema, &names, 0);
    (schema, values)
}

macro_rules! decodes_exactly {
    ($($test:ident: $event:ty, $record:literal, version $version:literal as $shape:ty => $latest:ty;)*) => {$(
        proptest! {
            #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]
            #[test]
            fn $test(value in record::<$event>($record, $version).1) {
                let (schema, _) = record::<$event>($record, $version);
                let bytes = support::write_datum(&schema, value.clone()).expect("a value fits its schema");
                let view = <$shape>::__strata_decode::<$version>(&mut Reader::new(&bytes))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let json = view.__strata_json().map_err(|e| TestCaseError::fail(e.to_string()))?;
                strategy::same(&json, &value, $record).map_err(TestCaseError::fail)?;
                let mut r = Reader::new(&bytes);
                let decoded = <$latest as Decode>::decode::<$version>(&mut r);
                match (decoded, View::upcast(view)) {
                    (Ok(latest), Ok(upcast)) => {
                        prop_assert!(r.is_empty(), "{} byte(s) left", r.remaining());
                        prop_assert_eq!(latest, upcast);
                    }
                    // An upgrade that refuses the value (a total too large for its decimal)
                    // fails the decode with the same reason, never a made-up value.
                    (Err(decode), Err(upcast)) => {
                        prop_assert!(decode.to_string().contains(upcast.message()), "{decode} vs {upcast}");
                    }
                    (decoded, upcast) => {
                        prop_assert!(false, "decoding gave {decoded:?}, the upgrade {upcast:?}");
                    }
                }
            }
        }
    )*};
}

mod bank {
    use super::*;
    use strata_tests::bank::*;

    decodes_exactly! {
        account_opened_v1: AccountEvent, "AccountOpened", version 1 as AccountOpenedV1 => AccountOpened;
        account_opened_v2: AccountEvent, "AccountOpened", version 2 as AccountOpenedV2 => AccountOpened;
        account_opened_v3: AccountEvent, "AccountOpened", version 3 as AccountOpened => AccountOpened;
        funds_deposited_v1: AccountEvent, "FundsDeposited", version 1 as MoneyDepositedV1 => MoneyDeposited;
        money_deposited_v2: AccountEvent, "MoneyDeposited", version 2 as MoneyDeposited => MoneyDeposited;
        money_deposited_v3: AccountEvent, "MoneyDeposited", version 3 as MoneyDeposited => MoneyDeposited;
        account_frozen_v2: AccountEvent, "AccountFrozen", version 2 as AccountFrozen => AccountFrozen;
        account_frozen_v3: AccountEvent, "AccountFrozen", version 3 as AccountFrozen => AccountFrozen;
        account_closed_v1: AccountEvent, "AccountClosed", version 1 as AccountClosed => AccountClosed;
        account_closed_v2: AccountEvent, "AccountClosed", version 2 as AccountClosed => AccountClosed;
    }
}

mod shop {
    use super::*;
    use strata_tests::shop::*;

    decodes_exactly! {
        order_placed_v1: OrderEvent, "OrderPlaced", version 1 as OrderPlacedV1 => OrderPlaced;
        order_placed_v2: OrderEvent, "OrderPlaced", version 2 as OrderPlacedV2 => OrderPlaced;
        order_placed_v3: OrderEvent, "OrderPlaced", version 3 as OrderPlacedV3 => OrderPlaced;
        order_placed_v4: OrderEvent, "OrderPlaced", version 4 as OrderPlaced => OrderPlaced;
        order_cancelled_v1: OrderEvent, "OrderCancelled", version 1 as OrderCancelledV1 => OrderCancelled;
        order_cancelled_v4: OrderEvent, "OrderCancelled", version 4 as OrderCancelled => OrderCancelled;
        order_shipped_v2: OrderEvent, "OrderShipped", version 2 as OrderShipped => OrderShipped;
        order_shipped_v4: OrderEvent, "OrderShipped", version 4 as OrderShipped => OrderShipped;
    }
}
