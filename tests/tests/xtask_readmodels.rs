//! `cargo xtask read-models` against a real PostgreSQL and broker: the books a projector keeps,
//! listed, and a retired version dropped (the serving one refused).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use strata::kafka::Mode;
use strata::kafka::readmodel::{Projector, ProjectorConfig, ReadModel};
use strata_tests::balances::Balances;
use strata_tests::bank::AccountEvent;
use support::kafka::{produce, records_of, source_of, start};
use support::postgres::Postgres;

fn xtask(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("in the workspace");
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(root)
        .env_remove("CI")
        .env_remove("DATABASE_URL")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn build<M: ReadModel<AccountEvent>>(brokers: &str, topic: &str, url: &str, model: M) {
    let mut config = ProjectorConfig::new(brokers);
    config.topic = Some(topic.to_owned());
    config.mode = Mode::CatchUp;
    let mut db = strata::kafka::readmodel::postgres::Client::connect(
        url,
        strata::kafka::readmodel::postgres::NoTls,
    )
    .unwrap();
    let mut projector = Projector::new(config, source_of::<AccountEvent>(), model).unwrap();
    projector.run(&mut db, &mut |_| true).unwrap();
}

#[test]
fn read_models_lists_versions_and_drops_a_retired_one_but_not_the_serving_one() {
    let (broker, topic) = start("xtask-readmodels", 2);
    let pg = Postgres::start();
    let url = pg.url("postgres");
    let records = records_of::<AccountEvent>(3, 4, "account", 5);
    produce(&broker, &topic, &records);
    build(&broker.brokers(), &topic, &url, Balances::<1>::default());
    build(&broker.brokers(), &topic, &url, Balances::<2>::default());

    let out = xtask(&["read-models", "list", "--database", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("bank_balances v1 retired topic {topic} offsets 0:")),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(&format!("bank_balances v2 serving topic {topic} offsets 0:")),
        "{stdout}"
    );
    let stored: i64 = lines[1]
        .split(" offsets ")
        .nth(1)
        .unwrap()
        .split(' ')
        .map(|p| p.split_once(':').unwrap().1.parse::<i64>().unwrap())
        .sum();
    assert_eq!(stored, records.len() as i64, "{stdout}");

    let drop = |version: &str| {
        let name = ["--name", "bank_balances", "--version", version];
        xtask(&[&["read-models", "drop", "--database", &url][..], &name].concat())
    };
    let out = drop("2");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("version 2 serves readers"), "{}", text(&out));
    let out = drop("1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = xtask(&["read-models", "list", "--database", &url, "--name", "bank_balances"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("bank_balances v2 serving"), "{stdout}");
}
