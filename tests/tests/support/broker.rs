//! A real Kafka-protocol broker for one test: nisshi (installed by `scripts/setup-broker.sh`)
//! started from an empty directory on a free port of 127.0.0.1, in memory, stopped when dropped.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

/// The nisshi binary: `STRATA_NISSHI`, else where `scripts/setup-broker.sh` puts it.
fn nisshi() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_NISSHI") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("STRATA_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/strata")
    });
    let path = cache.join("nisshi-0.8.1/bin/nisshi");
    assert!(
        path.exists(),
        "no broker at `{}`\nhint: run `scripts/setup-broker.sh` (the README's test command does)",
        path.display()
    );
    path
}

impl Broker {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("strata-broker-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(nisshi())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://nisshi/", "--group-initial-rebalance-delay", "0s"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the broker starts");
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the broker exited at start: {status}");
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the broker did not open {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(child.try_wait().unwrap().is_none(), "the broker exited after opening its port");
        Broker { child, addr, dir }
    }

    pub fn brokers(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
