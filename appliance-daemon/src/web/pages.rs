//! The pages behind a login: Status > Basics, Status > Specs, Security > Account.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

use super::i18n::Lang;
use super::layout::{bytes, duration, MessagePage, Page, Section, TablePage};
use super::Ctx;
use crate::api::ApiError;
use crate::auth::password::Weak;
use crate::state::AppState;
use crate::status::Status;

#[derive(Debug, Deserialize)]
pub(super) struct Notice {
    changed: Option<String>,
}

async fn status_or_error(state: &Arc<AppState>, ctx: &Ctx) -> Result<Status, Response> {
    state.status.gather().await.map_err(|err| {
        let mut page = ctx.page(ctx.t().error, "basics");
        page.error = Some(ApiError::from(err).message);
        ctx.render(
            StatusCode::INTERNAL_SERVER_ERROR,
            &MessagePage {
                page,
                back: "/appliance/status".into(),
            },
        )
    })
}

pub(super) async fn basics(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Query(q): Query<Notice>,
) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    let status = match status_or_error(&state, &ctx).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let t = ctx.t();
    let mut page = ctx.page(t.nav_basics, "basics");
    if q.changed.as_deref() == Some("password") {
        page.notice = Some(t.password_changed.to_string());
    }
    let rows = vec![
        (t.model, status.model.clone()),
        (
            t.serial,
            status.serial.clone().unwrap_or_else(|| t.none.to_string()),
        ),
        (t.appliance_id, status.appliance_id.clone()),
        (t.hostname, status.hostname.clone()),
        (t.base_version, status.versions.base.clone()),
        (
            t.site_version,
            status
                .versions
                .site
                .clone()
                .unwrap_or_else(|| t.none.to_string()),
        ),
        (t.slot, status.slot.clone()),
        (t.uptime, duration(status.uptime_seconds)),
        (t.time, status.time.clone()),
        (t.certificate, status.certificate_sha256.clone()),
        (t.update_keys, status.update_keys.trusted.join(", ")),
    ];
    if status.update_keys.development {
        page.error = Some(t.development_build.to_string());
    }
    let mut sections = vec![Section::facts("basics", "", rows)];
    if let Some(record) = &status.sanitization {
        sections.push(super::reset::sanitization_section(ctx.lang, record));
    }
    if let Some(expiring) =
        super::certificate_status::section(ctx.lang, &status.certificates_expiring)
    {
        sections.push(expiring);
    }
    if let Some(backups) = super::backup_status::section(ctx.lang, &status.scheduled_backup) {
        sections.push(backups);
    }
    if let Some(pair) = &status.failover {
        sections.push(super::failover::status_section(ctx.lang, pair));
    }
    ctx.render(
        StatusCode::OK,
        &TablePage {
            page,
            sections,
            power_buttons: true,
        },
    )
}

pub(super) async fn specs(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    let status = match status_or_error(&state, &ctx).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let t = ctx.t();
    let s = &status.specs;
    let yes_no = |b: bool| {
        if b {
            t.synchronized.to_string()
        } else {
            t.not_synchronized.to_string()
        }
    };
    let dash = || "—".to_string();
    let ntp = match state.time.view().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("time state for Specs: {e}");
            return ctx.render(
                StatusCode::INTERNAL_SERVER_ERROR,
                &MessagePage {
                    page: ctx.page(t.error, "specs"),
                    back: "/appliance/status".into(),
                },
            );
        }
    };
    let sections = vec![
        Section::facts(
            "cpu",
            t.cpu,
            vec![
                (
                    t.model,
                    s.cpu
                        .as_ref()
                        .and_then(|c| c.model.clone())
                        .unwrap_or_else(dash),
                ),
                (
                    t.cores,
                    s.cpu
                        .as_ref()
                        .map_or_else(dash, |c| c.logical_cores.to_string()),
                ),
            ],
        ),
        Section::facts(
            "memory",
            t.memory,
            vec![
                (
                    t.total,
                    s.memory
                        .as_ref()
                        .map_or_else(dash, |m| bytes(m.total_bytes)),
                ),
                (
                    t.available,
                    s.memory
                        .as_ref()
                        .map_or_else(dash, |m| bytes(m.available_bytes)),
                ),
            ],
        ),
        Section {
            id: "disks",
            heading: t.disks.to_string(),
            columns: vec![t.name.into(), t.size.into(), t.disk_model.into()],
            rows: s
                .disks
                .iter()
                .map(|d| {
                    vec![
                        d.name.clone(),
                        bytes(d.size_bytes),
                        d.model.clone().unwrap_or_else(dash),
                    ]
                })
                .collect(),
        },
        Section {
            id: "nics",
            heading: t.nics.to_string(),
            columns: vec![
                t.name.into(),
                t.mac.into(),
                t.link.into(),
                t.speed.into(),
                t.addresses.into(),
            ],
            rows: s
                .nics
                .iter()
                .map(|n| {
                    vec![
                        n.name.clone(),
                        n.mac.clone().unwrap_or_else(dash),
                        if n.carrier { t.link_up } else { t.link_down }.to_string(),
                        n.speed_mbps.map_or_else(dash, |m| format!("{m} Mb/s")),
                        n.ipv4
                            .iter()
                            .chain(&n.ipv6)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect(),
        },
        Section::facts(
            "clock",
            t.clock,
            vec![
                (t.time, s.clock.utc.clone()),
                (t.clock_synchronized, yes_no(ntp.synchronized)),
                (
                    t.ntp_source,
                    ntp.server
                        .clone()
                        .or(ntp.daemon_error.clone())
                        .unwrap_or_else(dash),
                ),
                (t.base_version, status.versions.base.clone()),
                (
                    t.site_version,
                    status
                        .versions
                        .site
                        .clone()
                        .unwrap_or_else(|| t.none.to_string()),
                ),
            ],
        ),
    ];
    ctx.render(
        StatusCode::OK,
        &TablePage {
            page: ctx.page(t.nav_specs, "specs"),
            sections,
            power_buttons: false,
        },
    )
}

pub(super) async fn account(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let session = match ctx.require(false) {
        Ok((_, s)) => s,
        Err(r) => return r,
    };
    let audit = state
        .store
        .audit_log(20)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            vec![
                units::rfc3339(e.at),
                e.actor,
                format!("{} ({})", e.action, e.detail),
                e.address.map(|a| a.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    ctx.render(
        StatusCode::OK,
        &AccountPage {
            page: ctx.page(ctx.t().nav_account, "account"),
            username: session.user.to_string(),
            audit,
            totp_link: super::i18n::accounts::text(ctx.lang).manage_totp,
        },
    )
}

#[derive(Template)]
#[template(path = "account.html")]
pub(super) struct AccountPage {
    pub page: Page,
    pub username: String,
    pub audit: Vec<Vec<String>>,
    pub totp_link: &'static str,
}

/// Why a new password was refused, in the page's language.
pub(super) fn weak_reason(lang: Lang, why: &Weak) -> String {
    match lang {
        Lang::En => why.to_string(),
        Lang::Fr => match why {
            Weak::TooShort => format!(
                "il doit avoir au moins {} caractères",
                crate::auth::password::MIN_LENGTH
            ),
            Weak::TooLong => format!(
                "il doit avoir au plus {} caractères",
                crate::auth::password::MAX_LENGTH
            ),
            Weak::Unchanged => "il doit différer du mot de passe actuel".to_string(),
            Weak::Factory => "le mot de passe d'usine ne peut pas être conservé".to_string(),
            Weak::Common => {
                "c'est l'un des mots de passe les plus courants ; choisissez-en un autre"
                    .to_string()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_reasons() {
        assert!(weak_reason(Lang::Fr, &Weak::TooShort).contains("au moins 8"));
        assert_eq!(
            weak_reason(Lang::En, &Weak::TooShort),
            Weak::TooShort.to_string()
        );
    }
}
