//! Running the registry: bind, serve, stop. Used by `cargo xtask registry serve`, by the
//! `strata-registry` binary, and by tests (start on a free port, take the URL, stop).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use base64::Engine;

use crate::error::{ApiError, ServerError};
use crate::store::Store;

/// How a registry runs.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Directory holding the registry's data (created if missing). Every acknowledged write
    /// is fsynced there before the answer; one registry serves a directory at a time.
    #[arg(long, default_value = ".strata/registry")]
    pub dir: PathBuf,
    /// Address to listen on. Port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Require HTTP basic auth with these credentials, `USER:PASSWORD`.
    #[arg(
        long,
        env = "STRATA_REGISTRY_BASIC_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    pub basic_auth: Option<String>,
    /// Require `Authorization: Bearer TOKEN` (either credential is enough when both are set).
    #[arg(
        long,
        env = "STRATA_REGISTRY_BEARER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub bearer_token: Option<String>,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_request_bytes: usize,
}

impl Config {
    /// A registry on a free port of 127.0.0.1, keeping its data in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Config {
            dir: dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            basic_auth: None,
            bearer_token: None,
            max_request_bytes: 8 * 1024 * 1024,
        }
    }
}

/// A running registry. Dropping it stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Opens the store, binds, and serves on a thread of its own. Returns once the port is
    /// bound, so the URL is usable at once.
    pub fn start(config: Config) -> Result<Server, ServerError> {
        let store = Arc::new(Store::open(&config.dir)?);
        let listen = |source| ServerError::Listen { addr: config.listen, source };
        let listener = TcpListener::bind(config.listen).map_err(listen)?;
        listener.set_nonblocking(true).map_err(listen)?;
        let addr = listener.local_addr().map_err(listen)?;
        let requests = Arc::new(AtomicU64::new(0));
        let app = app(store, &config, Arc::clone(&requests));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("strata-registry")
            .build()
            .map_err(|source| ServerError::Io { action: "start its runtime", source })?;
        let thread = std::thread::Builder::new()
            .name("strata-registry".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // Small answers: send them at once rather than waiting on Nagle's algorithm.
                    let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await
                })
            })
            .map_err(|source| ServerError::Io { action: "start its thread", source })?;
        tracing::info!(url = %format!("http://{addr}"), dir = %config.dir.display(), "registry started");
        Ok(Server { addr, requests, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests it has answered (authorized or not): tests use it to see how often a
    /// client calls.
    pub fn requests_served(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Stops serving: in-flight requests finish, then the store is closed.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.shutdown_and_join()
    }

    /// Serves until `done` resolves (the command line: until Ctrl-C or SIGTERM).
    pub fn wait_for(self, done: impl FnOnce()) -> Result<(), ServerError> {
        done();
        self.stop()
    }

    fn shutdown_and_join(&mut self) -> Result<(), ServerError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(result) => {
                    result.map_err(|source| ServerError::Io { action: "serve", source })?
                }
                Err(_) => return Err(ServerError::Panicked),
            }
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_and_join() {
            tracing::error!("{}", strata::error::Chain(&e));
        }
    }
}

/// The whole service: routes, auth, size limit, one log line per request.
fn app(store: Arc<Store>, config: &Config, requests: Arc<AtomicU64>) -> axum::Router {
    let mut accepted = Vec::new();
    if let Some(credentials) = &config.basic_auth {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        accepted.push(format!("Basic {encoded}"));
    }
    if let Some(token) = &config.bearer_token {
        accepted.push(format!("Bearer {token}"));
    }
    let auth = (!accepted.is_empty()).then(|| Arc::new(accepted));
    crate::api::router(store)
        .layer(DefaultBodyLimit::max(config.max_request_bytes))
        .layer(middleware::from_fn_with_state(auth, authorize))
        .layer(middleware::from_fn_with_state(requests, log_request))
}

/// With credentials configured, a request must carry one of them.
async fn authorize(
    State(accepted): State<Option<Arc<Vec<String>>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(accepted) = accepted {
        let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if !given.is_some_and(|given| accepted.iter().any(|a| a == given)) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

async fn log_request(
    State(requests): State<Arc<AtomicU64>>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    requests.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        target: "strata_registry::request",
        "{method} {uri} {} {}us",
        response.status().as_u16(),
        start.elapsed().as_micros()
    );
    response
}

/// Runs a registry from the command line until Ctrl-C or SIGTERM, logging to stderr.
pub fn serve(config: Config) -> Result<(), ServerError> {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    let dir = config.dir.clone();
    let server = Server::start(config)?;
    // The first line of stdout is the URL, for scripts that start it on port 0.
    println!("{}", server.url());
    eprintln!("strata registry: serving {} from {} (Ctrl-C stops)", server.url(), dir.display());
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ServerError::Io { action: "watch for signals", source })?;
    server.wait_for(|| {
        signals.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM can be watched");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
    })
}
