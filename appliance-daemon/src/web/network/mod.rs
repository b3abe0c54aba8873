//! Networking > IP configuration: what each NIC has now (link, addresses, DHCP lease,
//! routes), the shared IPs with their live state and history, name servers and host name,
//! and the forms that change them. A form builds the same settings value as
//! `PUT /api/v1/network` and goes through the same network manager (validation, shared IP
//! probe, apply, confirm-or-revert); "Keep these settings" is `POST /api/v1/network/confirm`.
//! The count down to the revert is a served script; without it the page states the
//! deadline.

mod form;
mod moved;
mod words;

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use std::sync::Arc;

use super::layout::{MessagePage, Page};
use super::Ctx;
use crate::net::view::{shared_ip_history, InterfaceView, SharedIpView};
use crate::net::{Actor, ConfirmError, NetworkConfig, NetworkView, Problem, PutError};
use crate::state::AppState;
use form::{NetForm, NicRow, Section, SharedRow};
use moved::Moved;
use units::rfc3339;
use words::{words, Words};

/// Audit entries searched for the last network change's fate.
const AUDIT_SCAN: usize = 500;

#[derive(Template)]
#[template(path = "network.html")]
pub(super) struct NetworkPage {
    pub page: Page,
    pub w: &'static Words,
    pub notes: Vec<String>,
    pub pending: Option<PendingPart>,
    pub reverted: Option<String>,
    pub nics: Vec<NicPart>,
    /// The fields outside the NIC and shared IP rows, with their problems.
    pub form: NetForm,
    pub dns_now: Vec<(String, String)>,
    pub shared: Vec<SharedPart>,
    /// (MAC, label) of each NIC present, for the shared IP's interface.
    pub nic_options: Vec<(String, String)>,
    pub history: Vec<Vec<String>>,
}

pub(super) struct PendingPart {
    pub seconds: u64,
    pub after: String,
    pub by: String,
    pub moved: Option<Moved>,
    /// The moved notice's sentence, with the old address.
    pub moved_text: String,
}

pub(super) struct NicPart {
    pub n: usize,
    pub row: NicRow,
    pub facts: Vec<(String, Vec<String>)>,
}

pub(super) struct SharedPart {
    pub k: usize,
    pub row: SharedRow,
    pub state: String,
    pub detail: String,
}

/// What a render shows besides the view.
#[derive(Default)]
struct Extra {
    notice: Option<String>,
    error: Option<String>,
    /// The administrator's input, shown again after a refusal.
    form: Option<NetForm>,
    moved: Option<Moved>,
}

pub(super) async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, StatusCode::OK, Extra::default()).await
}

async fn render(state: &AppState, ctx: &Ctx, status: StatusCode, extra: Extra) -> Response {
    match state.net.view().await {
        Some(view) => render_view(state, ctx, status, with_history(state, view), extra),
        None => unavailable(ctx),
    }
}

fn unavailable(ctx: &Ctx) -> Response {
    let mut page = ctx.page(ctx.t().nav_network, "network");
    page.error = Some(words(ctx.lang).unavailable.to_string());
    ctx.render(
        StatusCode::SERVICE_UNAVAILABLE,
        &MessagePage {
            page,
            back: "/appliance/status".into(),
        },
    )
}

fn render_view(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    view: NetworkView,
    extra: Extra,
) -> Response {
    let w = words(ctx.lang);
    let mut page = ctx.page(ctx.t().nav_network, "network");
    page.notice = extra.notice;
    page.error = extra.error;
    let mut form = extra.form.unwrap_or_else(|| NetForm::new(&view));
    let mut notes = view.notes.clone();
    if view.factory_default {
        notes.push(w.factory_default.to_string());
    }
    let pending = view.pending.as_ref().map(|p| PendingPart {
        seconds: p.seconds_left,
        after: w.pending_after.replace("{deadline}", &rfc3339(p.deadline)),
        by: w.pending_by.replace("{user}", &p.by).replace(
            "{address}",
            &p.from.map_or_else(|| "—".into(), |a| a.to_string()),
        ),
        moved_text: extra
            .moved
            .as_ref()
            .map(|m| w.moved.replace("{old}", &m.old))
            .unwrap_or_default(),
        moved: extra.moved.clone(),
    });
    let reverted = if view.pending.is_none() {
        last_revert(state, w)
    } else {
        None
    };
    let nics = std::mem::take(&mut form.nics)
        .into_iter()
        .enumerate()
        .map(|(n, row)| {
            let facts = view
                .interfaces
                .iter()
                .find(|i| i.mac == row.mac)
                .map(|i| nic_facts(ctx, w, i))
                .unwrap_or_default();
            NicPart { n, row, facts }
        })
        .collect();
    let mut shared: Vec<SharedPart> = std::mem::take(&mut form.shared)
        .into_iter()
        .enumerate()
        .map(|(k, row)| {
            let live = view
                .shared_ips
                .iter()
                .find(|s| s.address == row.address && s.interface == row.interface);
            let (state, detail) = live.map(|s| shared_state(w, s)).unwrap_or_default();
            SharedPart {
                k,
                row,
                state,
                detail,
            }
        })
        .collect();
    shared.push(SharedPart {
        k: shared.len(),
        row: SharedRow {
            address: String::new(),
            interface: view
                .interfaces
                .first()
                .map(|i| i.mac.clone())
                .unwrap_or_default(),
            enabled: false,
            errors: Vec::new(),
        },
        state: String::new(),
        detail: String::new(),
    });
    let t = ctx.t();
    let dash = || "—".to_string();
    let list = |l: &[String]| {
        if l.is_empty() {
            dash()
        } else {
            l.join(", ")
        }
    };
    let dns_now = vec![
        (w.in_use_now.to_string(), list(&view.dns.servers)),
        (w.search_now.to_string(), list(&view.dns.search)),
        (t.hostname.to_string(), view.hostname.clone()),
    ];
    let history = view
        .shared_ip_history
        .iter()
        .map(|e| {
            vec![
                rfc3339(e.at),
                e.actor.clone(),
                e.address.map(|a| a.to_string()).unwrap_or_default(),
                e.detail.clone(),
            ]
        })
        .collect();
    let nic_options = view
        .interfaces
        .iter()
        .map(|i| (i.mac.clone(), format!("{} ({})", i.name, i.mac)))
        .collect();
    ctx.render(
        status,
        &NetworkPage {
            page,
            w,
            notes,
            pending,
            reverted,
            nics,
            form,
            dns_now,
            shared,
            nic_options,
            history,
        },
    )
}

/// One NIC's state as label and lines.
fn nic_facts(ctx: &Ctx, w: &Words, i: &InterfaceView) -> Vec<(String, Vec<String>)> {
    let t = ctx.t();
    let mut facts = vec![
        (t.mac.to_string(), vec![i.mac.clone()]),
        (
            w.cable.to_string(),
            vec![if i.carrier { w.cable_in } else { w.cable_out }.to_string()],
        ),
        (
            w.state.to_string(),
            vec![if !i.configured {
                w.not_configured.to_string()
            } else if i.up {
                t.link_up.to_string()
            } else {
                t.link_down.to_string()
            }],
        ),
        (w.mtu.to_string(), vec![i.mtu.to_string()]),
        (
            t.addresses.to_string(),
            i.addresses
                .iter()
                .map(|a| {
                    let origin = match a.origin {
                        "static" => w.origin_static,
                        "dhcp" => w.origin_dhcp,
                        "shared" => w.origin_shared,
                        "link-local" => w.origin_link_local,
                        _ => w.origin_other,
                    };
                    match a.valid_seconds {
                        Some(s) => format!(
                            "{} ({origin}, {})",
                            a.address,
                            w.expires_in.replace("{seconds}", &s.to_string())
                        ),
                        None => format!("{} ({origin})", a.address),
                    }
                })
                .collect(),
        ),
    ];
    if let Some(d) = &i.dhcp {
        let phase = match d.state {
            "waiting" => w.dhcp_waiting,
            "bound" => w.dhcp_bound,
            "renewing" => w.dhcp_renewing,
            "rebinding" => w.dhcp_rebinding,
            "failed" => w.dhcp_failed,
            _ => w.dhcp_off,
        };
        let mut lines = vec![format!("{phase}, {} {}", w.since, rfc3339(d.since))];
        if d.state == "failed" {
            lines.push(d.message.clone());
        }
        facts.push((w.dhcp.to_string(), lines));
        let lease = match &d.lease {
            Some(l) => {
                let mut text = w
                    .lease_text
                    .replace("{address}", &l.address)
                    .replace("{gateway}", l.gateway.as_deref().unwrap_or("—"))
                    .replace("{server}", l.server.as_deref().unwrap_or("—"));
                if let Some(s) = l.expires_in {
                    text = format!(
                        "{text} ({})",
                        w.expires_in.replace("{seconds}", &s.to_string())
                    );
                }
                let mut lines = vec![text];
                if !l.dns.is_empty() {
                    lines.push(format!("DNS {}", l.dns.join(", ")));
                }
                lines
            }
            None => vec![w.no_lease.to_string()],
        };
        facts.push((w.lease.to_string(), lease));
    }
    facts.push((
        w.routes.to_string(),
        i.routes
            .iter()
            .map(|r| {
                let origin = if r.origin == "dhcp" {
                    w.origin_dhcp
                } else {
                    w.origin_static
                };
                match &r.gateway {
                    Some(g) => format!("{} via {g} ({origin})", r.destination),
                    None => format!("{} ({origin})", r.destination),
                }
            })
            .collect(),
    ));
    facts
}

/// A shared IP's live state, and what goes with it.
fn shared_state(w: &Words, s: &SharedIpView) -> (String, String) {
    let state = match s.state {
        "held" => w.shared_held,
        "conflict" => w.shared_conflict,
        "interface_missing" => w.shared_missing,
        "simulated" => w.shared_simulated,
        "standby" => w.shared_standby,
        _ => w.shared_disabled,
    };
    let mut detail = Vec::new();
    if let Some(role) = s.role {
        let role = if role == "primary" {
            w.role_primary
        } else {
            w.role_backup
        };
        detail.push(w.shared_by_role.replace("{role}", role));
    }
    if let Some(since) = s.since {
        detail.push(format!("{} {}", w.since, rfc3339(since)));
    }
    if let Some(last) = s.last_announced {
        detail.push(
            w.announced
                .replace("{count}", &s.announcements.to_string())
                .replace("{at}", &rfc3339(last)),
        );
    }
    if let Some(c) = &s.conflict {
        detail.push(
            w.conflict_seen
                .replace("{mac}", &c.mac)
                .replace("{at}", &rfc3339(c.at)),
        );
    }
    (state.to_string(), detail.join("; "))
}

/// The revert notice, when the last network change was undone by its deadline.
fn last_revert(state: &AppState, w: &Words) -> Option<String> {
    let log = state.store.audit_log(AUDIT_SCAN).ok()?;
    let last = log.iter().find(|e| {
        matches!(
            e.action.as_str(),
            "network.change" | "network.confirm" | "network.revert"
        )
    })?;
    if last.action != "network.revert" {
        return None;
    }
    let user = last
        .detail
        .strip_prefix("the change by ")
        .and_then(|d| d.split(' ').next())
        .unwrap_or("—");
    Some(
        w.reverted
            .replace("{user}", user)
            .replace("{at}", &rfc3339(last.at)),
    )
}

fn posted<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// One of the page's forms (`section`: interfaces, dns or shared), applied as
/// `PUT /api/v1/network` would.
pub(super) async fn save(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let session = match ctx.form_session(false, posted(&fields, "csrf")) {
        Ok((_, s)) => s.clone(),
        Err(r) => return r,
    };
    let w = words(ctx.lang);
    let fail = |status, error: String, form| {
        let extra = Extra {
            error: Some(error),
            form,
            ..Extra::default()
        };
        render(&state, &ctx, status, extra)
    };
    let Some(section) = Section::parse(posted(&fields, "section")) else {
        return fail(StatusCode::BAD_REQUEST, w.unknown_form.to_string(), None).await;
    };
    let Some(before) = state.net.view().await else {
        return unavailable(&ctx);
    };
    let mut form = NetForm::new(&before);
    form.take(section, &fields);
    let invalid = |form: &mut NetForm, problems: &[Problem], config: &NetworkConfig| {
        form.place(problems, config);
        let mut text = w.invalid.replace("{count}", &problems.len().to_string());
        for other in &form.other_errors {
            text = format!("{text} {other}");
        }
        text
    };
    let config = match form.settings(section, &before.config) {
        Ok(c) => c,
        Err(unreadable) => {
            let text = invalid(&mut form, &unreadable.problems, &unreadable.config);
            return fail(StatusCode::UNPROCESSABLE_ENTITY, text, Some(form)).await;
        }
    };
    let actor = Actor::new(&session.user, ctx.address, state.mode);
    match state.net.put(config.clone(), actor).await {
        Ok(after) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let moved = moved::moved(host, &before, &after);
            let notice = after.pending.is_none().then(|| w.saved.to_string());
            let after = with_history(&state, after);
            let extra = Extra {
                notice,
                moved,
                ..Extra::default()
            };
            render_view(&state, &ctx, StatusCode::OK, after, extra)
        }
        Err(PutError::Invalid(problems)) => {
            let text = invalid(&mut form, &problems, &config);
            fail(StatusCode::UNPROCESSABLE_ENTITY, text, Some(form)).await
        }
        Err(PutError::WouldDisconnect(_)) => {
            let text = w.would_disconnect.to_string();
            fail(StatusCode::UNPROCESSABLE_ENTITY, text, Some(form)).await
        }
        Err(PutError::AddressInUse { address, mac }) => {
            let text = w
                .address_in_use
                .replace("{address}", &address)
                .replace("{mac}", &mac);
            form.mark_shared(&address, text.clone());
            fail(StatusCode::CONFLICT, text, Some(form)).await
        }
        Err(PutError::ApplyFailed(message)) => {
            let text = format!("{}: {message}", w.apply_failed);
            fail(StatusCode::INTERNAL_SERVER_ERROR, text, Some(form)).await
        }
        Err(PutError::Stopped) => unavailable(&ctx),
    }
}

fn with_history(state: &AppState, mut view: NetworkView) -> NetworkView {
    match shared_ip_history(&state.store) {
        Ok(h) => view.shared_ip_history = h,
        Err(err) => tracing::warn!("network page: cannot read the shared IP history: {err}"),
    }
    view
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct KeepForm {
    #[serde(default)]
    csrf: String,
}

/// "Keep these settings": `POST /api/v1/network/confirm`.
pub(super) async fn keep(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(f): Form<KeepForm>,
) -> Response {
    let session = match ctx.form_session(false, &f.csrf) {
        Ok((_, s)) => s.clone(),
        Err(r) => return r,
    };
    let w = words(ctx.lang);
    let actor = Actor::new(&session.user, ctx.address, state.mode);
    let (status, extra) = match state.net.confirm(actor).await {
        Ok(view) => {
            let extra = Extra {
                notice: Some(w.kept.to_string()),
                ..Extra::default()
            };
            return render_view(
                &state,
                &ctx,
                StatusCode::OK,
                with_history(&state, view),
                extra,
            );
        }
        Err(ConfirmError::NothingPending) => (StatusCode::CONFLICT, w.too_late.to_string()),
        Err(ConfirmError::Store(err)) => {
            tracing::error!("network page: keeping the settings failed: {err}");
            (StatusCode::INTERNAL_SERVER_ERROR, err)
        }
        Err(ConfirmError::Stopped) => return unavailable(&ctx),
    };
    let extra = Extra {
        error: Some(extra),
        ..Extra::default()
    };
    render(&state, &ctx, status, extra).await
}
