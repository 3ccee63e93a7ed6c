//! Any historical shape of a record upgrades to the latest one: automatically where Avro's
//! rules suffice (defaults, renames, promotions), through the user's typed functions where the
//! meaning changes, and with an error that names the record and the step when one fails.

use std::collections::HashMap;

use strata::{Decimal, TimestampMillis, UpcastError, View};
use strata_tests::bank::{AccountOpened, AccountOpenedV1, AccountOpenedV2, HolderKind};
use strata_tests::shop::{
    Customer, OrderLine, OrderLineV1, OrderPlaced, OrderPlacedV1, OrderPlacedV2, OrderPlacedV3,
};
use time::OffsetDateTime;
use uuid::Uuid;

type Result<T = (), E = UpcastError> = std::result::Result<T, E>;

#[test]
fn a_version_1_account_gets_the_default_currency_the_new_name_and_a_computed_holder_kind() -> Result
{
    let v1 = AccountOpenedV1 {
        account_id: Uuid::nil(),
        owner: "Acme GmbH".into(),
        overdraft_limit_cents: -50_000,
        branch_code: "B-17".into(),
    };
    let latest = v1.upcast()?;
    assert_eq!(
        latest,
        AccountOpened {
            account_id: Uuid::nil(),
            holder: "Acme GmbH".into(),
            currency: "EUR".into(),
            overdraft_limit_cents: -50_000,
            holder_kind: HolderKind::Company,
        }
    );
    Ok(())
}

#[test]
fn each_step_is_a_method_and_the_chain_ends_at_the_latest_type() -> Result {
    let v1 = AccountOpenedV1 {
        account_id: Uuid::nil(),
        owner: "Ada".into(),
        overdraft_limit_cents: 0,
        branch_code: String::new(),
    };
    let v2: AccountOpenedV2 = v1.upgrade()?;
    assert_eq!((v2.holder.as_str(), v2.currency.as_str()), ("Ada", "EUR"));
    let latest: AccountOpened = v2.upgrade()?;
    assert_eq!(latest.holder_kind, HolderKind::Person);
    assert_eq!(<AccountOpenedV1 as View>::VERSION, 1);
    assert_eq!(<AccountOpenedV2 as View>::VERSION, 2);
    assert_eq!(<AccountOpened as View>::VERSION, 3);
    assert_eq!(<AccountOpened as strata::Record>::CHANGES, [1, 2, 3]);
    Ok(())
}

fn placed_v1(coupon: Option<&str>) -> OrderPlacedV1 {
    OrderPlacedV1 {
        order_id: Uuid::from_u128(7),
        customer: Customer { customer_id: Uuid::from_u128(1), name: "Grace".into(), email: None },
        lines: vec![OrderLine {
            sku: "A".into(),
            quantity: 2,
            unit_price_cents: 150,
            parts: vec![],
        }],
        coupon: coupon.map(str::to_owned),
        total_cents: 300,
        placed_at: TimestampMillis(OffsetDateTime::UNIX_EPOCH),
        basket_digest: [9; 16],
    }
}

#[test]
fn a_removed_field_is_carried_into_new_fields_by_the_record_upgrade() -> Result {
    let v3: OrderPlacedV3 = placed_v1(Some("WELCOME")).upgrade()?.upgrade()?;
    assert_eq!(v3.promotion_codes, ["WELCOME"]);
    let v3: OrderPlacedV3 = placed_v1(None).upgrade()?.upgrade()?;
    assert!(v3.promotion_codes.is_empty());
    Ok(())
}

#[test]
fn a_retype_that_avro_cannot_resolve_runs_the_upgrade_function() -> Result {
    let latest: OrderPlaced = placed_v1(None).upcast()?;
    assert_eq!(latest.total, Decimal::<12, 2>::from_unscaled(300).unwrap());
    assert_eq!(latest.total.to_string(), "3.00");
    assert_eq!(latest.tags, HashMap::new(), "added in version 2 with an empty default");
    Ok(())
}

#[test]
fn a_promotion_converts_the_value() -> Result {
    let line =
        OrderLineV1 { sku: "B".into(), quantity: 40_000, unit_price_cents: 1, parts: vec![] };
    assert_eq!(line.upcast()?.quantity, 40_000_i64);
    Ok(())
}

#[test]
fn a_view_holds_nested_records_already_upgraded() {
    // Nested records upgrade on their own, so every view names the latest `Customer`.
    let v2: OrderPlacedV2 = placed_v1(None).upgrade().expect("v1 upgrades");
    let _: &Customer = &v2.customer;
    let _: &[OrderLine] = &v2.lines;
}

mod failing_upgrades {
    use strata::{UpcastError, View};

    #[derive(strata::Record, Debug, Clone, PartialEq)]
    pub struct Reading {
        #[strata(changed(in = 2, from = "String", upgrade = "celsius_from_text"))]
        pub celsius: f64,
    }

    fn celsius_from_text(v1: &ReadingV1) -> Result<f64, UpcastError> {
        v1.celsius.trim_end_matches(" C").parse().map_err(|e| {
            UpcastError::caused_by(format!("`{}` is not a temperature", v1.celsius), e)
        })
    }

    #[test]
    fn a_failing_upgrade_names_the_record_and_the_step_and_keeps_its_cause() {
        assert_eq!(ReadingV1 { celsius: "21.5 C".into() }.upcast().expect("parses").celsius, 21.5);
        let error = ReadingV1 { celsius: "warm".into() }.upcast().expect_err("cannot parse");
        assert_eq!(error.record(), Some("Reading"));
        assert_eq!((error.from_version(), error.to_version()), (Some(1), Some(2)));
        assert_eq!(
            error.to_string(),
            "upgrading `Reading` from version 1 to 2: `warm` is not a temperature"
        );
        assert!(
            std::error::Error::source(&error).is_some(),
            "the parse error is kept as the source"
        );
    }

    #[derive(strata::Record, Debug, Clone, PartialEq)]
    pub struct Counter {
        #[strata(changed(in = 2, from = "i64"))]
        pub count: u32,
    }

    #[test]
    fn a_narrowing_promotion_fails_instead_of_truncating() {
        assert_eq!(CounterV1 { count: 7 }.upcast().expect("fits").count, 7);
        let error = CounterV1 { count: -1 }.upcast().expect_err("negative");
        assert_eq!(
            error.to_string(),
            "upgrading `Counter` from version 1 to 2: `-1` does not fit in `u32`"
        );
    }
}

mod events {
    use strata::FromRecord;
    use strata_tests::bank::{
        AccountClosed, AccountEvent, AccountFrozen, AccountOpened, FreezeReason, HolderKind,
    };
    use uuid::Uuid;

    #[test]
    fn a_retired_event_becomes_a_current_one_through_its_upgrade_function() {
        let closed = AccountClosed { account_id: Uuid::from_u128(5) };
        assert_eq!(
            AccountEvent::from_record(closed).expect("the upgrade cannot fail"),
            AccountEvent::Frozen(AccountFrozen {
                account_id: Uuid::from_u128(5),
                reason: FreezeReason::Closed
            })
        );
    }

    #[test]
    fn a_current_record_becomes_its_variant() {
        let opened = AccountOpened {
            account_id: Uuid::nil(),
            holder: "Ada".into(),
            currency: "EUR".into(),
            overdraft_limit_cents: 0,
            holder_kind: HolderKind::Person,
        };
        assert_eq!(
            AccountEvent::from_record(opened.clone()).expect("infallible"),
            AccountEvent::Opened(opened)
        );
    }
}

mod escape_hatch {
    use serde_json::json;
    use strata::schema::{Schema, SchemaCx};
    use strata::{AvroType, SchemaError};

    /// An e-mail address, stored as an Avro string: a custom type mapped by hand.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Email(String);

    impl AvroType for Email {
        fn schema(_: &mut SchemaCx) -> Result<Schema, SchemaError> {
            Ok(Schema::String)
        }
        fn default_json(&self) -> Result<serde_json::Value, strata::JsonError> {
            Ok(json!(self.0))
        }
    }

    impl strata::Decode for Email {
        fn decode<const V: u32>(
            r: &mut strata::decode::Reader<'_>,
        ) -> Result<Self, strata::DecodeError> {
            String::decode::<V>(r).map(Email)
        }
    }

    impl strata::Encode for Email {
        fn encode(&self, out: &mut Vec<u8>) {
            self.0.encode(out);
        }
    }

    #[derive(strata::Record, Debug)]
    pub struct Signup {
        #[strata(added(in = 2, default = Email("nobody@example.com".into())))]
        pub email: Email,
    }

    #[test]
    fn a_type_mapped_by_hand_is_encoded_and_decoded_like_any_other() {
        use strata::{Decode, Encode};
        let mut out = Vec::new();
        Signup { email: Email("a@example.com".into()) }.encode(&mut out);
        let back = Signup::decode::<2>(&mut strata::decode::Reader::new(&out)).expect("decodes");
        assert_eq!(back.email, Email("a@example.com".into()));
        // Version 1 had no e-mail: its datum is empty and decodes to the default.
        let v1 = Signup::decode::<1>(&mut strata::decode::Reader::new(&[])).expect("decodes");
        assert_eq!(v1.email, Email("nobody@example.com".into()));
    }

    #[test]
    fn a_type_implementing_avro_type_by_hand_is_a_field_like_any_other() {
        let schema = Signup::schema(&mut SchemaCx::new(2, None)).expect("derives").to_json();
        assert_eq!(
            schema["fields"][0],
            json!({"name": "email", "type": "string", "default": "nobody@example.com"})
        );
    }
}

/// The same record upgrade, written once against the name of the shape it builds, compiles
/// unchanged before and after a later version changes the record: while 2 is the latest shape,
/// `ThingV2` is an alias of `Thing`; once version 3 adds `note`, it is the view of version 2.
mod carried_at_its_latest {
    #[derive(strata::Record, Debug, Clone, PartialEq)]
    #[strata(removed(field = "old", ty = "i32", in = 2, upgrade = "carry"))]
    pub struct Thing {
        pub a: i32,
        #[strata(added(in = 2, default = 0))]
        pub doubled: i32,
    }

    /// Version 2 doubles `old` into `doubled`.
    fn carry(v1: ThingV1) -> std::result::Result<ThingV2, strata::UpcastError> {
        Ok(ThingV2 { a: v1.a, doubled: v1.old * 2 })
    }
}

mod carried_then_changed {
    #[derive(strata::Record, Debug, Clone, PartialEq)]
    #[strata(removed(field = "old", ty = "i32", in = 2, upgrade = "carry"))]
    pub struct Thing {
        pub a: i32,
        #[strata(added(in = 2, default = 0))]
        pub doubled: i32,
        #[strata(added(in = 3, default = "none"))]
        pub note: String,
    }

    /// Word for word the function of `carried_at_its_latest`.
    fn carry(v1: ThingV1) -> std::result::Result<ThingV2, strata::UpcastError> {
        Ok(ThingV2 { a: v1.a, doubled: v1.old * 2 })
    }
}

#[test]
fn a_record_upgrade_returning_the_versioned_name_survives_a_later_change() -> Result {
    let latest: carried_at_its_latest::Thing =
        carried_at_its_latest::ThingV1 { a: 1, old: 21 }.upcast()?;
    assert_eq!(latest, carried_at_its_latest::ThingV2 { a: 1, doubled: 42 });

    let later: carried_then_changed::Thing =
        carried_then_changed::ThingV1 { a: 1, old: 21 }.upcast()?;
    assert_eq!(later, carried_then_changed::Thing { a: 1, doubled: 42, note: "none".into() });
    Ok(())
}
