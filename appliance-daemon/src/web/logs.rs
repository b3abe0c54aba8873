//! Logs: the persistent log (filter by service, level and boot; newest first; older pages;
//! the matching lines as a download), the syslog forwarding (servers and their state) and
//! the support bundle's button. The same service as
//! `GET /api/v1/logs` and `GET /api/v1/support/bundle`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::sync::Arc;

use super::i18n::logs::LogsText;
use super::layout::Page;
use super::Ctx;
use crate::logs::Filter;
use crate::state::AppState;

/// Lines on one page.
const PAGE_LINES: usize = 200;
/// Services offered in the filter besides those on the page.
const KNOWN_SERVICES: &[&str] = &["init", "appliance-daemon", "ntpd", "log"];

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/appliance/logs", get(page))
        .route("/appliance/logs/download", get(download))
        .route("/appliance/support/bundle", post(bundle))
        .route("/appliance/logs/forwarding", post(save_forwarding))
}

#[derive(Template)]
#[template(path = "logs.html")]
pub(super) struct LogsPage {
    pub page: Page,
    pub l: &'static LogsText,
    pub services: Vec<String>,
    pub service: String,
    pub levels: Vec<(&'static str, &'static str)>,
    pub level: String,
    pub boots: Vec<(String, String)>,
    pub boot: String,
    /// The filters as a query string (download, newest lines).
    pub query: String,
    pub older: Option<String>,
    pub paged: bool,
    pub kept: String,
    /// Time, boot, service, level, message.
    pub lines: Vec<[String; 5]>,
    /// Syslog forwarding: each server's state.
    pub links: Vec<LinkRow>,
    /// The form's rows: the servers, then empty rows to add some.
    pub rows: Vec<ServerRow>,
    pub queue_cap: String,
    /// Value and label of each transport.
    pub transports: [(&'static str, &'static str); 3],
}

/// One server's state, as shown.
pub(super) struct LinkRow {
    pub server: String,
    pub connected: bool,
    pub queued: String,
    pub dropped: u64,
    pub sent: u64,
    pub error: String,
}

/// One row of the forwarding form.
#[derive(Debug, Clone, Default)]
pub(super) struct ServerRow {
    pub host: String,
    pub port: String,
    pub transport: String,
    pub ca: String,
}

/// Empty rows the form offers beside the servers set.
const EMPTY_ROWS: usize = 2;

fn rows_of(servers: &[api_types::SyslogServerStatus]) -> Vec<ServerRow> {
    let mut rows: Vec<ServerRow> = servers
        .iter()
        .map(|s| ServerRow {
            host: s.server.host.clone(),
            port: s.server.port.to_string(),
            transport: s.server.transport.clone(),
            ca: s.server.ca.clone().unwrap_or_default(),
        })
        .collect();
    rows.extend(std::iter::repeat_n(ServerRow::default(), EMPTY_ROWS));
    rows
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query_of(f: &Filter) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("service", &f.service),
        ("level", &f.level),
        ("boot", &f.boot),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", encode(v)));
        }
    }
    parts.join("&")
}

pub(super) async fn page(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Query(filter): Query<Filter>,
    Query(saved): Query<Saved>,
) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    let l = super::i18n::logs::text(ctx.lang);
    let notice = (saved.forwarding.as_deref() == Some("saved")).then(|| l.fwd_saved.to_string());
    render(&state, &ctx, &filter, StatusCode::OK, notice, None, None).await
}

/// `?forwarding=saved` after the form was kept.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Saved {
    forwarding: Option<String>,
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    filter: &Filter,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: Option<Vec<ServerRow>>,
) -> Response {
    let l = super::i18n::logs::text(ctx.lang);
    let mut page = ctx.page(l.nav_logs, "logs");
    page.notice = notice;
    page.error = error;
    let mut f = filter.clone();
    f.limit = Some(PAGE_LINES);
    f.after = None;
    let query = query_of(filter);
    let (status, logs) = match state.logs.page(f).await {
        Ok(logs) => (status, logs),
        Err(e) => {
            let api = crate::api::ApiError::from(e);
            page.error = Some(format!("{}: {}", l.read_failed, api.message));
            (api.status, api_types::Logs::default())
        }
    };
    let mut services: Vec<String> = KNOWN_SERVICES.iter().map(|s| (*s).to_string()).collect();
    for line in &logs.lines {
        if !services.contains(&line.service) {
            services.push(line.service.clone());
        }
    }
    let boots = logs
        .boots
        .iter()
        .rev()
        .map(|b| {
            let mut label = format!("{} {} ({})", l.boot_label, b.boot, b.started);
            if b.current {
                label = format!("{label}, {}", l.this_boot);
            }
            (b.boot.to_string(), label)
        })
        .collect();
    let older = logs.next.as_ref().map(|c| {
        if query.is_empty() {
            format!("before={}", encode(c))
        } else {
            format!("{query}&before={}", encode(c))
        }
    });
    let kept = l
        .kept
        .replace("{size}", &units::bytes(logs.size_bytes))
        .replace("{cap}", &units::bytes(logs.cap_bytes));
    let levels = logring::Level::ALL
        .iter()
        .zip(l.levels)
        .map(|(lv, label)| (lv.as_str(), label))
        .collect();
    let lines = logs
        .lines
        .into_iter()
        .map(|x| {
            [
                x.time.replace('T', " "),
                x.boot.to_string(),
                x.service,
                x.level,
                x.message,
            ]
        })
        .collect();
    let fwd = state.forwarding.view();
    let links = fwd
        .servers
        .iter()
        .map(|s| LinkRow {
            server: format!(
                "{}:{} ({})",
                s.server.host, s.server.port, s.server.transport
            ),
            connected: s.connected,
            queued: format!("{} ({})", s.queued_lines, units::bytes(s.queued_bytes)),
            dropped: s.dropped,
            sent: s.sent,
            error: match (&s.last_error, &s.last_error_at) {
                (Some(e), Some(at)) => format!("{} — {e}", at.replace('T', " ")),
                (Some(e), None) => e.clone(),
                _ => String::new(),
            },
        })
        .collect();
    ctx.render(
        status,
        &LogsPage {
            page,
            l,
            services,
            service: filter.service.clone().unwrap_or_default(),
            levels,
            level: filter.level.clone().unwrap_or_default(),
            boots,
            boot: filter.boot.clone().unwrap_or_default(),
            query,
            older,
            paged: filter.before.as_deref().is_some_and(|b| !b.is_empty()),
            kept,
            lines,
            links,
            rows: typed.unwrap_or_else(|| rows_of(&fwd.servers)),
            queue_cap: units::bytes(fwd.queue_cap_bytes),
            transports: [("udp", "UDP"), ("tcp", "TCP"), ("tls", "TLS")],
        },
    )
}

/// The forwarding form: `csrf`, then `host_N`, `port_N`, `transport_N`, `ca_N` per row.
pub(super) async fn save_forwarding(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let csrf = form.get("csrf").cloned().unwrap_or_default();
    let session = match ctx.form_session(false, &csrf) {
        Ok((_, s)) => s.clone(),
        Err(r) => return r,
    };
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let field = |name: &str, i: usize| {
        form.get(&format!("{name}_{i}"))
            .cloned()
            .unwrap_or_default()
    };
    let mut typed = Vec::new();
    for i in 0..crate::logs::forward::config::MAX_SERVERS + EMPTY_ROWS {
        let row = ServerRow {
            host: field("host", i),
            port: field("port", i),
            transport: field("transport", i),
            ca: field("ca", i),
        };
        if !row.host.trim().is_empty() || !row.ca.trim().is_empty() {
            typed.push(row);
        }
    }
    let l = super::i18n::logs::text(ctx.lang);
    let mut problems = Vec::new();
    let servers: Vec<api_types::SyslogServer> = typed
        .iter()
        .enumerate()
        .map(|(i, r)| api_types::SyslogServer {
            host: r.host.clone(),
            port: r.port.trim().parse().unwrap_or_else(|_| {
                problems.push(format!(
                    "servers[{i}].port: {:?} {}",
                    r.port, l.fwd_not_port
                ));
                0
            }),
            transport: r.transport.clone(),
            ca: Some(r.ca.clone()).filter(|c| !c.trim().is_empty()),
        })
        .collect();
    let outcome = if problems.is_empty() {
        state
            .forwarding
            .change(&servers, &session.user, ctx.address)
            .await
            .map_err(|e| match e {
                crate::logs::forward::ChangeError::Invalid(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
                }
                crate::logs::forward::ChangeError::Store(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                }
            })
    } else {
        Err((StatusCode::UNPROCESSABLE_ENTITY, problems.join("; ")))
    };
    match outcome {
        Ok(_) => Redirect::to("/appliance/logs?forwarding=saved").into_response(),
        Err((status, why)) => {
            typed.extend(std::iter::repeat_n(ServerRow::default(), EMPTY_ROWS));
            render(
                &state,
                &ctx,
                &Filter::default(),
                status,
                None,
                Some(format!("{}: {why}", l.fwd_refused)),
                Some(typed),
            )
            .await
        }
    }
}

pub(super) async fn download(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Query(filter): Query<Filter>,
) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    match crate::api::logs::text_download(&state, filter).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct BundleForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn bundle(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<BundleForm>,
) -> Response {
    let user = match ctx.form_session(false, &form.csrf) {
        Ok((_, s)) => s.user.to_string(),
        Err(r) => return r,
    };
    match crate::api::logs::bundle_download(&state, &user, ctx.address).await {
        Ok(r) => r,
        Err(e) => {
            let l = super::i18n::logs::text(ctx.lang);
            let mut page = ctx.page(l.nav_logs, "logs");
            page.error = Some(format!("{}: {}", l.support_failed, e.message));
            ctx.render(
                e.status,
                &super::layout::MessagePage {
                    page,
                    back: "/appliance/logs".to_string(),
                },
            )
        }
    }
}
