//! The books of read-model versions in PostgreSQL (`strata.read_models`,
//! `strata.read_model_offsets`): a version registered with its schema and tables, its state
//! and stored offsets read, the switch of the readers' views, and the listing and dropping of
//! versions (`cargo xtask read-models`).

use std::collections::BTreeMap;

use postgres::Client;

use super::{Books, ProjectorError, ReadModel};

/// A version's state in `strata.read_models`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// Being built; readers do not see it.
    Building,
    /// Readers' views point at its tables.
    Serving,
    /// A later version took over; its tables stay until dropped.
    Retired,
}

impl VersionState {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "building" => Some(VersionState::Building),
            "serving" => Some(VersionState::Serving),
            "retired" => Some(VersionState::Retired),
            _ => None,
        }
    }

    /// The state's name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Building => "building",
            VersionState::Serving => "serving",
            VersionState::Retired => "retired",
        }
    }
}

/// One version of a read model, as [`versions`] lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    /// The read model.
    pub name: String,
    /// The version.
    pub version: u32,
    /// Its state.
    pub state: VersionState,
    /// The topic it is built from.
    pub topic: String,
    /// The next offset to apply, per partition.
    pub offsets: BTreeMap<i32, i64>,
}

pub(super) fn validate_name(name: &str) -> Result<(), ProjectorError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= 40 {
        Ok(())
    } else {
        Err(ProjectorError::Name { name: name.to_owned() })
    }
}

pub(super) fn version_schema(books: &Books) -> String {
    format!("{}_v{}", books.name, books.version)
}

/// The key of the advisory lock that serializes changes to `strata.read_models`.
const CATALOG_LOCK: i64 = 0x5354_5241_5441_524d; // "STRATARM"

/// Creates strata's books if missing, and the version (with its tables) if new.
pub(super) fn register<E, M: ReadModel<E>>(
    db: &mut Client,
    model: &mut M,
    name: &'static str,
    version: u32,
    topic: &str,
) -> Result<Books, ProjectorError> {
    let database = |action| database(name, version, action);
    let version_i32 = i32::try_from(version).unwrap_or(i32::MAX);
    let mut tx = db.transaction().map_err(database("beginning registration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CATALOG_LOCK])
        .map_err(database("locking strata.read_models"))?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS strata;
         CREATE TABLE IF NOT EXISTS strata.read_models (
             name text NOT NULL,
             version integer NOT NULL,
             state text NOT NULL CHECK (state IN ('building', 'serving', 'retired')),
             topic text NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now(),
             serving_since timestamptz,
             PRIMARY KEY (name, version)
         );
         CREATE TABLE IF NOT EXISTS strata.read_model_offsets (
             name text NOT NULL,
             version integer NOT NULL,
             topic text NOT NULL,
             partition integer NOT NULL,
             next_offset bigint NOT NULL,
             PRIMARY KEY (name, version, topic, partition)
         );
         CREATE TABLE IF NOT EXISTS strata.read_model_parked (
             name text NOT NULL,
             version integer NOT NULL,
             topic text NOT NULL,
             partition integer NOT NULL,
             key bytea NOT NULL,
             letters bigint NOT NULL,
             handled_through bigint NOT NULL,
             PRIMARY KEY (name, version, topic, partition, key)
         );",
    )
    .map_err(database("creating strata's tables"))?;
    let row = tx
        .query_opt(
            "SELECT topic FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&name, &version_i32],
        )
        .map_err(database("reading strata.read_models"))?;
    match row {
        Some(row) => {
            let registered: String = row.get(0);
            if registered != topic {
                return Err(ProjectorError::OtherTopic {
                    name: name.to_owned(),
                    version,
                    registered,
                    topic: topic.to_owned(),
                });
            }
        }
        None => {
            // An older program must not build a version below one already there: once caught
            // up it would take the readers from the newer one.
            let newest: Option<i32> = tx
                .query_one("SELECT max(version) FROM strata.read_models WHERE name = $1", &[&name])
                .map_err(database("reading the newest version"))?
                .get(0);
            if let Some(newer) = newest.filter(|&newest| newest > version_i32) {
                return Err(ProjectorError::Older {
                    name: name.to_owned(),
                    version,
                    newer: newer as u32,
                });
            }
            tx.execute(
                "INSERT INTO strata.read_models (name, version, state, topic) \
                 VALUES ($1, $2, 'building', $3)",
                &[&name, &version_i32, &topic],
            )
            .map_err(database("registering the version"))?;
            let schema = format!("{name}_v{version}");
            tx.batch_execute(&format!(
                "CREATE SCHEMA \"{schema}\"; SET LOCAL search_path TO \"{schema}\""
            ))
            .map_err(database("creating the version's schema"))?;
            model.create(&mut tx).map_err(|source| ProjectorError::Create {
                name: name.to_owned(),
                version,
                source,
            })?;
            tracing::info!(name, version, "read model version registered");
        }
    }
    tx.commit().map_err(database("committing registration"))?;
    let lock = db
        .prepare(
            "SELECT next_offset FROM strata.read_model_offsets \
             WHERE name = $1 AND version = $2 AND topic = $3 AND partition = $4 FOR UPDATE",
        )
        .map_err(database("preparing statements"))?;
    let store = db
        .prepare(
            "UPDATE strata.read_model_offsets SET next_offset = $1 \
             WHERE name = $2 AND version = $3 AND topic = $4 AND partition = $5",
        )
        .map_err(database("preparing statements"))?;
    let prepare =
        |db: &mut Client, sql: &str| db.prepare(sql).map_err(database("preparing statements"));
    const KEY: &str = "name = $1 AND version = $2 AND topic = $3 AND partition = $4 AND key = $5";
    let park = prepare(
        db,
        "INSERT INTO strata.read_model_parked \
         (name, version, topic, partition, key, letters, handled_through) \
         VALUES ($1, $2, $3, $4, $5, 1, -1) \
         ON CONFLICT (name, version, topic, partition, key) \
         DO UPDATE SET letters = strata.read_model_parked.letters + 1",
    )?;
    let parked = prepare(
        db,
        &format!(
            "SELECT letters, handled_through FROM strata.read_model_parked WHERE {KEY} FOR UPDATE"
        ),
    )?;
    let settle = prepare(
        db,
        &format!(
            "UPDATE strata.read_model_parked \
             SET letters = letters - $6, handled_through = GREATEST(handled_through, $7) \
             WHERE {KEY}"
        ),
    )?;
    Ok(Books {
        name,
        version: version_i32,
        topic: topic.to_owned(),
        log: topic.to_owned(),
        lock,
        store,
        park,
        parked,
        settle,
    })
}

/// The keys of `partition` of the version's event topic with dead letters outstanding.
pub(super) fn parked_keys(
    db: &mut Client,
    books: &Books,
    partition: i32,
) -> Result<std::collections::HashSet<Vec<u8>>, ProjectorError> {
    let rows = db
        .query(
            "SELECT key FROM strata.read_model_parked \
             WHERE name = $1 AND version = $2 AND topic = $3 AND partition = $4 AND letters > 0",
            &[&books.name, &books.version, &books.log, &partition],
        )
        .map_err(books.database("reading the parked keys"))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

pub(super) fn version_state(
    db: &mut Client,
    books: &Books,
) -> Result<VersionState, ProjectorError> {
    let state: String = db
        .query_one(
            "SELECT state FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&books.name, &books.version],
        )
        .map_err(books.database("reading the version's state"))?
        .get(0);
    VersionState::parse(&state).ok_or_else(|| ProjectorError::UnknownState {
        name: books.name.to_owned(),
        version: books.version as u32,
        state,
    })
}

pub(super) fn serving_version(
    db: &mut Client,
    books: &Books,
) -> Result<Option<u32>, ProjectorError> {
    let row = db
        .query_opt(
            "SELECT version FROM strata.read_models WHERE name = $1 AND state = 'serving'",
            &[&books.name],
        )
        .map_err(books.database("reading the serving version"))?;
    Ok(row.map(|row| row.get::<_, i32>(0) as u32))
}

pub(super) fn stored_offsets(
    db: &mut Client,
    books: &Books,
) -> Result<BTreeMap<i32, i64>, ProjectorError> {
    let rows = db
        .query(
            "SELECT partition, next_offset FROM strata.read_model_offsets \
             WHERE name = $1 AND version = $2 AND topic = $3",
            &[&books.name, &books.version, &books.topic],
        )
        .map_err(books.database("reading the stored offsets"))?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Records between the stored offsets and the partitions' ends (`watermarks`: first offset
/// and end of each), summed; a partition without a stored offset starts at its first offset.
pub(super) fn lag(stored: &BTreeMap<i32, i64>, watermarks: &BTreeMap<i32, (i64, i64)>) -> i64 {
    watermarks
        .iter()
        .map(|(p, (low, high))| (high - stored.get(p).copied().unwrap_or(*low)).max(0))
        .sum()
}

/// Points the readers' views at this version's tables and retires the serving version, in
/// one transaction; `false` when another instance switched first.
pub(super) fn switch(db: &mut Client, books: &Books) -> Result<bool, ProjectorError> {
    let mut tx = db.transaction().map_err(books.database("beginning the switch"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CATALOG_LOCK])
        .map_err(books.database("locking strata.read_models"))?;
    let state: String = tx
        .query_one(
            "SELECT state FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&books.name, &books.version],
        )
        .map_err(books.database("reading the version's state"))?
        .get(0);
    if state != "building" {
        return Ok(false);
    }
    // A newer version took the readers while this one was building: this one never serves.
    let newer: Option<i32> = tx
        .query_one(
            "SELECT max(version) FROM strata.read_models WHERE name = $1 AND state = 'serving'",
            &[&books.name],
        )
        .map_err(books.database("reading the serving version"))?
        .get(0);
    if let Some(serving) = newer.filter(|&serving| serving > books.version) {
        tx.execute(
            "UPDATE strata.read_models SET state = 'retired' WHERE name = $1 AND version = $2",
            &[&books.name, &books.version],
        )
        .map_err(books.database("retiring the older version"))?;
        tx.commit().map_err(books.database("committing the switch"))?;
        return Err(ProjectorError::Superseded {
            name: books.name.to_owned(),
            version: books.version as u32,
            serving: serving as u32,
        });
    }
    let serving = books.name;
    let own = version_schema(books);
    let views = tx
        .query(
            "SELECT table_name FROM information_schema.views WHERE table_schema = $1",
            &[&serving],
        )
        .map_err(books.database("listing the serving views"))?;
    let tables = tx
        .query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = $1 ORDER BY table_name",
            &[&own],
        )
        .map_err(books.database("listing the version's tables"))?;
    let mut sql = format!("CREATE SCHEMA IF NOT EXISTS \"{serving}\";");
    for view in &views {
        let view: String = view.get(0);
        sql.push_str(&format!("DROP VIEW \"{serving}\".\"{}\";", view.replace('"', "\"\"")));
    }
    for table in &tables {
        let table: String = table.get(0);
        let table = table.replace('"', "\"\"");
        sql.push_str(&format!(
            "CREATE VIEW \"{serving}\".\"{table}\" AS SELECT * FROM \"{own}\".\"{table}\";"
        ));
    }
    tx.batch_execute(&sql).map_err(books.database("pointing the views at the version"))?;
    tx.execute(
        "UPDATE strata.read_models SET state = 'retired' WHERE name = $1 AND state = 'serving'",
        &[&books.name],
    )
    .map_err(books.database("retiring the serving version"))?;
    tx.execute(
        "UPDATE strata.read_models SET state = 'serving', serving_since = now() \
         WHERE name = $1 AND version = $2",
        &[&books.name, &books.version],
    )
    .map_err(books.database("making the version serve"))?;
    tx.commit().map_err(books.database("committing the switch"))?;
    Ok(true)
}

/// The error of a statement that failed while `action` ran, for read model `name` at `version`.
pub(super) fn database<'a>(
    name: &'a str,
    version: u32,
    action: &'static str,
) -> impl FnOnce(postgres::Error) -> ProjectorError + 'a {
    move |source| ProjectorError::Database { action, name: name.to_owned(), version, source }
}

/// Whether strata's books (`strata.read_models`) exist in the database.
pub(super) fn books_exist(db: &mut impl postgres::GenericClient) -> Result<bool, postgres::Error> {
    Ok(db.query_one("SELECT to_regclass('strata.read_models') IS NOT NULL", &[])?.get(0))
}

/// Every version of the read models in `db` (of `name` only, when given), oldest first.
pub fn versions(db: &mut Client, name: Option<&str>) -> Result<Vec<VersionInfo>, ProjectorError> {
    let database = |action| database(name.unwrap_or("*"), 0, action);
    if !books_exist(db).map_err(database("looking for strata.read_models"))? {
        return Ok(Vec::new());
    }
    let rows = db
        .query(
            "SELECT m.name, m.version, m.state, m.topic, o.partition, o.next_offset \
             FROM strata.read_models m LEFT JOIN strata.read_model_offsets o \
               ON o.name = m.name AND o.version = m.version AND o.topic = m.topic \
             WHERE $1::text IS NULL OR m.name = $1 ORDER BY m.name, m.version, o.partition",
            &[&name],
        )
        .map_err(database("reading strata.read_models"))?;
    let mut out: Vec<VersionInfo> = Vec::new();
    for row in rows {
        let (model, version, state): (String, i32, String) = (row.get(0), row.get(1), row.get(2));
        let version = version as u32;
        let fresh = out.last().is_none_or(|last| last.name != model || last.version != version);
        if fresh {
            let state = VersionState::parse(&state).ok_or_else(|| {
                ProjectorError::UnknownState { name: model.clone(), version, state: state.clone() }
            })?;
            out.push(VersionInfo {
                name: model,
                version,
                state,
                topic: row.get(3),
                offsets: BTreeMap::new(),
            });
        }
        let partition: Option<i32> = row.get(4);
        let next: Option<i64> = row.get(5);
        if let (Some(partition), Some(next), Some(last)) = (partition, next, out.last_mut()) {
            last.offsets.insert(partition, next);
        }
    }
    Ok(out)
}

/// Drops a version that does not serve: its schema and tables, its offsets, its registration.
pub fn drop_version(db: &mut Client, name: &str, version: u32) -> Result<(), ProjectorError> {
    validate_name(name)?;
    let database = |action| database(name, version, action);
    let version_i32 = i32::try_from(version).unwrap_or(i32::MAX);
    let mut tx = db.transaction().map_err(database("beginning the drop"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CATALOG_LOCK])
        .map_err(database("locking strata.read_models"))?;
    let exists = books_exist(&mut tx).map_err(database("looking for strata.read_models"))?;
    let state: Option<String> = if exists {
        tx.query_opt(
            "SELECT state FROM strata.read_models WHERE name = $1 AND version = $2",
            &[&name, &version_i32],
        )
        .map_err(database("reading the version's state"))?
        .map(|row| row.get(0))
    } else {
        None
    };
    match state.as_deref() {
        None => {
            return Err(ProjectorError::UnknownVersion { name: name.to_owned(), version });
        }
        Some("serving") => {
            return Err(ProjectorError::DropServing { name: name.to_owned(), version });
        }
        Some(_) => {}
    }
    tx.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}_v{version}\" CASCADE"))
        .map_err(database("dropping the version's schema"))?;
    tx.execute(
        "DELETE FROM strata.read_model_offsets WHERE name = $1 AND version = $2",
        &[&name, &version_i32],
    )
    .map_err(database("deleting the version's offsets"))?;
    tx.execute(
        "DELETE FROM strata.read_model_parked WHERE name = $1 AND version = $2",
        &[&name, &version_i32],
    )
    .map_err(database("deleting the version's parked keys"))?;
    tx.execute(
        "DELETE FROM strata.read_models WHERE name = $1 AND version = $2",
        &[&name, &version_i32],
    )
    .map_err(database("deleting the version"))?;
    tx.commit().map_err(database("committing the drop"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_identifiers() {
        for good in ["balances", "_x", "a1_b2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Balances", "1a", "a-b", "a\"b", &"a".repeat(41)] {
            let e = validate_name(bad).unwrap_err();
            assert!(e.to_string().contains("lowercase SQL identifier"), "{e}");
        }
    }
}
