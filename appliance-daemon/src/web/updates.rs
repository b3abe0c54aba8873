//! Updates: what runs and what each slot holds, the last rollback and why, the install
//! waiting for a restart, the update server and "Check now", the packages the catalog
//! offers (Install, or greyed out with the reason), the download key, the site packages
//! and their rollback, manual package upload, and the history. Every action calls the
//! same functions as the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::sync::Arc;

use super::i18n::updates::UpdatesText;
use super::i18n::Text;
use super::layout::Page;
use super::Ctx;
use crate::api::ApiError;
use crate::state::AppState;
use crate::update::install::Installed;
use crate::update::server::{Change, UpdateServer};
use units::rfc3339;

/// The Updates page's forms, beside `/appliance/updates` and its upload.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/appliance/updates/server", post(save_server))
        .route("/appliance/updates/check", post(check))
        .route("/appliance/updates/install", post(install))
        .route("/appliance/updates/progress", get(progress))
        .route("/appliance/updates/download-key", post(download_key))
        .route(
            "/appliance/updates/site/{name}/rollback",
            post(rollback_site),
        )
}

#[derive(Template)]
#[template(path = "updates.html")]
pub(super) struct UpdatesPage {
    pub page: Page,
    pub u: &'static UpdatesText,
    pub rollback: Option<String>,
    pub pending: Option<String>,
    pub installed: Vec<Vec<String>>,
    pub history: Vec<Vec<String>>,
    pub server: ServerFields,
    /// Where the catalog came from, when it was checked, until when it is valid.
    pub catalog: Vec<Vec<String>>,
    /// Why the stored catalog is unusable, or how the last check failed.
    pub catalog_problem: Option<String>,
    pub check_failure: Option<String>,
    /// The catalog's dates disagree with the clock: point at the Time page.
    pub clock_problem: bool,
    pub has_catalog: bool,
    pub available: Vec<AvailableRow>,
    pub sites: Vec<SiteRow>,
    pub download_key: Option<KeyView>,
}

/// The update server form, as stored or as typed, with an error next to each field.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ServerFields {
    pub url: String,
    pub ca_certificate: String,
    pub url_error: Option<String>,
    pub ca_error: Option<String>,
}

/// One package of the catalog.
pub(super) struct AvailableRow {
    pub id: String,
    pub version: String,
    /// "Base system" or "Site package NAME".
    pub what: String,
    pub size: String,
    /// Why it cannot be installed now; `None`: the Install button.
    pub blocked: Option<String>,
}

pub(super) struct SiteRow {
    pub name: String,
    pub version: String,
    pub previous: Option<String>,
}

pub(super) struct KeyView {
    pub text: String,
    pub expires: String,
}

/// What a form answer adds to the page.
#[derive(Default)]
pub(super) struct Extra {
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The server form as typed, with its errors (instead of the stored setting).
    pub server: Option<ServerFields>,
    pub download_key: Option<KeyView>,
}

const CLOCK_CODES: [&str; 2] = ["catalog_expired", "catalog_not_yet_valid"];

pub(super) async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, StatusCode::OK, None, None)
}

/// The page, with an optional notice or error on top (after an upload).
pub(super) fn render(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    render_with(
        state,
        ctx,
        status,
        Extra {
            notice,
            error,
            ..Extra::default()
        },
    )
}

/// The page after one of its forms.
pub(super) fn render_with(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    extra: Extra,
) -> Response {
    let t = ctx.t();
    let u = super::i18n::updates::text(ctx.lang);
    let (view, stored) = match state
        .updater
        .view()
        .and_then(|v| Ok((v, state.store.get::<UpdateServer>()?)))
    {
        Ok(v) => v,
        Err(err) => {
            let mut page = ctx.page(t.nav_updates, "updates");
            page.error = Some(err.to_string());
            return ctx.render(
                StatusCode::INTERNAL_SERVER_ERROR,
                &super::layout::MessagePage {
                    page,
                    back: "/appliance/status".into(),
                },
            );
        }
    };
    let slot = |name: &str| {
        view.slots
            .get(name)
            .map_or_else(|| t.empty_slot.to_string(), |s| s.version.clone())
    };
    let installed = vec![
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
            view.floor
                .map_or_else(|| t.none.to_string(), |f| f.to_string()),
        ],
    ];
    let sites = view
        .sites
        .iter()
        .map(|(name, site)| SiteRow {
            name: name.clone(),
            version: site.version.clone(),
            previous: site.previous.clone(),
        })
        .collect();
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
    let offer = &view.offer;
    let mut catalog = Vec::new();
    let mut catalog_problem = None;
    let mut clock_problem = false;
    if let Some(info) = &offer.catalog {
        catalog.push(vec![u.catalog_from.to_string(), info.url.clone()]);
        catalog.push(vec![u.last_checked.to_string(), rfc3339(info.checked_at)]);
        if let Some(expires) = info.expires {
            catalog.push(vec![u.catalog_valid_until.to_string(), rfc3339(expires)]);
        }
        if let Some(p) = &info.problem {
            clock_problem |= CLOCK_CODES.contains(&p.code.as_str());
            catalog_problem = Some(format!("{}: {}", u.catalog_problem, p.message));
        }
    }
    let check_failure = offer.last_check_failure.as_ref().map(|f| {
        clock_problem |= CLOCK_CODES.contains(&f.code.as_str());
        format!("{} ({}): {}", u.last_check_failed, rfc3339(f.at), f.message)
    });
    let available = offer
        .available
        .iter()
        .map(|a| AvailableRow {
            id: a.id.clone(),
            version: a.version.to_string(),
            what: if a.kind == "base" {
                u.base_system.to_string()
            } else {
                format!("{} {}", t.site_package, a.name)
            },
            size: super::layout::bytes(a.size),
            blocked: a.blocked.clone(),
        })
        .collect();
    let server = extra.server.unwrap_or_else(|| ServerFields {
        url: stored.url.unwrap_or_default(),
        ca_certificate: stored.ca_certificate.unwrap_or_default(),
        ..ServerFields::default()
    });
    let mut page = ctx.page(t.nav_updates, "updates");
    page.notice = extra.notice;
    page.error = extra.error;
    ctx.render(
        status,
        &UpdatesPage {
            page,
            u,
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
            server,
            has_catalog: offer.catalog.is_some(),
            catalog,
            catalog_problem,
            check_failure,
            clock_problem,
            available,
            sites,
            download_key: extra.download_key,
        },
    )
}

/// What the page says after an install, by upload or from the catalog.
fn installed_notice(t: &Text, done: &Installed) -> String {
    match &done.slot {
        Some(slot) => format!("{} ({} {slot}): {}", done.version, t.slot, t.install_done),
        None => format!("{} {}: {}", done.name, done.version, t.site_install_done),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ServerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    ca_certificate: String,
    #[serde(default)]
    current_password: String,
}

/// The update server form checked field by field, so that each error shows next to its
/// field; the same checks as `PUT /api/v1/updates/server`. The browser's CRLF line ends
/// in the PEM become LF.
pub(super) fn parse_server(url: &str, ca_certificate: &str) -> Result<UpdateServer, ServerFields> {
    let ca_certificate = ca_certificate.replace("\r\n", "\n");
    let by_url = Change {
        url: Some(url.to_string()),
        ca_certificate: None,
    }
    .validate();
    let by_ca = Change {
        url: None,
        ca_certificate: Some(ca_certificate.clone()),
    }
    .validate();
    match (by_url, by_ca) {
        (Ok(u), Ok(c)) => Ok(UpdateServer {
            url: u.url,
            ca_certificate: c.ca_certificate,
        }),
        (u, c) => Err(ServerFields {
            url: url.to_string(),
            ca_certificate,
            url_error: u.err(),
            ca_error: c.err(),
        }),
    }
}

pub(super) async fn save_server(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<ServerForm>,
) -> Result<Response, Response> {
    let user = ctx.form_session(false, &form.csrf)?.1.user.clone();
    ctx.not_backup()?;
    let u = super::i18n::updates::text(ctx.lang);
    let server = match parse_server(&form.url, &form.ca_certificate) {
        Ok(s) => s,
        Err(fields) => {
            return Ok(render_with(
                &state,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                Extra {
                    error: Some(u.server_not_saved.to_string()),
                    server: Some(fields),
                    ..Extra::default()
                },
            ))
        }
    };
    if let Err((status, message)) = ctx
        .confirm_password(
            &state,
            &user,
            &form.current_password,
            "an update server change",
        )
        .await
    {
        return Ok(render_with(
            &state,
            &ctx,
            status,
            Extra {
                error: Some(format!("{} {message}", u.server_not_saved)),
                server: Some(ServerFields {
                    url: form.url,
                    ca_certificate: form.ca_certificate,
                    url_error: None,
                    ca_error: None,
                }),
                ..Extra::default()
            },
        ));
    }
    let result = state
        .updater
        .store_server(server, &user, ctx.address)
        .await
        .map_err(ApiError::from);
    Ok(answer(
        &state,
        &ctx,
        result.map(|()| u.server_saved.to_string()),
        u.server_not_saved,
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn check(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    let user = ctx.form_session(false, &form.csrf)?.1.user.clone();
    let u = super::i18n::updates::text(ctx.lang);
    let result = state
        .updater
        .check_for_updates(&user, ctx.address)
        .await
        .map(|_| u.check_done.to_string())
        .map_err(|e| {
            let no_server = matches!(e, crate::update::catalog::CheckError::NoServer);
            let mut e = ApiError::from(e);
            if no_server {
                // The API's message names the API; here the form is on the page.
                e.message = u.no_server.to_string();
            }
            e
        });
    Ok(answer(&state, &ctx, result, u.check_failed))
}

#[derive(Debug, Deserialize)]
pub(super) struct InstallForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

/// The install's progress for the page's script while a catalog install runs (the
/// session's cookie; the API has the same as server-sent events).
pub(super) async fn progress(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(answer) = ctx.require(false) {
        return answer;
    }
    let now: api_types::Progress = state.updater.progress.current().into();
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(now),
    )
        .into_response()
}

pub(super) async fn install(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<InstallForm>,
) -> Result<Response, Response> {
    let user = ctx.form_session(false, &form.csrf)?.1.user.clone();
    let t = ctx.t();
    let result = state
        .updater
        .install_by_id(&state.state_dir, &form.id, &user, ctx.address)
        .await
        .map_err(ApiError::from);
    Ok(answer(
        &state,
        &ctx,
        result.map(|done| installed_notice(t, &done)),
        t.install_failed,
    ))
}

pub(super) async fn download_key(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    ctx.form_session(false, &form.csrf)?;
    let u = super::i18n::updates::text(ctx.lang);
    Ok(match state.updater.issue_download_key().await {
        Ok(key) => render_with(
            &state,
            &ctx,
            StatusCode::OK,
            Extra {
                download_key: Some(KeyView {
                    expires: rfc3339(key.body.expires),
                    text: key.text,
                }),
                ..Extra::default()
            },
        ),
        Err(e) => answer(&state, &ctx, Err(e.into()), u.key_failed),
    })
}

pub(super) async fn rollback_site(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    let user = ctx.form_session(false, &form.csrf)?.1.user.clone();
    ctx.not_backup()?;
    let u = super::i18n::updates::text(ctx.lang);
    let result = state
        .updater
        .roll_back_site(name, &user, ctx.address)
        .await
        .map_err(ApiError::from);
    Ok(answer(
        &state,
        &ctx,
        result.map(|v| format!("{} {}: {}", v.name, v.version, u.now_in_use)),
        u.rollback_failed,
    ))
}

/// The page with the outcome of a form: a notice, or the API's error under `failed`.
fn answer(state: &AppState, ctx: &Ctx, result: Result<String, ApiError>, failed: &str) -> Response {
    match result {
        Ok(notice) => render(state, ctx, StatusCode::OK, Some(notice), None),
        Err(e) => render(
            state,
            ctx,
            e.status,
            None,
            Some(format!("{failed}: {}", e.message)),
        ),
    }
}

/// The upload form (multipart): `csrf` first, then `package`, streamed into the installer.
pub(super) async fn upload(
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
            Some("csrf") => match short_field(field).await {
                Ok(text) => csrf = text,
                Err(message) => return fail(message),
            },
            Some("package") => {
                if let Err(r) = ctx.check_csrf(&session, &csrf) {
                    return r;
                }
                let (reader, pump) = crate::update::body::channel();
                let install =
                    state
                        .updater
                        .install_upload(reader, &session.user, ctx.address, false);
                let (result, ()) = tokio::join!(install, pump.run(field));
                return match result {
                    Ok(done) => render(
                        &state,
                        &ctx,
                        StatusCode::OK,
                        Some(installed_notice(t, &done)),
                        None,
                    ),
                    Err(e) => fail(ApiError::from(e).message),
                };
            }
            _ => {}
        }
    }
}

/// Longest text field of the upload form read (the CSRF token is far shorter).
const SHORT_FIELD_MAX: usize = 1024;

/// A short text field of the upload form: read in pieces and capped, since the body of
/// an upload has no limit as a whole.
pub(super) async fn short_field(
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<String, String> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| e.body_text())? {
        if text.len() + chunk.len() > SHORT_FIELD_MAX {
            return Err(format!(
                "a form field is longer than {SHORT_FIELD_MAX} bytes"
            ));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text).map_err(|_| "a form field is not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_form_puts_each_error_next_to_its_field() {
        let ok = parse_server(" https://updates.example.com/stable ", "").unwrap();
        assert_eq!(
            ok.url.as_deref(),
            Some("https://updates.example.com/stable/")
        );
        assert_eq!(ok.ca_certificate, None);
        // Both empty: checking off.
        assert_eq!(parse_server("", "  ").unwrap(), UpdateServer::default());

        let bad_url = parse_server("http://updates.example.com/", "").unwrap_err();
        assert!(bad_url.url_error.unwrap().contains("https://"));
        assert_eq!(bad_url.ca_error, None);
        assert_eq!(bad_url.url, "http://updates.example.com/");

        let bad_ca = parse_server("https://updates.example.com/", "not\r\na PEM").unwrap_err();
        assert_eq!(bad_ca.url_error, None);
        assert!(bad_ca.ca_error.is_some());
        assert_eq!(
            bad_ca.ca_certificate, "not\na PEM",
            "kept as typed, LF line ends"
        );

        // A real certificate as a browser posts it (CRLF) is kept with LF.
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = rcgen::CertificateParams::new(vec!["updates.example.com".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem();
        let posted = pem.replace('\n', "\r\n");
        let ok = parse_server("https://updates.example.com/", &posted).unwrap();
        assert_eq!(ok.ca_certificate.as_deref(), Some(pem.as_str()));

        let both = parse_server("ftp://x/", "junk").unwrap_err();
        assert!(both.url_error.is_some() && both.ca_error.is_some());
    }
}
