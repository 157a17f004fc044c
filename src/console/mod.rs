//! The operator console: a live map of the floor in the browser, served on the admin
//! listener next to `/healthz` and `/metrics`.
//!
//! | path | answer |
//! |---|---|
//! | `GET /` | the page (HTML, CSS and plain JavaScript embedded in the binary, an SVG map; no CDN, no build step) |
//! | `GET /console/site` | the site as JSON, once: layout nodes (x, y, parking, waiting), edges, blocks, locations and zones, devices, whether actions are on |
//! | `GET /console/events` | server-sent events: one `data:` line of JSON per snapshot ([`snapshot::Snapshot`]), the first at once, then every [`PERIOD`] |
//! | `POST /console/actions/tasks/{task_id}/cancel` | cancel a task |
//! | `POST /console/actions/devices/{device_id}/{reset,pause,resume,stop}` | an operator command to a device |
//!
//! **What a snapshot holds**, all read from what the gateway already knows: each AMR's
//! reported pose and last node and, with traffic control, what it holds and what it waits
//! for (`Vda5050Adapter::positions`); every device's availability with its reason and the
//! command it runs (`EngineHandle::devices`); tasks by state and the oldest open ones
//! (`Store::task_counts`, `Store::list_tasks`); the last failures with their reasons, read
//! from the journal as it grows; the journal's position (backlog, unacknowledged events).
//!
//! **It costs nothing while nobody watches.** Snapshots are made by one task that runs only
//! while at least one event stream is open: the first subscriber starts it, and it ends at
//! the first tick that finds no receiver (forgetting its last snapshot, so a later viewer
//! never sees a stale one). Snapshots go out through a `tokio::sync::watch`: every stream
//! sees the newest one and skips what it missed, so a viewer that reads slowly (or not at
//! all) holds one snapshot in memory and never slows the maker, the engine or the adapters.
//! A stream that connects (or reconnects) gets the newest snapshot at once.
//!
//! **Read-only by default.** Actions need `[gateway.console] admin_token` (or
//! `admin_token_file`) in the site file and `Authorization: Bearer <token>`: no header is
//! `401`, a wrong token or a site without one is `403`. An action goes through the same
//! engine path as the gRPC `TaskService.CancelTask` / `DeviceService.*Device`
//! (`EngineHandle::cancel`, `EngineHandle::operate`), is answered once durable, and is
//! journaled with the reason `console: …`. Nothing the console serves holds a secret:
//! device addresses, broker credentials and the token itself are never in a response.
//!
//! **Life.** The admin listener starts before the store opens; the console answers `503`
//! until [`Console::open`] hands it the engine, the store and the adapters (once the gRPC
//! server serves), and ends every stream at [`Console::close`] (shutdown), which also
//! drops its engine handle so the engine loop can end.

mod actions;
mod site;
pub mod snapshot;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tokio_stream::StreamExt;

use crate::adapters::vda5050::Vda5050Adapter;
use crate::config::LoadedConfig;
use crate::engine::EngineHandle;
use crate::store::Store;

/// How often a snapshot is made while someone watches (4 Hz).
pub const PERIOD: Duration = Duration::from_millis(250);

const PAGE_HTML: &str = include_str!("page.html");
const PAGE_CSS: &str = include_str!("page.css");
const PAGE_JS: &str = include_str!("page.js");

/// What the console reads, handed over once the gateway serves.
#[derive(Clone)]
pub struct Sources {
    pub engine: EngineHandle,
    pub store: Store,
    /// The AMR adapter, when the site has AMRs.
    pub amr: Option<Arc<Vda5050Adapter>>,
    /// The admin token (`None`: read-only).
    pub token: Option<String>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("amr", &self.amr.is_some())
            .field("actions", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// The console, as the admin listener holds it (cheap to clone).
#[derive(Clone, Default)]
pub struct Console {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("open", &self.live().is_some())
            .field("viewers", &self.viewers())
            .finish()
    }
}

struct Inner {
    live: RwLock<Option<Arc<Live>>>,
    feed: watch::Sender<Feed>,
    /// The snapshot maker, while it runs.
    maker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            live: RwLock::new(None),
            feed: watch::Sender::new(Feed::Waiting),
            maker: Mutex::new(None),
        }
    }
}

/// What the console serves from once the gateway runs.
struct Live {
    sources: Sources,
    /// `/console/site`, made once.
    site_json: String,
}

/// What the event streams follow.
#[derive(Debug, Clone)]
enum Feed {
    /// No snapshot yet (nobody watched, or the maker just started).
    Waiting,
    /// The newest snapshot, as JSON.
    Snapshot(Arc<str>),
    /// Shutdown: every stream ends.
    Closed,
}

impl Console {
    /// The gateway serves: the console can answer.
    pub fn open(&self, cfg: &LoadedConfig, sources: Sources) {
        let site_json = site::site_json(cfg, sources.token.is_some());
        *self.inner.live.write().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Live { sources, site_json }));
        self.inner.feed.send_replace(Feed::Waiting);
    }

    /// Shutdown: ends every event stream, stops the snapshot maker, and drops the engine
    /// handle and the store.
    pub fn close(&self) {
        self.inner
            .live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(m) = self.lock_maker().take() {
            m.abort();
        }
        self.inner.feed.send_replace(Feed::Closed);
    }

    /// Event streams open now.
    pub fn viewers(&self) -> usize {
        self.inner.feed.receiver_count()
    }

    /// Whether the snapshot maker runs (it does only while someone watches).
    pub fn making_snapshots(&self) -> bool {
        self.lock_maker().as_ref().is_some_and(|m| !m.is_finished())
    }

    fn live(&self) -> Option<Arc<Live>> {
        self.inner
            .live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock_maker(&self) -> std::sync::MutexGuard<'_, Option<tokio::task::JoinHandle<()>>> {
        self.inner.maker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new event stream: its receiver, with the maker started if it was not running.
    fn subscribe(&self) -> Option<watch::Receiver<Feed>> {
        let live = self.live()?;
        let mut maker = self.lock_maker();
        let mut rx = self.inner.feed.subscribe();
        if maker.as_ref().is_none_or(|m| m.is_finished()) {
            *maker = Some(tokio::spawn(make_snapshots(self.clone(), live)));
        }
        // The newest snapshot (if any) goes out at once.
        rx.mark_changed();
        Some(rx)
    }
}

/// Makes a snapshot every [`PERIOD`] until no stream is left.
async fn make_snapshots(console: Console, live: Arc<Live>) {
    let mut maker = snapshot::Maker::new();
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let json = maker.make(&live.sources).await;
        let _maker = console.lock_maker();
        if console.inner.feed.receiver_count() == 0 {
            // Nobody watches: stop, and forget the last snapshot. Under the lock, so a
            // viewer arriving now starts a new maker.
            console.inner.feed.send_if_modified(|f| {
                if matches!(f, Feed::Snapshot(_)) {
                    *f = Feed::Waiting;
                }
                false
            });
            return;
        }
        console.inner.feed.send_if_modified(|f| {
            if matches!(f, Feed::Closed) {
                return false;
            }
            *f = Feed::Snapshot(json.into());
            true
        });
    }
}

/// The console's routes, for the admin router.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/console/page.css", get(css))
        .route("/console/page.js", get(js))
        .route("/console/site", get(site_view))
        .route("/console/events", get(events))
        .route(
            "/console/actions/tasks/{task_id}/cancel",
            post(actions::cancel_task),
        )
        .route(
            "/console/actions/devices/{device_id}/{operation}",
            post(actions::operate_device),
        )
        .with_state(console)
}

/// The page may load only its own scripts and styles, and connect only here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE_HTML,
    )
        .into_response()
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        PAGE_CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        PAGE_JS,
    )
        .into_response()
}

fn not_yet() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "the gateway is starting (or stopping)\n",
    )
        .into_response()
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn site_view(State(c): State<Console>) -> Response {
    match c.live() {
        Some(live) => json_response(StatusCode::OK, live.site_json.clone()),
        None => not_yet(),
    }
}

async fn events(State(c): State<Console>) -> Response {
    let Some(rx) = c.subscribe() else {
        return not_yet();
    };
    let stream = tokio_stream::wrappers::WatchStream::from_changes(rx)
        .take_while(|f| !matches!(f, Feed::Closed))
        .filter_map(|f| match f {
            Feed::Snapshot(json) => Some(Ok::<_, std::convert::Infallible>(
                Event::default().data(&*json),
            )),
            _ => None,
        });
    (
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(stream).keep_alive(KeepAlive::default()),
    )
        .into_response()
}
