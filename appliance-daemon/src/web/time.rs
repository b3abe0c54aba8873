//! Time: the clock, whether NTP keeps it, and the NTP servers.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use std::sync::Arc;

use super::layout::Page;
use super::Ctx;
use crate::state::AppState;
use crate::time::{problems_text, ChangeError};
use units::rfc3339;

#[derive(Template)]
#[template(path = "time.html")]
pub(super) struct TimePage {
    pub page: Page,
    pub facts: Vec<Vec<String>>,
    pub servers: String,
}

pub(super) async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, StatusCode::OK, None, None, None).await
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: Option<String>,
) -> Response {
    let t = ctx.t();
    let mut page = ctx.page(t.nav_time, "time");
    page.notice = notice;
    page.error = error;
    let (facts, servers) = match state.time.view().await {
        Ok(v) => {
            let yes_no = |b: bool| {
                if b {
                    t.synchronized
                } else {
                    t.not_synchronized
                }
                .to_string()
            };
            let dash = || "—".to_string();
            (
                vec![
                    vec![t.time.to_string(), v.time.clone()],
                    vec![t.clock_synchronized.to_string(), yes_no(v.synchronized)],
                    vec![
                        t.ntp_source.to_string(),
                        v.server.clone().unwrap_or_else(dash),
                    ],
                    vec![
                        t.ntp_offset.to_string(),
                        v.offset_seconds
                            .map_or_else(dash, |o| format!("{:+.3} ms", o * 1000.0)),
                    ],
                    vec![
                        t.ntp_last_sync.to_string(),
                        v.last_sync.map_or_else(dash, rfc3339),
                    ],
                    vec![
                        t.ntp_state.to_string(),
                        v.daemon_error.clone().unwrap_or_else(|| "ok".to_string()),
                    ],
                ],
                v.servers.join("\n"),
            )
        }
        Err(e) => (
            vec![vec![t.error.to_string(), e.to_string()]],
            String::new(),
        ),
    };
    ctx.render(
        status,
        &TimePage {
            page,
            facts,
            servers: typed.unwrap_or(servers),
        },
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct TimeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    servers: String,
}

pub(super) async fn save(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<TimeForm>,
) -> Response {
    let session = match ctx.form_session(false, &form.csrf) {
        Ok((_, s)) => s.clone(),
        Err(r) => return r,
    };
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let list: Vec<String> = form
        .servers
        .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .collect();
    let (status, saved, error) = match state
        .time
        .change_servers(&list, &session.user, ctx.address)
        .await
    {
        Ok(_) => (StatusCode::OK, Some(ctx.t().saved.to_string()), None),
        Err(ChangeError::Invalid(problems)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(problems_text(&problems)),
        ),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, None, Some(e.to_string())),
    };
    // The administrator's text again when it was not kept.
    let typed = error.is_some().then_some(form.servers);
    render(&state, &ctx, status, saved, error, typed).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;

    fn page(managed: Option<String>) -> String {
        let lang = Lang::En;
        TimePage {
            page: Page {
                t: lang.text(),
                lang: lang.code(),
                title: "Time".into(),
                user: Some("admin".into()),
                csrf: "c0ffee".into(),
                nav: "time",
                notice: None,
                error: None,
                managed,
            },
            facts: Vec::new(),
            servers: "ntp.example".into(),
        }
        .render()
        .unwrap()
    }

    /// On a backup the form is shown disabled with the sentence saying where to change it.
    #[test]
    fn on_a_backup_the_time_servers_are_greyed_with_the_primarys_address() {
        let sentence = "This appliance is the backup of 10.0.0.1; change this on the primary: \
                        https://10.0.0.1/appliance.";
        let html = page(Some(sentence.into()));
        assert!(html.contains("id=\"managed-by-primary\""), "{html}");
        assert!(html.contains("https://10.0.0.1/appliance"), "{html}");
        assert!(
            html.contains("<fieldset class=\"plain\" disabled>"),
            "{html}"
        );
        let html = page(None);
        assert!(!html.contains("managed-by-primary"));
        assert!(html.contains("<fieldset class=\"plain\">"), "{html}");
    }
}
