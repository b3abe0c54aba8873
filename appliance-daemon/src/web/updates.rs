//! Updates: what runs and what each slot holds, the last rollback and why, the install
//! waiting for a restart, manual package upload, and the history.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

use super::pages::Page;
use super::Ctx;
use crate::api::AppState;
use crate::system::specs::rfc3339;

#[derive(Template)]
#[template(path = "updates.html")]
pub struct UpdatesPage {
    pub page: Page,
    pub rollback: Option<String>,
    pub pending: Option<String>,
    pub installed: Vec<Vec<String>>,
    pub history: Vec<Vec<String>>,
}

pub async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, StatusCode::OK, None, None)
}

/// The page, with an optional notice or error on top (after an upload).
pub fn render(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let t = ctx.t();
    let view = match state.updater.view() {
        Ok(v) => v,
        Err(err) => {
            let mut page = ctx.page(t.nav_updates, "updates");
            page.error = Some(err.to_string());
            return ctx.render(
                StatusCode::INTERNAL_SERVER_ERROR,
                &super::pages::MessagePage {
                    page,
                    back: "/appliance/status".into(),
                },
            );
        }
    };
    let slot = |name: &str| {
        view.slots
            .get(name)
            .map(|s| s.version.clone())
            .unwrap_or_else(|| t.empty_slot.to_string())
    };
    let mut installed = vec![
        vec![
            t.running_version.to_string(),
            format!(
                "{} ({} {})",
                view.running.version, t.slot, view.running.slot
            ),
        ],
        vec![t.slot_a.to_string(), slot("A")],
        vec![t.slot_b.to_string(), slot("B")],
        vec![
            t.floor.to_string(),
            view.floor.clone().unwrap_or_else(|| t.none.to_string()),
        ],
    ];
    installed.extend(view.sites.iter().map(|(name, site)| {
        let kept = site
            .previous
            .as_ref()
            .map(|p| format!(" ({p} {})", t.kept_for_rollback))
            .unwrap_or_default();
        vec![
            format!("{} {name}", t.site_package),
            format!("{}{kept}", site.version),
        ]
    }));
    let history = view
        .history
        .iter()
        .map(|e| {
            vec![
                rfc3339(e.at),
                e.kind.clone(),
                match &e.package {
                    Some(name) => format!("{name} {}", e.version),
                    None => e.version.clone(),
                },
                e.slot.clone().unwrap_or_default(),
                e.detail.clone(),
            ]
        })
        .collect();
    let mut page = ctx.page(t.nav_updates, "updates");
    page.notice = notice;
    page.error = error;
    ctx.render(
        status,
        &UpdatesPage {
            page,
            rollback: view
                .rollback
                .as_ref()
                .map(|e| format!("{} ({}): {}", t.rolled_back, e.version, e.detail)),
            pending: view
                .pending
                .as_ref()
                .map(|p| format!("{} {}: {}", p.version, t.slot, t.pending_restart)),
            installed,
            history,
        },
    )
}

/// The upload form (multipart): `csrf` first, then `package`, streamed into the installer.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    mut form: axum::extract::Multipart,
) -> Response {
    let session = match ctx.require(false) {
        Ok((_, s)) => s.clone(),
        Err(r) => return r,
    };
    let t = ctx.t();
    let fail = |message: String| {
        render(
            &state,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(format!("{}: {message}", t.install_failed)),
        )
    };
    let mut csrf = String::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return fail("no package file in the form".into()),
            Err(e) => return fail(e.body_text()),
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("package") => {
                if let Err(r) = ctx.check_csrf(&session, &csrf) {
                    return r;
                }
                let (reader, pump) = crate::update::body::channel();
                let install =
                    crate::api::updates::install(&state, reader, &session.user, ctx.address);
                let (result, ()) = tokio::join!(install, pump.run(field));
                return match result {
                    Ok(done) => {
                        let notice = match &done.slot {
                            Some(slot) => {
                                format!("{} ({} {slot}): {}", done.version, t.slot, t.install_done)
                            }
                            None => {
                                format!("{} {}: {}", done.name, done.version, t.site_install_done)
                            }
                        };
                        render(&state, &ctx, StatusCode::OK, Some(notice), None)
                    }
                    Err(e) => fail(e.message),
                };
            }
            _ => {}
        }
    }
}
