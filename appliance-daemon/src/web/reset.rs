//! The factory reset in the admin interface: a confirmation page (reached from Status >
//! Basics) where the administrator types the confirmation word and chooses what follows,
//! and, after a reset, the sanitization record on Status > Basics. The words of these
//! pages live here, in both languages.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use std::sync::Arc;

use grubenv::Then;

use super::i18n::Lang;
use super::layout::{bytes, GoingDownPage, Page, Section};
use super::Ctx;
use crate::reset::{SanitizationRecord, CONFIRMATION};
use crate::state::AppState;

pub(super) struct Words {
    erases: &'static str,
    keeps: &'static str,
    type_word: &'static str,
    then: &'static str,
    power_off: &'static str,
    restart: &'static str,
    button: &'static str,
    wrong_word: &'static str,
    resetting: &'static str,
    resetting_off: &'static str,
    resetting_restart: &'static str,
    record: &'static str,
    method: &'static str,
    device: &'static str,
    erased: &'static str,
    started: &'static str,
    finished: &'static str,
    verified: &'static str,
    verified_text: &'static str,
    interruptions: &'static str,
    factory: &'static str,
}

const EN: Words = Words {
    erases: "A factory reset erases every setting, account, password, certificate, log and uploaded file, and restores the factory system. The appliance gets a new identity: download keys issued before no longer match.",
    keeps: "The appliance restarts at once; the erasure runs before the system starts (a few minutes for large disks) and survives a power cut. Afterwards it answers at its factory network settings with admin / password.",
    type_word: "To confirm, type",
    then: "When the reset is done",
    power_off: "power off (to ship the appliance)",
    restart: "restart",
    button: "Erase everything and reset",
    wrong_word: "The confirmation word does not match; nothing was started.",
    resetting: "Factory reset",
    resetting_off: "The appliance is restarting to erase its data and restore the factory system; it then powers off.",
    resetting_restart: "The appliance is restarting to erase its data and restore the factory system; it then starts with the factory settings. This page follows it.",
    record: "Sanitization record",
    method: "Method",
    device: "Device",
    erased: "Erased",
    started: "Started (UTC)",
    finished: "Finished (UTC)",
    verified: "Verified",
    verified_text: "blocks of 1 MiB spread over the device read back as zeroes",
    interruptions: "Resumed after interruptions",
    factory: "Factory system restored",
};

const FR: Words = Words {
    erases: "Une réinitialisation d'usine efface tous les réglages, comptes, mots de passe, certificats, journaux et fichiers téléversés, et restaure le système d'usine. L'appliance reçoit une nouvelle identité : les clés de téléchargement émises avant ne correspondent plus.",
    keeps: "L'appliance redémarre aussitôt ; l'effacement a lieu avant le démarrage du système (quelques minutes pour les grands disques) et résiste à une coupure de courant. Ensuite elle répond avec ses réglages réseau d'usine et admin / password.",
    type_word: "Pour confirmer, saisissez",
    then: "Une fois la réinitialisation terminée",
    power_off: "éteindre (pour expédier l'appliance)",
    restart: "redémarrer",
    button: "Tout effacer et réinitialiser",
    wrong_word: "Le mot de confirmation ne correspond pas ; rien n'a été lancé.",
    resetting: "Réinitialisation d'usine",
    resetting_off: "L'appliance redémarre pour effacer ses données et restaurer le système d'usine ; elle s'éteint ensuite.",
    resetting_restart: "L'appliance redémarre pour effacer ses données et restaurer le système d'usine ; elle démarre ensuite avec les réglages d'usine. Cette page la suit.",
    record: "Rapport d'effacement",
    method: "Méthode",
    device: "Périphérique",
    erased: "Effacé",
    started: "Début (UTC)",
    finished: "Fin (UTC)",
    verified: "Vérification",
    verified_text: "blocs de 1 Mio répartis sur le périphérique relus à zéro",
    interruptions: "Reprises après interruption",
    factory: "Système d'usine restauré",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

#[derive(Template)]
#[template(path = "factory_reset.html")]
pub(super) struct FactoryResetPage {
    pub page: Page,
    pub w: &'static Words,
}

fn form(ctx: &Ctx, status: StatusCode, error: Option<String>) -> Response {
    let mut page = ctx.page(ctx.t().factory_reset, "basics");
    page.error = error;
    ctx.render(
        status,
        &FactoryResetPage {
            page,
            w: words(ctx.lang),
        },
    )
}

pub(super) async fn confirm_page(ctx: Ctx) -> Response {
    if let Err(r) = ctx.require(false) {
        return r;
    }
    form(&ctx, StatusCode::OK, None)
}

#[derive(Debug, Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    then: String,
    #[serde(default)]
    current_password: String,
}

pub(super) async fn request(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    Form(f): Form<ResetForm>,
) -> Response {
    let session = match ctx.require(false) {
        Ok((_, s)) => s,
        Err(r) => return r,
    };
    if let Err(r) = ctx.check_csrf(session, &f.csrf) {
        return r;
    }
    let w = words(ctx.lang);
    if f.confirm.trim() != CONFIRMATION {
        return form(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(w.wrong_word.to_string()),
        );
    }
    if let Err((status, message)) = ctx
        .confirm_password(
            &state,
            &session.user,
            &f.current_password,
            "a factory reset",
        )
        .await
    {
        return form(&ctx, status, Some(message));
    }
    let then = Then::parse(&f.then).unwrap_or(Then::PowerOff);
    let started = crate::reset::start(
        &state.updater,
        &state.shutdown,
        &state.store,
        &session.user,
        ctx.address,
        then,
    )
    .await;
    if let Err(err) = started {
        let err = crate::api::ApiError::from(err);
        return form(&ctx, err.status, Some(err.message));
    }
    let (action, text) = match then {
        Then::PowerOff => ("shutdown", w.resetting_off),
        Then::Reboot => ("restart", w.resetting_restart),
    };
    ctx.render(
        StatusCode::ACCEPTED,
        &GoingDownPage {
            page: ctx.page(w.resetting, ""),
            action,
            text,
        },
    )
}

/// The record's facts for Status > Basics.
pub(super) fn sanitization_section(lang: Lang, r: &SanitizationRecord) -> Section {
    let w = words(lang);
    let mut rows = vec![
        (w.method, format!("{} — {}", r.method, r.method_detail)),
        (w.device, r.device.clone()),
        (w.erased, format!("{} ({} bytes)", bytes(r.bytes), r.bytes)),
        (w.started, r.started.clone()),
        (w.finished, r.finished.clone()),
        (
            w.verified,
            format!("{} {}", r.verified_samples, w.verified_text),
        ),
        (w.interruptions, r.interruptions.to_string()),
    ];
    if let Some(version) = &r.factory_version {
        rows.push((w.factory, version.clone()));
    }
    Section {
        id: "sanitization",
        heading: w.record.to_string(),
        columns: Vec::new(),
        rows: rows
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_asks_for_the_word_and_defaults_to_power_off() {
        for lang in [Lang::En, Lang::Fr] {
            let page = FactoryResetPage {
                page: Page {
                    t: lang.text(),
                    lang: lang.code(),
                    title: lang.text().factory_reset.to_string(),
                    user: Some("admin".into()),
                    csrf: "c0ffee".into(),
                    nav: "basics",
                    notice: None,
                    error: None,
                    managed: None,
                },
                w: words(lang),
            };
            let html = page.render().unwrap();
            assert!(html.contains(r#"action="/appliance/system/factory-reset""#));
            assert!(html.contains(r#"name="csrf" value="c0ffee""#));
            assert!(html.contains(r#"name="confirm""#));
            assert!(html.contains(r#"value="poweroff" id="then-poweroff" checked"#));
            assert!(html.contains("<code>factory-reset</code>"));
        }
    }

    #[test]
    fn the_record_section_lists_method_device_bytes_and_times() {
        let r = SanitizationRecord {
            method: "zeroout".into(),
            method_detail: "BLKZEROOUT".into(),
            device: "/dev/sda6".into(),
            bytes: 8 << 30,
            verified_samples: 64,
            started: "2030-01-02T03:04:05Z".into(),
            finished: "2030-01-02T03:06:00Z".into(),
            factory_version: Some("1.0.0".into()),
            ..Default::default()
        };
        let s = sanitization_section(Lang::En, &r);
        let text: Vec<String> = s.rows.iter().map(|r| r.join(": ")).collect();
        assert!(text.contains(&"Method: zeroout — BLKZEROOUT".to_string()));
        assert!(text.contains(&"Erased: 8.0 GiB (8589934592 bytes)".to_string()));
        assert!(text.contains(&"Started (UTC): 2030-01-02T03:04:05Z".to_string()));
        assert!(text.contains(&"Factory system restored: 1.0.0".to_string()));
    }
}
