//! Accounts (Security menu): the administrators, added, enabled, disabled and deleted
//! with the caller's password given again; and the caller's own two-factor sign-in
//! (`/appliance/account/totp`): set up with a QR code, confirmed by a code, the recovery
//! codes shown once, turned off with the password. The same service as
//! `/api/v1/accounts` and `/api/v1/account/totp`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::sync::Arc;

use super::i18n::accounts::{self as words, AccountsText};
use super::layout::Page;
use super::Ctx;
use crate::auth::AuthError;
use crate::state::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/appliance/accounts", get(page).post(add))
        .route("/appliance/accounts/{name}", post(act))
        .route("/appliance/account/totp", get(totp_page))
        .route("/appliance/account/totp/start", post(totp_start))
        .route("/appliance/account/totp/confirm", post(totp_confirm))
        .route("/appliance/account/totp/disable", post(totp_disable))
}

/// One row of the accounts table.
pub(super) struct Row {
    pub name: String,
    pub enabled: bool,
    pub totp: bool,
    pub created: String,
    pub last_login: String,
}

#[derive(Template)]
#[template(path = "accounts.html")]
pub(super) struct AccountsPage {
    pub page: Page,
    pub a: &'static AccountsText,
    pub rows: Vec<Row>,
    pub name: String,
}

fn when(unix: Option<u64>, a: &AccountsText) -> String {
    unix.map_or_else(|| a.never.to_string(), units::rfc3339)
}

fn render(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    name: String,
) -> Response {
    let a = words::text(ctx.lang);
    let rows = match state.auth.accounts() {
        Ok(list) => list
            .into_iter()
            .map(|i| Row {
                name: i.name,
                enabled: i.enabled,
                totp: i.totp,
                created: i.created_at.map(units::rfc3339).unwrap_or_default(),
                last_login: when(i.last_login, a),
            })
            .collect(),
        Err(err) => {
            tracing::error!("cannot list the accounts: {err}");
            Vec::new()
        }
    };
    let mut page = ctx.page(a.nav_accounts, "accounts");
    page.notice = notice;
    page.error = error;
    ctx.render(
        status,
        &AccountsPage {
            page,
            a,
            rows,
            name,
        },
    )
}

async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, StatusCode::OK, None, None, String::new())
}

/// An account error in the page's language.
fn refusal(ctx: &Ctx, err: AuthError) -> (StatusCode, String) {
    let a = words::text(ctx.lang);
    match err {
        AuthError::LastEnabled(_) => (StatusCode::CONFLICT, a.last_enabled.to_string()),
        AuthError::Exists(_) => (StatusCode::CONFLICT, a.exists.to_string()),
        AuthError::InvalidName(_) => (StatusCode::UNPROCESSABLE_ENTITY, a.invalid_name.to_string()),
        AuthError::NoSuchUser(_) => (StatusCode::NOT_FOUND, a.no_such.to_string()),
        AuthError::Weak(why) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{}: {}",
                ctx.t().weak_password,
                super::pages::weak_reason(ctx.lang, &why)
            ),
        ),
        other => {
            tracing::error!("account change failed: {other}");
            (StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
        }
    }
}

#[derive(Debug, Deserialize)]
struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    current_password: String,
}

/// The session behind a posted form that changes accounts: its CSRF token checked, and
/// refused on a failover backup (the primary's sync brings accounts).
#[allow(clippy::result_large_err)]
fn changing_session(ctx: &Ctx, csrf: &str) -> Result<crate::auth::Session, Response> {
    let session = ctx.form_session(false, csrf)?.1.clone();
    ctx.not_backup()?;
    Ok(session)
}

async fn add(State(state): State<Arc<AppState>>, ctx: Ctx, Form(form): Form<AddForm>) -> Response {
    let session = match changing_session(&ctx, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err((status, e)) = ctx
        .confirm_password(
            &state,
            &session.user,
            &form.current_password,
            "an account creation",
        )
        .await
    {
        return render(&state, &ctx, status, None, Some(e), form.name);
    }
    match state
        .auth
        .create_account(&form.name, &form.password, &session.user, ctx.address)
        .await
    {
        Ok(()) => {
            let notice = words::text(ctx.lang)
                .created_notice
                .replace("{name}", &form.name);
            render(
                &state,
                &ctx,
                StatusCode::OK,
                Some(notice),
                None,
                String::new(),
            )
        }
        Err(err) => {
            let (status, e) = refusal(&ctx, err);
            render(&state, &ctx, status, None, Some(e), form.name)
        }
    }
}

#[derive(Debug, Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    current_password: String,
}

async fn act(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(name): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    let session = match changing_session(&ctx, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let what = match form.op.as_str() {
        "enable" | "disable" => "an account's enabling or disabling",
        "delete" => "an account deletion",
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    if let Err((status, e)) = ctx
        .confirm_password(&state, &session.user, &form.current_password, what)
        .await
    {
        return render(&state, &ctx, status, None, Some(e), String::new());
    }
    let a = words::text(ctx.lang);
    let (outcome, notice) = match form.op.as_str() {
        "delete" => (
            state
                .auth
                .delete_account(&name, &session.user, ctx.address)
                .await,
            a.deleted_notice,
        ),
        op => {
            let enable = op == "enable";
            (
                state
                    .auth
                    .set_enabled(&name, enable, &session.user, ctx.address)
                    .await,
                if enable {
                    a.enabled_notice
                } else {
                    a.disabled_notice
                },
            )
        }
    };
    match outcome {
        // The caller may have ended their own session: the page then leads to the login.
        Ok(()) if ctx.session.as_ref().is_some_and(|s| *s.user == *name) && form.op != "enable" => {
            Redirect::to("/appliance/login").into_response()
        }
        Ok(()) => render(
            &state,
            &ctx,
            StatusCode::OK,
            Some(notice.replace("{name}", &name)),
            None,
            String::new(),
        ),
        Err(err) => {
            let (status, e) = refusal(&ctx, err);
            render(&state, &ctx, status, None, Some(e), String::new())
        }
    }
}

/// What the two-factor page shows.
pub(super) enum TotpStep {
    /// Enrolled, with this many recovery codes left.
    On(usize),
    /// Not enrolled: the set-up button.
    Off,
    /// Set-up started: the QR code (an SVG document) and the secret.
    Scan { svg: String, secret: String },
    /// Just confirmed: the recovery codes, shown this once.
    Recovery(Vec<String>),
}

#[derive(Template)]
#[template(path = "totp.html")]
pub(super) struct TotpPage {
    pub page: Page,
    pub a: &'static AccountsText,
    pub step: TotpStep,
    pub required: bool,
}

fn totp_render(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    step: Option<TotpStep>,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let a = words::text(ctx.lang);
    let session = ctx.session.as_ref();
    let required = session.is_some_and(|s| s.must_enrol_totp);
    let step = step.unwrap_or_else(|| {
        let accounts: crate::store::Accounts = state.store.get().unwrap_or_default();
        match session
            .and_then(|s| accounts.user(&s.user))
            .and_then(|u| u.totp.as_ref())
        {
            Some(t) => TotpStep::On(t.recovery.len()),
            None => TotpStep::Off,
        }
    });
    // The menu stays hidden while the policy forces the enrolment.
    let mut page = ctx.page(a.totp_title, if required { "" } else { "account" });
    page.notice = notice;
    page.error = error;
    ctx.render(
        status,
        &TotpPage {
            page,
            a,
            step,
            required,
        },
    )
}

/// The session of a two-factor page: one that must still enrol is let in, one that must
/// still change its password is sent to that first.
#[allow(clippy::result_large_err)]
fn enrolling_session(ctx: &Ctx, csrf: Option<&str>) -> Result<crate::auth::Session, Response> {
    let (_, session) = ctx.require_enrolling()?;
    if let Some(csrf) = csrf {
        ctx.check_csrf(session, csrf)?;
    }
    Ok(session.clone())
}

async fn totp_page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = enrolling_session(&ctx, None) {
        return r;
    }
    totp_render(&state, &ctx, StatusCode::OK, None, None, None)
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn totp_start(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match enrolling_session(&ctx, Some(&form.csrf)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    match state.auth.start_totp(&session.user) {
        Ok(e) => {
            // The SVG element alone, inline in the page (the strict policy allows no
            // data: image).
            let svg = e
                .qr_svg
                .find("<svg")
                .map_or(String::new(), |at| e.qr_svg[at..].to_string());
            let step = TotpStep::Scan {
                svg,
                secret: e.secret,
            };
            totp_render(&state, &ctx, StatusCode::OK, Some(step), None, None)
        }
        Err(err) => totp_render(
            &state,
            &ctx,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            None,
            Some(err.to_string()),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

async fn totp_confirm(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CodeForm>,
) -> Response {
    let session = match enrolling_session(&ctx, Some(&form.csrf)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let a = words::text(ctx.lang);
    match state
        .auth
        .confirm_totp(&session.user, &form.code, ctx.address)
        .await
    {
        Ok(codes) => {
            // The session may do everything now: show the menu.
            let ctx = Ctx {
                session: state.auth.session(
                    ctx.token.as_deref().unwrap_or_default(),
                    crate::auth::Kind::Web,
                ),
                ..ctx
            };
            totp_render(
                &state,
                &ctx,
                StatusCode::OK,
                Some(TotpStep::Recovery(codes)),
                None,
                None,
            )
        }
        Err(AuthError::TotpInvalid) => {
            // The same secret stays pending: show it again with the error.
            match state.auth.pending_totp(&session.user) {
                Some(e) => {
                    let svg = e
                        .qr_svg
                        .find("<svg")
                        .map_or(String::new(), |at| e.qr_svg[at..].to_string());
                    totp_render(
                        &state,
                        &ctx,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some(TotpStep::Scan {
                            svg,
                            secret: e.secret,
                        }),
                        None,
                        Some(a.wrong_code.to_string()),
                    )
                }
                None => totp_render(
                    &state,
                    &ctx,
                    StatusCode::CONFLICT,
                    None,
                    None,
                    Some(a.start_again.to_string()),
                ),
            }
        }
        Err(AuthError::NotEnrolling) => totp_render(
            &state,
            &ctx,
            StatusCode::CONFLICT,
            None,
            None,
            Some(a.start_again.to_string()),
        ),
        Err(err) => totp_render(
            &state,
            &ctx,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            None,
            Some(err.to_string()),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
}

async fn totp_disable(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<DisableForm>,
) -> Response {
    let session = match changing_session(&ctx, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err((status, e)) = ctx
        .confirm_password(
            &state,
            &session.user,
            &form.current_password,
            "turning two-factor sign-in off",
        )
        .await
    {
        return totp_render(&state, &ctx, status, None, None, Some(e));
    }
    let a = words::text(ctx.lang);
    match state.auth.disable_totp(&session.user, ctx.address).await {
        Ok(()) | Err(AuthError::NoTotp) => totp_render(
            &state,
            &ctx,
            StatusCode::OK,
            None,
            Some(a.turned_off.to_string()),
            None,
        ),
        Err(err) => totp_render(
            &state,
            &ctx,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            None,
            Some(err.to_string()),
        ),
    }
}
