//! The admin interface at `/appliance`: server-rendered HTML in English and French that works
//! without JavaScript (only the restart/shutdown progress uses it).
//!
//! Sessions are cookies (`HttpOnly; Secure; SameSite=Strict`); every form carries a CSRF
//! token: the session's own, or before login a random one also set as a cookie (double
//! submit). Every page is sent with a strict Content-Security-Policy.

mod accounts;
mod backup;
mod backup_schedule;
mod backup_status;
mod certificate_status;
mod certificates;
mod failover;
pub(crate) mod i18n;
mod layout;
mod logs;
mod network;
mod pages;
mod reset;
mod time;
mod updates;

use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

use crate::api::extract::Peer;
use crate::auth::{same_secret, AuthError, Kind, Session};
use crate::state::AppState;
use i18n::{Lang, Text};

const SESSION_COOKIE: &str = "appliance_session";
const LOGIN_CSRF_COOKIE: &str = "appliance_login";
const LANG_COOKIE: &str = "appliance_lang";

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/appliance",
            get(|| async { Redirect::to("/appliance/status") }),
        )
        .route(
            "/appliance/",
            get(|| async { Redirect::to("/appliance/status") }),
        )
        .route("/appliance/login", get(login_page).post(login))
        .route("/appliance/logout", post(logout))
        .route(
            "/appliance/password",
            get(password_page).post(change_password),
        )
        .route("/appliance/status", get(pages::basics))
        .route("/appliance/specs", get(pages::specs))
        .route("/appliance/account", get(pages::account))
        .route("/appliance/confirm/factory-reset", get(reset::confirm_page))
        .route("/appliance/system/factory-reset", post(reset::request))
        .route("/appliance/confirm/{action}", get(confirm_page))
        .route("/appliance/system/{action}", post(power))
        .route("/appliance/static/{file}", get(static_file))
        .route("/appliance/updates", get(updates::page))
        .route(
            "/appliance/updates/upload",
            post(updates::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .merge(updates::routes())
        .merge(accounts::routes())
        .merge(backup::routes())
        .merge(failover::routes())
        .merge(certificates::routes())
        .merge(logs::routes())
        .route("/appliance/time", get(time::page).post(time::save))
        .route("/appliance/network", get(network::page).post(network::save))
        .route("/appliance/network/confirm", post(network::keep))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(crate::api::BODY_LIMIT))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// The pages' stylesheet and scripts, kept in the binary.
async fn static_file(Path(file): Path<String>, uri: axum::http::Uri) -> Response {
    const JS: &str = "text/javascript; charset=utf-8";
    let (content_type, body) = match file.as_str() {
        "app.css" => (
            "text/css; charset=utf-8",
            include_str!("../../static/app.css"),
        ),
        "progress.js" => (JS, include_str!("../../static/progress.js")),
        "upload.js" => (JS, include_str!("../../static/upload.js")),
        "network.js" => (JS, include_str!("../../static/network.js")),
        _ => return crate::api::not_found(uri).await.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// What every page needs: the language (and whether the switch just changed it), the
/// session if any, and the client's address.
pub(crate) struct Ctx {
    /// While this appliance is a failover backup: its primary, where synced settings are
    /// changed ([`layout::Page::managed`] says it in the page's language).
    pub managed: Option<crate::failover::ManagedBy>,
    pub lang: Lang,
    set_lang: bool,
    pub token: Option<String>,
    pub session: Option<Session>,
    pub address: Option<IpAddr>,
    cookies: Vec<(String, String)>,
}

impl FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let cookies = cookies(&parts.headers);
        let cookie = |name: &str| {
            cookies
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let switch = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("lang="))
                .and_then(Lang::parse)
        });
        let lang = switch
            .or_else(|| cookie(LANG_COOKIE).and_then(|c| Lang::parse(&c)))
            .or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::En);
        let token = cookie(SESSION_COOKIE);
        let session = token
            .as_deref()
            .and_then(|t| state.auth.session(t, Kind::Web));
        let Ok(Peer(address)) = Peer::from_request_parts(parts, state).await;
        Ok(Ctx {
            managed: state.failover.managed_by(),
            lang,
            set_lang: switch.is_some(),
            token,
            session,
            address,
            cookies,
        })
    }
}

impl Ctx {
    /// A form changing a setting the pair's sync carries: refused while this appliance
    /// is a backup (`409 managed_by_primary`, as the API; the page shows the form
    /// disabled with the same sentence).
    #[allow(clippy::result_large_err)]
    pub(crate) fn not_backup(&self) -> Result<(), Response> {
        match &self.managed {
            Some(by) => Err(crate::api::peer_sync::refusal(&by.sentence()).into_response()),
            None => Ok(()),
        }
    }

    pub(crate) fn t(&self) -> &'static Text {
        self.lang.text()
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The common part of a page.
    pub(crate) fn page(&self, title: &str, nav: &'static str) -> layout::Page {
        layout::Page {
            t: self.t(),
            lang: self.lang.code(),
            title: title.to_string(),
            user: self.session.as_ref().map(|s| s.user.to_string()),
            csrf: self
                .session
                .as_ref()
                .map(|s| s.csrf.to_string())
                .unwrap_or_default(),
            nav,
            notice: None,
            error: None,
            managed: self
                .managed
                .as_ref()
                .map(|by| i18n::failover::managed(self.lang, by)),
        }
    }

    /// Render a template with a status, adding the language cookie if the switch was used.
    pub(crate) fn render(&self, status: StatusCode, template: &impl Template) -> Response {
        let body = match template.render() {
            Ok(b) => b,
            Err(err) => {
                tracing::error!("rendering a page failed: {err}");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The page could not be rendered.",
                )
                    .into_response();
            }
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response();
        self.add_lang_cookie(&mut response);
        response
    }

    fn add_lang_cookie(&self, response: &mut Response) {
        if self.set_lang {
            // Read by no script, but not a secret either: not HttpOnly.
            let mut lang = appliance_cookie(LANG_COOKIE, self.lang.code().to_string());
            lang.set_http_only(false);
            lang.set_max_age(cookie::time::Duration::days(365));
            append_cookie(response, lang);
        }
    }

    /// The logged-in session, or a redirect to the login page (or to the forced password
    /// change when `allow_must_change` is false and the password is still the factory one).
    // The Err side is the whole answer, returned by the handler at once: boxing it would
    // only add an allocation.
    #[allow(clippy::result_large_err)]
    pub(crate) fn require(&self, allow_must_change: bool) -> Result<(&str, &Session), Response> {
        match (&self.token, &self.session) {
            (Some(token), Some(session)) => {
                if session.must_change_password && !allow_must_change {
                    Err(Redirect::to("/appliance/password").into_response())
                } else if session.must_enrol_totp && !allow_must_change {
                    Err(Redirect::to("/appliance/account/totp").into_response())
                } else {
                    Ok((token, session))
                }
            }
            _ => Err(Redirect::to("/appliance/login").into_response()),
        }
    }

    /// The logged-in session for the two-factor pages: one that must still enrol a TOTP
    /// is let in; one that must still change its password is sent to that first.
    #[allow(clippy::result_large_err)]
    pub(crate) fn require_enrolling(&self) -> Result<(&str, &Session), Response> {
        let (token, session) = self.require(true)?;
        if session.must_change_password {
            return Err(Redirect::to("/appliance/password").into_response());
        }
        Ok((token, session))
    }

    /// The session behind a posted form, its CSRF token checked.
    #[allow(clippy::result_large_err)]
    pub(crate) fn form_session(
        &self,
        allow_must_change: bool,
        csrf: &str,
    ) -> Result<(&str, &Session), Response> {
        let (token, session) = self.require(allow_must_change)?;
        self.check_csrf(session, csrf)?;
        Ok((token, session))
    }

    /// The session user's password typed again in a form (field `current_password`) for a
    /// sensitive act ([`crate::auth::Auth::confirm_password`]: a wrong one counts toward the
    /// lockout); the refusal's status and sentence in the page's language otherwise.
    pub(crate) async fn confirm_password(
        &self,
        state: &AppState,
        user: &str,
        given: &str,
        what: &str,
    ) -> Result<(), (StatusCode, String)> {
        let t = self.t();
        match state
            .auth
            .confirm_password(user, Some(given), what, self.address)
            .await
        {
            Ok(()) => Ok(()),
            Err(AuthError::PasswordRequired) => Err((
                StatusCode::FORBIDDEN,
                t.confirm_password_missing.to_string(),
            )),
            Err(AuthError::WrongPassword) => {
                Err((StatusCode::FORBIDDEN, t.confirm_password_wrong.to_string()))
            }
            Err(AuthError::Locked { remaining_seconds }) => Err((
                StatusCode::TOO_MANY_REQUESTS,
                t.locked
                    .replace("{minutes}", &remaining_seconds.div_ceil(60).to_string()),
            )),
            Err(AuthError::Busy { .. }) => {
                Err((StatusCode::SERVICE_UNAVAILABLE, t.login_busy.to_string()))
            }
            Err(err) => {
                tracing::error!("the password check failed: {err}");
                Err((StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
            }
        }
    }

    /// A form of a logged-in page must carry the session's CSRF token.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check_csrf(&self, session: &Session, given: &str) -> Result<(), Response> {
        if !given.is_empty() && same_secret(&session.csrf, given) {
            Ok(())
        } else {
            Err(self.form_expired())
        }
    }

    fn form_expired(&self) -> Response {
        let mut page = self.page(self.t().error, "");
        page.error = Some(self.t().form_expired.to_string());
        tracing::warn!(address = ?self.address, "form refused: missing or wrong CSRF token");
        self.render(
            StatusCode::FORBIDDEN,
            &layout::MessagePage {
                page,
                back: "/appliance/status".to_string(),
            },
        )
    }
}

/// The request's cookies (every `Cookie:` header); malformed pairs are skipped.
fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .map(|c| (c.name().to_string(), c.value().to_string()))
        .collect()
}

/// A cookie of the admin interface: `Path=/appliance; HttpOnly; Secure; SameSite=Strict`.
fn appliance_cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/appliance")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .build()
}

fn append_cookie(response: &mut Response, cookie: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn session_cookie(token: &str) -> Cookie<'static> {
    appliance_cookie(SESSION_COOKIE, token.to_string())
}

fn expired_cookie(name: &'static str) -> Cookie<'static> {
    let mut cookie = appliance_cookie(name, String::new());
    cookie.make_removal();
    cookie
}

async fn login_page(ctx: Ctx) -> Response {
    if ctx.session.is_some() {
        return Redirect::to("/appliance/status").into_response();
    }
    login_form(&ctx, StatusCode::OK, String::new(), None)
}

fn login_form(ctx: &Ctx, status: StatusCode, username: String, error: Option<String>) -> Response {
    let csrf = crate::auth::random_hex(32);
    let mut page = ctx.page(ctx.t().log_in, "");
    page.csrf = csrf.clone();
    page.error = error;
    let mut response = ctx.render(
        status,
        &layout::LoginPage {
            page,
            username,
            ticket: String::new(),
            a: i18n::accounts::text(ctx.lang),
        },
    );
    append_cookie(&mut response, appliance_cookie(LOGIN_CSRF_COOKIE, csrf));
    response
}

/// The login's second step: the code of an account with a TOTP, under `ticket`.
fn code_form(ctx: &Ctx, status: StatusCode, ticket: String, error: Option<String>) -> Response {
    let csrf = crate::auth::random_hex(32);
    let a = i18n::accounts::text(ctx.lang);
    let mut page = ctx.page(a.login_code, "");
    page.csrf = csrf.clone();
    page.error = error;
    let mut response = ctx.render(
        status,
        &layout::LoginPage {
            page,
            username: String::new(),
            ticket,
            a,
        },
    );
    append_cookie(&mut response, appliance_cookie(LOGIN_CSRF_COOKIE, csrf));
    response
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// The second step: the ticket of the first and the code.
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    code: String,
}

async fn login(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = ctx.cookie(LOGIN_CSRF_COOKIE).unwrap_or("");
    if form.csrf.is_empty() || !same_secret(expected, &form.csrf) {
        return ctx.form_expired();
    }
    let second = !form.ticket.is_empty();
    let outcome = if second {
        state
            .auth
            .login_second_step(&form.ticket, &form.code, ctx.address)
            .await
    } else {
        state
            .auth
            .login(&form.username, &form.password, None, Kind::Web, ctx.address)
            .await
    };
    match outcome {
        Ok(login) => {
            let target = if login.must_change_password {
                "/appliance/password"
            } else if login.must_enrol_totp {
                "/appliance/account/totp"
            } else {
                "/appliance/status"
            };
            let mut response = Redirect::to(target).into_response();
            append_cookie(&mut response, session_cookie(&login.token));
            append_cookie(&mut response, expired_cookie(LOGIN_CSRF_COOKIE));
            ctx.add_lang_cookie(&mut response);
            response
        }
        Err(AuthError::SecondStep(ticket)) => code_form(&ctx, StatusCode::OK, ticket, None),
        Err(AuthError::TotpInvalid | AuthError::TotpRequired) if second => code_form(
            &ctx,
            StatusCode::UNAUTHORIZED,
            form.ticket,
            Some(i18n::accounts::text(ctx.lang).wrong_code.to_string()),
        ),
        Err(AuthError::NoSession) if second => login_form(
            &ctx,
            StatusCode::UNAUTHORIZED,
            String::new(),
            Some(ctx.t().form_expired.to_string()),
        ),
        Err(AuthError::InvalidCredentials) => login_form(
            &ctx,
            StatusCode::UNAUTHORIZED,
            form.username,
            Some(ctx.t().login_failed.to_string()),
        ),
        Err(AuthError::Locked { remaining_seconds }) => login_form(
            &ctx,
            StatusCode::TOO_MANY_REQUESTS,
            form.username,
            Some(
                ctx.t()
                    .locked
                    .replace("{minutes}", &remaining_seconds.div_ceil(60).to_string()),
            ),
        ),
        Err(AuthError::Busy { .. }) => login_form(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            form.username,
            Some(ctx.t().login_busy.to_string()),
        ),
        Err(err) => {
            tracing::error!("login failed: {err}");
            login_form(
                &ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                form.username,
                Some(err.to_string()),
            )
        }
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Response {
    let token = match ctx.form_session(true, &form.csrf) {
        Ok((token, _)) => token,
        Err(r) => return r,
    };
    state.auth.logout(token);
    let mut response = Redirect::to("/appliance/login").into_response();
    append_cookie(&mut response, expired_cookie(SESSION_COOKIE));
    response
}

async fn password_page(ctx: Ctx) -> Response {
    let forced = match ctx.require(true) {
        Ok((_, s)) => s.must_change_password,
        Err(r) => return r,
    };
    password_form(&ctx, StatusCode::OK, forced, None)
}

fn password_form(ctx: &Ctx, status: StatusCode, forced: bool, error: Option<String>) -> Response {
    let nav = if forced { "" } else { "account" };
    let mut page = ctx.page(ctx.t().change_password, nav);
    page.error = error;
    ctx.render(status, &layout::PasswordPage { page, forced })
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

async fn change_password(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (token, session) = match ctx.form_session(true, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let forced = session.must_change_password;
    let t = ctx.t();
    if form.new != form.confirm {
        return password_form(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            forced,
            Some(t.passwords_differ.to_string()),
        );
    }
    match state
        .auth
        .change_password(token, session, &form.current, &form.new, ctx.address)
        .await
    {
        Ok(()) => Redirect::to("/appliance/status?changed=password").into_response(),
        Err(AuthError::WrongPassword) => password_form(
            &ctx,
            StatusCode::FORBIDDEN,
            forced,
            Some(t.wrong_current.to_string()),
        ),
        Err(AuthError::Weak(why)) => password_form(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            forced,
            Some(format!(
                "{}: {}",
                t.weak_password,
                pages::weak_reason(ctx.lang, &why)
            )),
        ),
        Err(AuthError::Busy { .. }) => password_form(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            forced,
            Some(t.login_busy.to_string()),
        ),
        Err(err) => {
            tracing::error!("password change failed: {err}");
            password_form(
                &ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                forced,
                Some(err.to_string()),
            )
        }
    }
}

/// `restart` or `shutdown`.
fn power_action(action: &str) -> Option<crate::system::power::PowerAction> {
    use crate::system::power::PowerAction;
    match action {
        "restart" => Some(PowerAction::Reboot),
        "shutdown" => Some(PowerAction::PowerOff),
        _ => None,
    }
}

async fn confirm_page(ctx: Ctx, Path(action): Path<String>) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    let t = ctx.t();
    let (action, title, question) = match action.as_str() {
        "restart" => ("restart", t.restart, t.confirm_restart),
        "shutdown" => ("shutdown", t.shut_down, t.confirm_shutdown),
        _ => {
            return crate::api::not_found(axum::http::Uri::from_static("/appliance/confirm"))
                .await
                .into_response()
        }
    };
    ctx.render(
        StatusCode::OK,
        &layout::ConfirmPage {
            page: ctx.page(title, "basics"),
            action,
            question,
            button: title,
        },
    )
}

async fn power(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(action): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match ctx.form_session(false, &form.csrf) {
        Ok((_, s)) => s,
        Err(r) => return r,
    };
    let Some(what) = power_action(&action) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let t = ctx.t();
    let (title, text) = match action.as_str() {
        "restart" => (t.restarting, t.restarting_text),
        _ => (t.shutting_down, t.shutting_down_text),
    };
    let mut page = ctx.page(title, "");
    let status = match state.shutdown.schedule(&session.user, ctx.address, what) {
        Ok(()) => StatusCode::ACCEPTED,
        Err(err) => {
            page.error = Some(err.to_string());
            StatusCode::CONFLICT
        }
    };
    ctx.render(
        status,
        &layout::GoingDownPage {
            page,
            action: if action == "restart" {
                "restart"
            } else {
                "shutdown"
            },
            text,
        },
    )
}
