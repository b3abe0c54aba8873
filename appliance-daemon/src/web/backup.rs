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

use super::backup_schedule::ScheduleFields;
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
        .merge(super::backup_schedule::routes())
}

#[derive(Template)]
#[template(path = "backup.html")]
pub(super) struct BackupPage {
    pub page: Page,
    pub b: &'static BackupText,
    pub report: Option<ReportView>,
    /// The schedule form; `None` when it could not be read (the error says why).
    pub s: Option<ScheduleFields>,
    pub weekdays: Vec<(&'static str, &'static str)>,
}

/// What a form's answer adds to the page.
pub(super) struct Extra {
    pub status: StatusCode,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub report: Option<ReportView>,
}

impl Default for Extra {
    fn default() -> Self {
        Extra {
            status: StatusCode::OK,
            notice: None,
            error: None,
            report: None,
        }
    }
}

impl Extra {
    pub(super) fn notice(text: &str) -> Self {
        Extra {
            notice: Some(text.to_string()),
            ..Extra::default()
        }
    }

    fn failed(error: String) -> Self {
        Extra {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: Some(error),
            ..Extra::default()
        }
    }
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

async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, Extra::default()).await
}

/// The page, after `extra`'s form answer.
pub(super) async fn render(state: &AppState, ctx: &Ctx, extra: Extra) -> Response {
    let b = super::i18n::backup::text(ctx.lang);
    let mut page = ctx.page(b.nav_backup, "backup");
    page.notice = extra.notice;
    page.error = extra.error;
    let report = extra.report;
    if report.as_ref().is_some_and(|r| !r.session_kept) {
        // The session ended with its account: the page without the menu or the forms.
        page.user = None;
        page.nav = "";
    }
    let s = if page.user.is_some() {
        match super::backup_schedule::fields(state, b).await {
            Ok(fields) => Some(fields),
            Err(message) => {
                page.error.get_or_insert(message);
                None
            }
        }
    } else {
        None
    };
    ctx.render(
        extra.status,
        &BackupPage {
            page,
            b,
            report,
            s,
            weekdays: super::backup_schedule::weekdays(b),
        },
    )
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
            &state,
            &ctx,
            Extra::failed(format!("{}: {message}", b.backup_failed)),
        )
    };
    if form.password != form.confirm {
        return fail(b.passwords_differ).await;
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
            Err(e) => fail(&e.message).await,
        },
        Err(e) => fail(&ApiError::from(e).message).await,
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
            &state,
            &ctx,
            Extra::failed(format!("{}: {message}", b.restore_failed)),
        )
    };
    let (mut csrf, mut password) = (String::new(), String::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return fail("no backup file in the form".into()).await,
            Err(e) => return fail(e.body_text()).await,
        };
        match field.name() {
            Some("csrf") => match super::updates::short_field(field).await {
                Ok(text) => csrf = text,
                Err(message) => return fail(message).await,
            },
            Some("password") => match super::updates::short_field(field).await {
                Ok(text) => password = text,
                Err(message) => return fail(message).await,
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
                    Ok(report) => {
                        let extra = Extra {
                            notice: Some(b.restored.to_string()),
                            report: Some(ReportView::new(b, &report)),
                            ..Extra::default()
                        };
                        render(&state, &ctx, extra).await
                    }
                    Err(e) => fail(ApiError::from(e).message).await,
                };
            }
            _ => {}
        }
    }
}
