//! Backup (the guide's "Software :: Backup Settings"): download a backup of the settings
//! with a password (and, when asked, the logged history), and restore one, after which the
//! page says what was restored, what was left out and why. The same service as
//! `POST /api/v1/backup` and `/api/v1/backup/restore`.

use api_types::RestoreReport;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::sync::Arc;

use super::i18n::backup::BackupText;
use super::layout::Page;
use super::Ctx;
use crate::api::ApiError;
use crate::backup::Who;
use crate::state::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/appliance/backup", get(page))
        .route("/appliance/backup/download", post(download))
        .route(
            "/appliance/backup/restore",
            post(restore).layer(axum::extract::DefaultBodyLimit::disable()),
        )
}

#[derive(Template)]
#[template(path = "backup.html")]
pub(super) struct BackupPage {
    pub page: Page,
    pub b: &'static BackupText,
    pub report: Option<ReportView>,
}

/// A restore's report as the page shows it.
pub(super) struct ReportView {
    pub session_kept: bool,
    /// The backup's origin, the network and the certificate: (label, value).
    pub facts: Vec<[String; 2]>,
    pub restored: Vec<String>,
    /// (what, why).
    pub left_out: Vec<[String; 2]>,
}

impl ReportView {
    fn new(b: &BackupText, r: &RestoreReport) -> Self {
        let from = &r.restored_from;
        let mut facts = vec![[
            b.restored_from.to_string(),
            format!(
                "{} ({}, {}), {}",
                from.appliance_id, from.profile, from.version, from.created
            ),
        ]];
        let network = match &r.network.note {
            Some(note) => note.clone(),
            None if r.network.state == "restored" => b.network_in_force.to_string(),
            None => r.network.state.replace('_', " "),
        };
        facts.push([b.network.to_string(), network]);
        let certificate = match &r.certificate.subject {
            Some(subject) => format!("{subject} ({})", r.certificate.certificate_sha256),
            None => r.certificate.certificate_sha256.clone(),
        };
        facts.push([b.certificate.to_string(), certificate]);
        if !r.not_reloaded.is_empty() {
            facts.push([b.not_reloaded.to_string(), r.not_reloaded.join("; ")]);
        }
        ReportView {
            session_kept: r.session == "kept",
            facts,
            restored: r.restored.clone(),
            left_out: r
                .left_out
                .iter()
                .map(|l| [l.what.clone(), l.why.clone()])
                .collect(),
        }
    }
}

fn who(ctx: &Ctx, user: &str) -> Who {
    Who {
        user: user.to_string(),
        address: ctx.address,
    }
}

async fn page(ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&ctx, StatusCode::OK, None, None, None)
}

fn render(
    ctx: &Ctx,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    report: Option<ReportView>,
) -> Response {
    let b = super::i18n::backup::text(ctx.lang);
    let mut page = ctx.page(b.nav_backup, "backup");
    page.notice = notice;
    page.error = error;
    if report.as_ref().is_some_and(|r| !r.session_kept) {
        // The session ended with its account: the page without the menu or the forms.
        page.user = None;
        page.nav = "";
    }
    ctx.render(status, &BackupPage { page, b, report })
}

#[derive(Deserialize)]
pub(super) struct DownloadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    include_history: Option<String>,
}

async fn download(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<DownloadForm>,
) -> Response {
    let user = match ctx.form_session(false, &form.csrf) {
        Ok((_, s)) => s.user.to_string(),
        Err(r) => return r,
    };
    let b = super::i18n::backup::text(ctx.lang);
    let fail = |message: &str| {
        render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(format!("{}: {message}", b.backup_failed)),
            None,
        )
    };
    if form.password != form.confirm {
        return fail(b.passwords_differ);
    }
    match state
        .backup
        .make(
            form.password,
            form.include_history.is_some(),
            &who(&ctx, &user),
        )
        .await
    {
        Ok(made) => match crate::api::backup::send(made).await {
            Ok(response) => response,
            Err(e) => fail(&e.message),
        },
        Err(e) => fail(&ApiError::from(e).message),
    }
}

/// The restore form (multipart): `csrf` and `password` first, then `backup`, streamed into
/// the restore.
async fn restore(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    mut form: axum::extract::Multipart,
) -> Response {
    let session = match ctx.require(false) {
        Ok((_, s)) => s.clone(),
        Err(r) => return r,
    };
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let b = super::i18n::backup::text(ctx.lang);
    let fail = |message: String| {
        render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(format!("{}: {message}", b.restore_failed)),
            None,
        )
    };
    let (mut csrf, mut password) = (String::new(), String::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return fail("no backup file in the form".into()),
            Err(e) => return fail(e.body_text()),
        };
        match field.name() {
            Some("csrf") => match super::updates::short_field(field).await {
                Ok(text) => csrf = text,
                Err(message) => return fail(message),
            },
            Some("password") => match super::updates::short_field(field).await {
                Ok(text) => password = text,
                Err(message) => return fail(message),
            },
            Some("backup") => {
                if let Err(r) = ctx.check_csrf(&session, &csrf) {
                    return r;
                }
                let (reader, pump) = crate::update::body::channel();
                let by = who(&ctx, &session.user);
                let restore = state.backup.restore(reader, password, &by);
                let (result, ()) = tokio::join!(restore, pump.run(field));
                return match result {
                    Ok(report) => render(
                        &ctx,
                        StatusCode::OK,
                        Some(b.restored.to_string()),
                        None,
                        Some(ReportView::new(b, &report)),
                    ),
                    Err(e) => fail(ApiError::from(e).message),
                };
            }
            _ => {}
        }
    }
}
