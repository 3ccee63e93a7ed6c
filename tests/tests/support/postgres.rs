//! A real PostgreSQL for one test: a throwaway cluster (`initdb`, `pg_ctl` from Debian's
//! packages, found by `scripts/setup-postgres.sh`) in a temporary directory, listening on a free
//! port of 127.0.0.1 only, stopped and deleted when dropped. As root, the cluster runs as the
//! `postgres` user (initdb refuses root).

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use strata::kafka::readmodel::postgres;

pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    user: Option<String>,
}

/// The directory of `initdb` and `pg_ctl`: `STRATA_PG_BIN`, else Debian's newest.
fn bin() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_PG_BIN") {
        return PathBuf::from(path);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort_by_key(|path| {
        let version = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str());
        version.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL under /usr/lib/postgresql\nhint: run `scripts/setup-postgres.sh` (the README's test command does)")
    })
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("`id` runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

impl Postgres {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("strata-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let user = is_root().then(|| "postgres".to_owned());
        if user.is_some() {
            let status = Command::new("chown").arg("postgres").arg(&dir).status().unwrap();
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let pg = Postgres { bin: bin(), dir, port, user };
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
            ],
        );
        pg.start_again();
        pg
    }

    /// Starts the cluster (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off \
             -c max_connections=50",
            self.port
        );
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        self.run(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-w".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
            ],
        );
    }

    /// `pg_ctl stop -m immediate`: every session cut off, no checkpoint, as a crash would
    /// (the next start recovers from the WAL).
    pub fn stop_immediate(&self) {
        let data = self.dir.join("data");
        self.run(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
            ],
        );
    }

    /// `program` of the PostgreSQL installation, run as the cluster's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        }
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        let out =
            self.command(program).args(args).current_dir(&self.dir).output().unwrap_or_else(|e| {
                panic!("{program} of {} does not run: {e}", self.bin.display());
            });
        assert!(
            out.status.success(),
            "{program} failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A connection string for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={database}", self.port)
    }

    pub fn connect(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(database), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url(database)))
    }

    /// A new, empty database.
    pub fn create_database(&self, name: &str) -> String {
        self.connect("postgres").batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        name.to_owned()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let stop = self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&data)
            .output();
        drop(stop);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
