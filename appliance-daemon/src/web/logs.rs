//! Logs: the persistent log (filter by service, level and boot; newest first; older pages;
//! the matching lines as a download) and the support bundle's button. The same service as
//! `GET /api/v1/logs` and `GET /api/v1/support/bundle`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    let l = super::i18n::logs::text(ctx.lang);
    let mut page = ctx.page(l.nav_logs, "logs");
    let mut f = filter.clone();
    f.limit = Some(PAGE_LINES);
    f.after = None;
    let query = query_of(&filter);
    let (status, logs) = match state.logs.page(f).await {
        Ok(logs) => (StatusCode::OK, logs),
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
        },
    )
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
