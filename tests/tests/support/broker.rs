//! A real Kafka-protocol broker for one test: nisshi (installed by `scripts/setup-broker.sh`)
//! started from an empty directory on a free port of 127.0.0.1, in memory (or in SQLite, to
//! survive a restart), stopped when dropped.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
    storage: String,
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
    /// A broker keeping its data in memory: gone when it stops.
    pub fn start() -> Self {
        Self::start_with("memory://nisshi/")
    }

    /// A broker keeping its data in SQLite in its directory, so [`Broker::restart`] keeps
    /// every topic, record and committed offset, as a real broker's disk does.
    pub fn start_durable() -> Self {
        Self::start_with("sqlite://nisshi.db")
    }

    fn start_with(storage: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("strata-broker-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = spawn(addr, &dir, storage);
        Broker { child, addr, dir, storage: storage.to_owned() }
    }

    pub fn brokers(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the broker as an operator would (SIGTERM; SIGKILL if it has not exited after
    /// 10 s). Its clients see every connection refused until [`Broker::start_again`].
    pub fn stop(&mut self) {
        if self.child.try_wait().unwrap().is_some() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the broker again on the same address and storage (a no-op while it runs).
    pub fn start_again(&mut self) {
        if self.child.try_wait().unwrap().is_none() {
            return;
        }
        self.child = spawn(self.addr, &self.dir, &self.storage);
    }

    /// [`Broker::stop`] then [`Broker::start_again`].
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }
}

/// nisshi on `addr`, in `dir`, once it accepts connections.
fn spawn(addr: SocketAddr, dir: &std::path::Path, storage: &str) -> Child {
    let url = format!("tcp://{addr}");
    let started = Instant::now();
    let mut child = Command::new(nisshi())
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", storage, "--group-initial-rebalance-delay", "0s"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the broker starts");
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the broker exited at start: {status}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the broker did not open {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(child.try_wait().unwrap().is_none(), "the broker exited after opening its port");
    child
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
