//! Certificates (the guide's "Security :: Certificates"): the certificates the appliance
//! serves, each with where it is assigned; import (PEM or PKCS#12, with the warnings the
//! import gives), assign to local addresses, export (PEM, DER, PKCS#12 under a password),
//! request (key made here, CSR shown and downloadable), delete. The same service as
//! `/api/v1/certificates…`; its refusals are the API's sentences, in French on the French
//! page (docs/certificates.md "The page").

use api_types::StoredCertificate;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

use super::i18n::certificates::{self as words, CertText};
use super::layout::Page;
use super::Ctx;
use crate::state::AppState;
use crate::tls::import::IMPORT_LIMIT;
use crate::tls::store::{self, ANY};
use crate::tls::{CertificateError, ImportError};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/appliance/certificates", get(page))
        .route(
            "/appliance/certificates/import",
            // The file (at most IMPORT_LIMIT) and a few short fields.
            post(import).layer(axum::extract::DefaultBodyLimit::max(
                IMPORT_LIMIT + 16 * 1024,
            )),
        )
        .route("/appliance/certificates/request", post(request))
        .route("/appliance/certificates/settings", post(settings))
        .route(
            "/appliance/certificates/requests/{id}/csr",
            get(download_csr),
        )
        .route("/appliance/certificates/{id}/assign", post(assign))
        .route("/appliance/certificates/{id}/export", post(export))
        .route("/appliance/certificates/{id}/delete", post(delete))
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct CertificatesPage {
    page: Page,
    c: &'static CertText,
    certificates: Vec<Shown>,
    pending: Vec<[String; 4]>,
    warnings: Vec<String>,
    /// A request just made: its id and CSR.
    csr: Option<(String, String)>,
    /// Minimum TLS version and HSTS.
    tls: api_types::CertificateSettings,
    /// The key types a request may ask for: (value, label).
    key_types: Vec<(&'static str, &'static str)>,
}

/// A local address the assign form offers: (value, label).
struct Choice {
    value: String,
    label: String,
}

/// One certificate as the page shows it.
struct Shown {
    id: String,
    name: String,
    self_signed: bool,
    /// (id, label, value).
    facts: Vec<[String; 3]>,
    /// `expired`, `soon` or empty.
    mark: &'static str,
    mark_text: &'static str,
    /// The assign form's boxes: (value, label, checked).
    choices: Vec<(String, String, bool)>,
    deletable: bool,
}

impl Shown {
    fn new(c: &CertText, s: &StoredCertificate, choices: &[Choice], now: i64) -> Shown {
        let (mark, mark_text) = if s.not_after.as_str() < store::rfc3339(now).as_str() {
            ("expired", c.expired)
        } else if s.not_after.as_str() < store::rfc3339(now + SOON).as_str() {
            ("soon", c.expires_soon)
        } else {
            ("", "")
        };
        let assigned = if s.assigned.is_empty() {
            c.not_assigned.to_string()
        } else {
            s.assigned
                .iter()
                .map(|a| {
                    if a == ANY {
                        c.every_other_address.to_string()
                    } else {
                        a.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut facts = vec![
            ("subject", c.subject, s.subject.clone()),
            ("issuer", c.issuer, s.issuer.clone()),
            ("sans", c.sans, s.sans.join(", ")),
            (
                "validity",
                c.validity,
                format!(
                    "{} {} {} {}",
                    c.valid_from, s.not_before, c.valid_until, s.not_after
                ),
            ),
            ("key-type", c.key_type, s.key_type.clone()),
            ("fingerprint", c.fingerprint, s.sha256.clone()),
            ("assigned", c.assigned_to, assigned),
        ];
        if s.chain_length > 0 {
            facts.push(("chain", c.chain, format!("+{}", s.chain_length)));
        }
        // The self-signed certificate takes only `*`; an address assigned to one that
        // this appliance does not have (a restored backup's) stays offered.
        let mut offered: Vec<(String, String)> = if s.self_signed {
            Vec::new()
        } else {
            choices
                .iter()
                .map(|ch| (ch.value.clone(), ch.label.clone()))
                .collect()
        };
        for a in &s.assigned {
            if a != ANY && !offered.iter().any(|(v, _)| v == a) {
                offered.push((a.clone(), a.clone()));
            }
        }
        offered.push((ANY.to_string(), c.every_other_address.to_string()));
        Shown {
            id: s.id.clone(),
            name: s.name.clone(),
            self_signed: s.self_signed,
            facts: facts
                .into_iter()
                .map(|(id, label, value)| [id.to_string(), label.to_string(), value])
                .collect(),
            mark,
            mark_text,
            choices: offered
                .into_iter()
                .map(|(value, label)| {
                    let checked = s.assigned.contains(&value);
                    (value, label, checked)
                })
                .collect(),
            deletable: !s.self_signed && s.assigned.is_empty(),
        }
    }
}

/// Under this many seconds to its end a certificate is marked "expires soon" (as the
/// import's warning).
const SOON: i64 = 30 * 86_400;

/// The appliance's current local addresses (the network status: static, DHCP and shared
/// addresses of each NIC; loopback and the machine's other addresses as the TLS server
/// sees them), each once, IPv4 first.
async fn choices(state: &AppState) -> Vec<Choice> {
    let mut out: Vec<(IpAddr, String)> = Vec::new();
    let mut add = |ip: IpAddr, label: String| {
        if !out.iter().any(|(a, _)| *a == ip) {
            out.push((ip, label));
        }
    };
    if let Some(view) = state.net.view().await {
        for nic in &view.interfaces {
            for a in &nic.addresses {
                if a.origin == "link-local" {
                    continue;
                }
                let ip = a.address.split('/').next().unwrap_or("");
                if let Ok(ip) = ip.parse::<IpAddr>() {
                    add(ip, format!("{ip} ({}, {})", nic.name, a.origin));
                }
            }
        }
        for shared in view.shared_ips.iter().filter(|s| s.held) {
            if let Ok(ip) = shared.address.parse::<IpAddr>() {
                let nic = shared.interface_name.as_deref().unwrap_or("");
                add(ip, format!("{ip} ({nic}, shared)"));
            }
        }
    }
    for ip in crate::tls::local_addresses() {
        add(ip, ip.to_string());
    }
    out.sort_by_key(|(ip, _)| (ip.is_ipv6(), *ip));
    out.into_iter()
        .map(|(ip, label)| Choice {
            value: ip.to_string(),
            label,
        })
        .collect()
}

/// What a form's answer adds to the page.
#[derive(Default)]
struct Extra {
    status: Option<StatusCode>,
    notice: Option<String>,
    error: Option<String>,
    warnings: Vec<String>,
    csr: Option<(String, String)>,
}

impl Extra {
    fn notice(text: String) -> Self {
        Extra {
            notice: Some(text),
            ..Extra::default()
        }
    }

    /// A refusal, after `what` failed, in the page's language.
    fn refused(c: &CertText, what: &str, (status, message): (StatusCode, String)) -> Self {
        Extra {
            status: Some(status),
            error: Some(format!("{what}{}{message}", c.colon)),
            ..Extra::default()
        }
    }
}

async fn page(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    render(&state, &ctx, Extra::default()).await
}

/// The page after `extra`'s form answer.
async fn render(state: &AppState, ctx: &Ctx, extra: Extra) -> Response {
    let c = words::text(ctx.lang);
    let mut page = ctx.page(c.title, "certificates");
    page.notice = extra.notice;
    page.error = extra.error;
    let offered = choices(state).await;
    let now = store::now();
    let certificates = state
        .tls
        .list()
        .iter()
        .map(|s| Shown::new(c, s, &offered, now))
        .collect();
    let pending = state
        .tls
        .pending()
        .into_iter()
        .map(|p| {
            [
                p.id,
                p.names.join(", "),
                p.key_type,
                store::rfc3339(p.created),
            ]
        })
        .collect();
    ctx.render(
        extra.status.unwrap_or(StatusCode::OK),
        &CertificatesPage {
            page,
            c,
            certificates,
            pending,
            warnings: extra.warnings,
            csr: extra.csr,
            tls: state.tls.settings(),
            key_types: KEY_TYPES.to_vec(),
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

/// The import form (multipart): `csrf`, `password`, `name` and `file`, read whole (the file
/// at most [`IMPORT_LIMIT`]), then checked and imported.
async fn import(
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
    let c = words::text(ctx.lang);
    let fail =
        |e: (StatusCode, String)| render(&state, &ctx, Extra::refused(c, c.import_failed, e));
    let unreadable = |message: String| (StatusCode::BAD_REQUEST, message);
    let (mut csrf, mut password, mut current, mut name, mut file) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        None,
    );
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return fail(unreadable(e.body_text())).await,
        };
        let target = match field.name() {
            Some("csrf") => &mut csrf,
            Some("password") => &mut password,
            Some("current_password") => &mut current,
            Some("name") => &mut name,
            Some("file") => {
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) if bytes.len() + chunk.len() > IMPORT_LIMIT => {
                            let too_large = ImportError::TooLarge {
                                limit: IMPORT_LIMIT,
                            };
                            return fail(words::error(
                                ctx.lang,
                                CertificateError::Refused(too_large),
                            ))
                            .await;
                        }
                        Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                        Ok(None) => break,
                        Err(e) => return fail(unreadable(e.body_text())).await,
                    }
                }
                file = Some(bytes);
                continue;
            }
            _ => continue,
        };
        match super::updates::short_field(field).await {
            Ok(text) => *target = text,
            Err(message) => return fail(unreadable(message)).await,
        }
    }
    if let Err(r) = ctx.check_csrf(&session, &csrf) {
        return r;
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return fail((StatusCode::UNPROCESSABLE_ENTITY, c.no_file.to_string())).await;
    };
    if let Err(refused) = ctx
        .confirm_password(&state, &session.user, &current, "a certificate import")
        .await
    {
        return fail(refused).await;
    }
    let password = (!password.is_empty()).then_some(password);
    let name = (!name.trim().is_empty()).then(|| name.trim().to_string());
    let extra = match state
        .tls
        .import(bytes, password, name, &session.user, ctx.address)
        .await
    {
        Ok(done) => {
            let mut notice = c.imported.replace("{name}", &done.certificate.name);
            if done.from_request {
                notice = format!("{notice} {}", c.imported_from_request);
            }
            Extra {
                status: Some(StatusCode::CREATED),
                warnings: done
                    .warnings
                    .iter()
                    .map(|w| words::warning(ctx.lang, w))
                    .collect(),
                ..Extra::notice(notice)
            }
        }
        Err(e) => Extra::refused(c, c.import_failed, words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra).await
}

/// The assign form: `csrf` and an `address` per ticked box.
async fn assign(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str());
    let user = user_or_return!(ctx, csrf);
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let c = words::text(ctx.lang);
    let current = fields
        .iter()
        .find(|(k, _)| k == "current_password")
        .map_or("", |(_, v)| v.as_str());
    if let Err(refused) = ctx
        .confirm_password(&state, &user, current, "a certificate assignment")
        .await
    {
        return render(&state, &ctx, Extra::refused(c, c.change_failed, refused)).await;
    }
    let addresses = fields
        .iter()
        .filter(|(k, _)| k == "address")
        .map(|(_, v)| v.clone())
        .collect();
    let extra = match state.tls.assign(&id, addresses, &user, ctx.address).await {
        Ok(_) => Extra::notice(c.assigned.to_string()),
        Err(e) => Extra::refused(c, c.change_failed, words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra).await
}

#[derive(Deserialize)]
struct ExportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// The export form: the file as a download, or the page with the refusal.
async fn export(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<ExportForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    let c = words::text(ctx.lang);
    let with_key = form.format == "pkcs12";
    if with_key && form.password != form.confirm {
        let differ = (
            StatusCode::UNPROCESSABLE_ENTITY,
            c.passwords_differ.to_string(),
        );
        return render(&state, &ctx, Extra::refused(c, c.export_failed, differ)).await;
    }
    let password = with_key.then_some(form.password);
    match state
        .tls
        .export(&id, &form.format, password, &user, ctx.address)
        .await
    {
        Ok(file) => crate::api::certificates::download(file),
        Err(e) => {
            let extra = Extra::refused(c, c.export_failed, words::error(ctx.lang, e));
            render(&state, &ctx, extra).await
        }
    }
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
}

async fn delete(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let c = words::text(ctx.lang);
    if let Err(refused) = ctx
        .confirm_password(
            &state,
            &user,
            &form.current_password,
            "a certificate deletion",
        )
        .await
    {
        return render(&state, &ctx, Extra::refused(c, c.change_failed, refused)).await;
    }
    let extra = match state.tls.delete(&id, &user, ctx.address).await {
        Ok(()) => Extra::notice(c.deleted.to_string()),
        Err(e) => Extra::refused(c, c.change_failed, words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra).await
}

/// The request form's key types, as `tls::keygen::OFFERED`.
const KEY_TYPES: [(&str, &str); 5] = [
    ("ecdsa-p256", "ECDSA P-256"),
    ("ecdsa-p384", "ECDSA P-384"),
    ("rsa-2048", "RSA 2048"),
    ("rsa-3072", "RSA 3072"),
    ("rsa-4096", "RSA 4096"),
];

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    min_tls_version: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    hsts: Option<String>,
}

/// The TLS settings form: minimum version and HSTS.
async fn settings(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<SettingsForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let c = words::text(ctx.lang);
    let wanted = api_types::CertificateSettings {
        min_tls_version: form.min_tls_version,
        hsts: form.hsts.is_some(),
    };
    let extra = match state.tls.set_settings(wanted, &user, ctx.address).await {
        Ok(_) => Extra::notice(c.tls_saved.to_string()),
        Err(e) => Extra::refused(c, c.change_failed, words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra).await
}

#[derive(Deserialize)]
struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    names: String,
    #[serde(default)]
    key: String,
}

/// Names typed one per line or separated by commas or spaces.
fn names_of(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

async fn request(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(form): Form<RequestForm>,
) -> Response {
    let user = user_or_return!(ctx, &form.csrf);
    if let Err(r) = ctx.not_backup() {
        return r;
    }
    let c = words::text(ctx.lang);
    let key = (!form.key.is_empty()).then_some(form.key);
    let extra = match state
        .tls
        .request(names_of(&form.names), key, &user, ctx.address)
        .await
    {
        Ok(done) => Extra {
            status: Some(StatusCode::CREATED),
            csr: Some((done.id, done.csr)),
            ..Extra::notice(c.requested.to_string())
        },
        Err(e) => Extra::refused(c, c.request_failed, words::error(ctx.lang, e)),
    };
    render(&state, &ctx, extra).await
}

/// A pending request's CSR as a file.
async fn download_csr(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    match state.tls.pending().into_iter().find(|p| p.id == id) {
        Some(p) => (
            [
                (header::CONTENT_TYPE, "application/pkcs10".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    // The id is 16 hex digits (made here).
                    format!("attachment; filename=\"request-{}.csr\"", p.id),
                ),
            ],
            p.csr,
        )
            .into_response(),
        None => {
            let e = CertificateError::NotFound(id);
            let c = words::text(ctx.lang);
            render(
                &state,
                &ctx,
                Extra::refused(c, c.change_failed, words::error(ctx.lang, e)),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;

    #[test]
    fn names_are_split_on_lines_commas_and_spaces() {
        assert_eq!(
            names_of("a.example.test, b.example.test\n10.0.0.1\r\n\n"),
            ["a.example.test", "b.example.test", "10.0.0.1"]
        );
        assert!(names_of(" \n ").is_empty());
    }

    #[test]
    fn expiry_marks() {
        let c = words::text(Lang::En);
        let mut s = StoredCertificate {
            not_after: store::rfc3339(1_000 + 10 * 86_400),
            ..StoredCertificate::default()
        };
        assert_eq!(Shown::new(c, &s, &[], 1_000).mark, "soon");
        s.not_after = store::rfc3339(500);
        assert_eq!(Shown::new(c, &s, &[], 1_000).mark, "expired");
        s.not_after = store::rfc3339(1_000 + 90 * 86_400);
        assert_eq!(Shown::new(c, &s, &[], 1_000).mark, "");
    }
}
