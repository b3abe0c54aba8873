//! Scheduled backups on the Backup page (docs/backup.md "Scheduled backups"): the schedule
//! and its destination as a form, "Back up now", and the backups kept on the appliance
//! with a download link each. The same service as `/api/v1/backup/schedule…`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::sync::Arc;

use super::backup::{render, Extra};
use super::i18n::backup::BackupText;
use super::layout::bytes;
use super::Ctx;
use crate::api::ApiError;
use crate::backup::runner::{DestinationView, View};
use crate::backup::schedule::{Change, DestinationChange, Weekday};
use crate::state::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/appliance/backup/schedule", post(save))
        .route("/appliance/backup/schedule/run", post(run_now))
        .route("/appliance/backup/stored/{name}", get(download))
}

/// The schedule form as the page fills it.
#[derive(Debug, Default)]
pub(super) struct ScheduleFields {
    pub enabled: bool,
    pub weekly: bool,
    /// `monday` … `sunday`.
    pub weekday: String,
    pub time: String,
    pub retention: String,
    pub password_set: bool,
    /// `none`, `https` or `sftp`.
    pub destination: String,
    pub url: String,
    /// `none`, `bearer` or `basic`.
    pub auth: String,
    pub user: String,
    pub secret_set: bool,
    pub pin: String,
    pub host: String,
    pub port: String,
    pub sftp_user: String,
    pub directory: String,
    pub host_key: String,
    pub public_key: String,
    pub next_run: String,
    /// Kept backups, newest first: (name, size, kept at).
    pub kept: Vec<[String; 3]>,
}

/// The weekdays as the form offers them: (value, label).
pub(super) fn weekdays(b: &BackupText) -> Vec<(&'static str, &'static str)> {
    Weekday::ALL
        .into_iter()
        .map(Weekday::name)
        .zip(b.weekdays)
        .collect()
}

/// The stored schedule and the kept backups, as the form shows them.
pub(super) async fn fields(state: &AppState, b: &BackupText) -> Result<ScheduleFields, String> {
    let view: View = state
        .backup_schedule
        .view()
        .await
        .map_err(|e| ApiError::from(e).message)?;
    let kept = state
        .backup_schedule
        .stored()
        .map_err(|e| ApiError::from(e).message)?
        .into_iter()
        .map(|s| [s.name, bytes(s.size), units::rfc3339(s.created)])
        .collect();
    let mut f = ScheduleFields {
        enabled: view.enabled,
        weekly: view.weekday.is_some(),
        weekday: view.weekday.unwrap_or("monday").to_string(),
        time: view.time,
        retention: view.retention.to_string(),
        password_set: view.password_set,
        destination: "none".into(),
        auth: "none".into(),
        port: "22".into(),
        public_key: view.sftp_public_key,
        next_run: view
            .next_run
            .map_or_else(|| b.schedule_off.to_string(), units::rfc3339),
        kept,
        ..ScheduleFields::default()
    };
    match view.destination {
        None => {}
        Some(DestinationView::Https {
            url,
            auth,
            user,
            token_set,
            password_set,
            pin_sha256,
        }) => {
            f.destination = "https".into();
            f.url = url;
            f.auth = auth.into();
            f.user = user.unwrap_or_default();
            f.secret_set = token_set || password_set;
            f.pin = pin_sha256.unwrap_or_default();
        }
        Some(DestinationView::Sftp {
            host,
            port,
            user,
            directory,
            host_key,
        }) => {
            f.destination = "sftp".into();
            f.host = host;
            f.port = port.to_string();
            f.sftp_user = user;
            f.directory = directory;
            f.host_key = host_key;
        }
    }
    Ok(f)
}

#[derive(Deserialize)]
pub(super) struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    enabled: Option<String>,
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    weekday: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    retention: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    sftp_user: String,
    #[serde(default)]
    directory: String,
    #[serde(default)]
    host_key: String,
}

/// Empty: left out (a secret left out keeps the stored one).
fn given(text: String) -> Option<String> {
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

impl ScheduleForm {
    /// The API's change; `Err` names what is wrong with the form itself.
    fn change(self, b: &BackupText) -> Result<Change, String> {
        if self.password != self.confirm {
            return Err(b.passwords_differ.to_string());
        }
        let weekly = self.frequency == "weekly";
        let retention = self
            .retention
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("retention: {:?} {}", self.retention, b.not_a_number))?;
        let destination = match self.destination.as_str() {
            "https" => {
                let auth = given(self.auth).unwrap_or_else(|| "none".into());
                let secret = given(self.secret);
                Some(DestinationChange::Https {
                    token: (auth == "bearer").then(|| secret.clone()).flatten(),
                    password: (auth == "basic").then_some(secret).flatten(),
                    user: given(self.user),
                    auth: Some(auth),
                    url: self.url.trim().to_string(),
                    pin_sha256: given(self.pin),
                })
            }
            "sftp" => Some(DestinationChange::Sftp {
                host: self.host.trim().to_string(),
                port: self
                    .port
                    .trim()
                    .parse()
                    .map_err(|_| format!("port: {:?} {}", self.port, b.not_a_number))?,
                user: self.sftp_user.trim().to_string(),
                directory: given(self.directory),
                host_key: self.host_key.trim().to_string(),
            }),
            _ => None,
        };
        Ok(Change {
            enabled: self.enabled.is_some(),
            frequency: if weekly { "weekly" } else { "daily" }.into(),
            weekday: weekly.then_some(self.weekday),
            time: self.time,
            retention,
            password: given(self.password),
            destination,
        })
    }
}

async fn save(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<ScheduleForm>,
) -> Response {
    let user = match ctx.form_session(false, &form.csrf) {
        Ok((_, s)) => s.user.to_string(),
        Err(r) => return r,
    };
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let b = super::i18n::backup::text(ctx.lang);
    let result = match form.change(b) {
        Ok(change) => state
            .backup_schedule
            .set(change, &user, ctx.address)
            .await
            .map_err(|e| ApiError::from(e).message),
        Err(message) => Err(message),
    };
    let extra = match result {
        Ok(_) => Extra::notice(b.schedule_saved),
        Err(message) => Extra {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: Some(format!("{}: {message}", b.schedule_not_saved)),
            ..Extra::default()
        },
    };
    render(&state, &ctx, extra).await
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn run_now(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Response {
    let user = match ctx.form_session(false, &form.csrf) {
        Ok((_, s)) => s.user.to_string(),
        Err(r) => return r,
    };
    let b = super::i18n::backup::text(ctx.lang);
    let extra = match state.backup_schedule.run_now(&user, ctx.address).await {
        Ok(run) => match (run.file, run.error, run.push_error) {
            (Some(file), _, None) => Extra::notice(&format!("{} {file}", b.backup_kept)),
            (Some(file), _, Some(push)) => Extra {
                notice: Some(format!("{} {file}", b.backup_kept)),
                error: Some(format!("{}: {push}", b.push_failed)),
                ..Extra::default()
            },
            (None, error, _) => Extra {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                error: Some(format!(
                    "{}: {}",
                    b.backup_failed,
                    error.unwrap_or_default()
                )),
                ..Extra::default()
            },
        },
        Err(e) => Extra {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: Some(format!(
                "{}: {}",
                b.backup_failed,
                ApiError::from(e).message
            )),
            ..Extra::default()
        },
    };
    render(&state, &ctx, extra).await
}

async fn download(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    let result = match state.backup_schedule.stored_path(&name) {
        Ok(path) => crate::api::backup::file_download(&path, &name, ()).await,
        Err(e) => Err(ApiError::from(e)),
    };
    match result {
        Ok(response) => response,
        Err(e) => {
            let b = super::i18n::backup::text(ctx.lang);
            render(
                &state,
                &ctx,
                Extra {
                    status: e.status,
                    error: Some(format!("{}: {}", b.download_failed, e.message)),
                    ..Extra::default()
                },
            )
            .await
        }
    }
}
