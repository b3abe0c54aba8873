//! Failover (the guide's "Failover :: Configuration" and "Failover :: Backup Site Instance
//! Status"): the pair's state, the inter-appliance key, Establish Relationship, Sync Now,
//! Become Primary (with the final sync pulled), Break, automatic failover. The same
//! service as `/api/v1/failover…`; its refusals are the API's sentences, in French on the
//! French page (docs/failover.md "The Failover page").

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::sync::Arc;

use super::i18n::failover::{self as words, FailoverText};
use super::i18n::Lang;
use super::layout::{bytes, Page, Section};
use super::Ctx;
use crate::failover::View;
use crate::state::AppState;
use pair::Role;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/appliance/failover", get(page))
        .route("/appliance/failover/key", post(key))
        .route("/appliance/failover/establish", post(establish))
        .route("/appliance/failover/sync", post(sync_now))
        .route("/appliance/failover/become-primary", post(become_primary))
        .route("/appliance/failover/break", post(break_pair))
        .route("/appliance/failover/auto", post(auto))
}

#[derive(Template)]
#[template(path = "failover.html")]
struct FailoverPage {
    page: Page,
    f: &'static FailoverText,
    /// The pair's state; `None` when it could not be read (the error says why).
    v: Option<Shown>,
    /// A key the appliance just generated, shown this once.
    generated: Option<String>,
    /// The Establish form, typed back after a refusal.
    typed: EstablishForm,
}

/// The pair's state as the page shows it.
struct Shown {
    /// `none`, `primary` or `backup`.
    role: &'static str,
    peer_host: String,
    /// (id, label, value).
    facts: Vec<[String; 3]>,
    fingerprint: Option<String>,
    auto_enabled: bool,
    missed_checks: u32,
}

impl Shown {
    fn new(f: &FailoverText, v: &View) -> Shown {
        let when =
            |at: Option<u64>, otherwise: &str| at.map_or(otherwise.to_string(), units::rfc3339);
        let mut facts = vec![
            ("role", f.role, f.role(v.role).to_string()),
            ("epoch", f.epoch, v.epoch.to_string()),
        ];
        if let Some(peer) = &v.peer {
            facts.push((
                "peer",
                f.peer,
                format!("{}:{} ({})", peer.host, peer.port, peer.appliance_id),
            ));
            let answers = if peer.reachable { f.yes } else { f.no };
            facts.push(("peer-reachable", f.peer_answers, answers.to_string()));
            facts.push(("last-sync", f.last_sync, when(v.last_sync, f.never)));
            facts.push(("generation", f.generation, v.generation.to_string()));
            if v.role == Role::Primary {
                facts.push(("lag", f.lag, lag(f, v.sync.lag_seconds)));
            }
            if let Some(due) = v.sync.initial_due {
                facts.push(("initial-due", f.initial_due, units::rfc3339(due)));
            }
            facts.push((
                "last-error",
                f.last_error,
                last_error(f, &v.sync.last_error),
            ));
        }
        let auto = if v.auto.enabled {
            f.auto_on.replace("{n}", &v.auto.missed_checks.to_string())
        } else {
            f.auto_off.to_string()
        };
        facts.push(("auto", f.auto_failover, auto));
        if let Some(event) = &v.last_event {
            facts.push((
                "last-event",
                f.last_event,
                format!("{}: {}", units::rfc3339(event.at), event.message),
            ));
        }
        Shown {
            role: match v.role {
                Role::None => "none",
                Role::Primary => "primary",
                Role::Backup => "backup",
            },
            peer_host: v.peer.as_ref().map(|p| p.host.clone()).unwrap_or_default(),
            facts: facts
                .into_iter()
                .map(|(id, label, value)| [id.to_string(), label.to_string(), value])
                .collect(),
            fingerprint: v.key_fingerprint.clone(),
            auto_enabled: v.auto.enabled,
            missed_checks: v.auto.missed_checks,
        }
    }
}

/// The pair's sync on Status > Basics, while in a pair.
pub(super) fn status_section(lang: Lang, p: &api_types::PairStatus) -> Section {
    let f = words::text(lang);
    let heading = match lang {
        Lang::En => words::NAV_EN,
        Lang::Fr => words::NAV_FR,
    };
    let answers = if p.peer_reachable { f.yes } else { f.no };
    let mut rows = vec![
        (f.role, f.role(p.role).to_string()),
        (
            f.peer,
            format!("{} ({} {answers})", p.peer, f.peer_answers.to_lowercase()),
        ),
        (
            f.last_sync,
            p.last_sync.map_or(f.never.to_string(), units::rfc3339),
        ),
        (f.generation, p.generation.to_string()),
    ];
    if p.role == Role::Primary {
        rows.push((f.lag, lag(f, p.lag_seconds)));
    }
    rows.push((f.last_error, last_error(f, &p.last_error)));
    Section::facts("failover", heading, rows)
}

fn last_error(f: &FailoverText, e: &Option<api_types::FailoverEvent>) -> String {
    e.as_ref().map_or_else(
        || f.none.to_string(),
        |e| format!("{}: {}", units::rfc3339(e.at), e.message),
    )
}

fn lag(f: &FailoverText, seconds: u64) -> String {
    match seconds {
        0 => f.in_step.to_string(),
        n => format!("{n} s"),
    }
}

/// What a form's answer adds to the page.
struct Extra {
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    generated: Option<String>,
    typed: EstablishForm,
}

impl Default for Extra {
    fn default() -> Self {
        Extra {
            status: StatusCode::OK,
            notice: None,
            error: None,
            generated: None,
            typed: EstablishForm::default(),
        }
    }
}

impl Extra {
    fn notice(text: String) -> Self {
        Extra {
            notice: Some(text),
            ..Extra::default()
        }
    }

    fn refused((status, message): (StatusCode, String)) -> Self {
        Extra {
            status,
            error: Some(message),
            ..Extra::default()
        }
    }
}

async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, Extra::default())
}

/// The page after `extra`'s form answer.
fn render(state: &AppState, ctx: &Ctx, extra: Extra) -> Response {
    let f = words::text(ctx.lang);
    let view = state.failover.view();
    let title = match view.as_ref().map(|v| v.role) {
        Ok(Role::Primary) => f.title_primary,
        Ok(Role::Backup) => f.title_backup,
        _ => f.title_configuration,
    };
    let mut page = ctx.page(title, "failover");
    // The failover page itself is never the primary's to change: no greyed note here.
    page.managed = None;
    page.notice = extra.notice;
    page.error = extra.error;
    let v = match view {
        Ok(view) => Some(Shown::new(f, &view)),
        Err(e) => {
            let (_, message) = words::error(ctx.lang, e);
            page.error.get_or_insert(message);
            None
        }
    };
    let mut typed = extra.typed;
    if typed.backup_port.is_empty() {
        typed.backup_port = "443".into();
    }
    if typed.reverse_port.is_empty() {
        typed.reverse_port = "443".into();
    }
    ctx.render(
        extra.status,
        &FailoverPage {
            page,
            f,
            v,
            generated: extra.generated,
            typed,
        },
    )
}

/// The logged-in user behind a posted form (CSRF checked), or the answer to send instead.
macro_rules! user_or_return {
    ($ctx:expr, $csrf:expr) => {
        match $ctx.form_session(false, $csrf) {
            Ok((_, s)) => s.user.to_string(),
            Err(r) => return r,
        }
    };
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    generate: Option<String>,
}

async fn key(State(state): State<Arc<AppState>>, ctx: Ctx, Form(form): Form<KeyForm>) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    let f = words::text(ctx.lang);
    let generate = form.generate.is_some();
    let typed = (!generate).then_some(form.key.as_str());
    let extra = match state
        .failover
        .set_key(typed, generate, &user, ctx.address)
        .await
    {
        Ok(answer) => Extra {
            generated: answer.key,
            ..Extra::notice(format!(
                "{} {}: {}",
                f.key_saved, f.key_fingerprint, answer.key_fingerprint
            ))
        },
        Err(e) => Extra::refused(words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra)
}

#[derive(Debug, Default, Clone, Deserialize)]
struct EstablishForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    backup_host: String,
    #[serde(default)]
    backup_port: String,
    #[serde(default)]
    reverse_host: String,
    #[serde(default)]
    reverse_port: String,
}

impl EstablishForm {
    fn request(&self, f: &FailoverText) -> Result<crate::failover::EstablishRequest, String> {
        let port = |text: &str| {
            text.trim()
                .parse::<u16>()
                .map_err(|_| format!("{}: {text:?} {}", f.tls_port, f.not_a_number))
        };
        Ok(crate::failover::EstablishRequest {
            backup: api_types::PeerAddress {
                host: self.backup_host.trim().to_string(),
                port: port(&self.backup_port)?,
            },
            reverse: api_types::PeerAddress {
                host: self.reverse_host.trim().to_string(),
                port: port(&self.reverse_port)?,
            },
        })
    }
}

async fn establish(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<EstablishForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    let f = words::text(ctx.lang);
    let result = match form.request(f) {
        Ok(request) => state
            .failover
            .establish(&request, &user, ctx.address)
            .await
            .map_err(|e| words::error(ctx.lang, e)),
        Err(message) => Err((StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    let extra = match result {
        Ok(_) => Extra::notice(f.established.to_string()),
        Err(refusal) => Extra {
            typed: form,
            ..Extra::refused(refusal)
        },
    };
    render(&state, &ctx, extra)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sync_now(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Response {
    let _user = user_or_return!(ctx, &form.csrf);
    let f = words::text(ctx.lang);
    let extra = match state.failover.sync_now().await {
        Ok(done) if done.changed => Extra::notice(
            f.synced
                .replace("{generation}", &done.generation.to_string())
                .replace("{bytes}", &bytes(done.bytes_sent)),
        ),
        Ok(done) => Extra::notice(
            f.in_step_already
                .replace("{generation}", &done.generation.to_string()),
        ),
        Err(e) => Extra::refused(words::sync_error(ctx.lang, e)),
    };
    render(&state, &ctx, extra)
}

#[derive(Deserialize)]
struct BecomeForm {
    #[serde(default)]
    csrf: String,
    pull: Option<String>,
}

async fn become_primary(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<BecomeForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    let f = words::text(ctx.lang);
    let extra = match state
        .failover
        .become_primary(form.pull.is_some(), &user, ctx.address)
        .await
    {
        Ok(done) => {
            let mut notice = vec![
                f.became_primary
                    .replace("{epoch}", &done.failover.epoch.to_string()),
                if done.peer_answered {
                    f.old_primary_told
                } else {
                    f.old_primary_silent
                }
                .to_string(),
            ];
            notice.extend(done.pull);
            notice.extend(
                done.conflicts
                    .iter()
                    .map(|c| format!("{}: {}", c.address, c.by)),
            );
            Extra::notice(notice.join(" "))
        }
        Err(e) => Extra::refused(words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra)
}

async fn break_pair(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<CsrfForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    let f = words::text(ctx.lang);
    let extra = match state.failover.break_pair(&user, ctx.address).await {
        Ok(done) if done.peer_told => Extra::notice(f.broken_told.to_string()),
        Ok(_) => Extra::notice(f.broken_untold.to_string()),
        Err(e) => Extra::refused(words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra)
}

#[derive(Deserialize)]
struct AutoForm {
    #[serde(default)]
    csrf: String,
    enabled: Option<String>,
    #[serde(default)]
    missed_checks: String,
}

async fn auto(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<AutoForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    let f = words::text(ctx.lang);
    let extra = match form.missed_checks.trim().parse::<u32>() {
        Ok(n) => match state
            .failover
            .set_auto(form.enabled.is_some(), Some(n), &user, ctx.address)
            .await
        {
            Ok(_) => Extra::notice(f.auto_saved.to_string()),
            Err(e) => Extra::refused(words::error(ctx.lang, e)),
        },
        Err(_) => Extra::refused((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{}: {:?} {}",
                f.missed_checks, form.missed_checks, f.not_a_number
            ),
        )),
    };
    render(&state, &ctx, extra)
}
