//! The UI's words in English and French, and the choice between them: the language switch
//! (a cookie) first, then the browser's `Accept-Language`, then English.

pub(crate) mod accounts;
pub(crate) mod backup;
pub(crate) mod certificates;
pub(crate) mod failover;
pub(crate) mod logs;
pub(crate) mod updates;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Fr,
}

impl Lang {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub(crate) fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    pub(crate) fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }

    /// The preferred supported language of an `Accept-Language` header (RFC 9110 q-values).
    pub(crate) fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (index, item) in header.split(',').enumerate() {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            // Highest q wins; among equals, the first listed.
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && index < bi)) {
                best = Some((q, index, lang));
            }
        }
        best.map(|(_, _, l)| l)
    }
}

/// Every sentence and label of the UI.
#[derive(Debug)]
pub(crate) struct Text {
    pub product: &'static str,
    pub language: &'static str,
    pub log_in: &'static str,
    pub log_out: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub login_failed: &'static str,
    pub login_busy: &'static str,
    /// `{minutes}` is replaced.
    pub locked: &'static str,
    pub form_expired: &'static str,
    pub change_password: &'static str,
    pub must_change: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub confirm_password: &'static str,
    pub passwords_differ: &'static str,
    pub wrong_current: &'static str,
    /// The field of a form whose act needs the password again (a factory reset, a change
    /// of the served certificate, of the update server).
    pub confirm_with_password: &'static str,
    pub confirm_password_missing: &'static str,
    pub confirm_password_wrong: &'static str,
    pub weak_password: &'static str,
    pub password_changed: &'static str,
    pub nav_status: &'static str,
    pub nav_basics: &'static str,
    pub nav_specs: &'static str,
    pub nav_security: &'static str,
    pub nav_account: &'static str,
    pub nav_accounts: &'static str,
    pub model: &'static str,
    pub serial: &'static str,
    pub appliance_id: &'static str,
    pub hostname: &'static str,
    pub version: &'static str,
    pub base_version: &'static str,
    pub site_version: &'static str,
    pub slot: &'static str,
    pub uptime: &'static str,
    pub time: &'static str,
    pub none: &'static str,
    pub certificate: &'static str,
    pub update_keys: &'static str,
    pub development_build: &'static str,
    pub restart: &'static str,
    pub shut_down: &'static str,
    pub factory_reset: &'static str,
    pub confirm_restart: &'static str,
    pub confirm_shutdown: &'static str,
    pub cancel: &'static str,
    pub restarting: &'static str,
    pub restarting_text: &'static str,
    pub shutting_down: &'static str,
    pub shutting_down_text: &'static str,
    pub back_online: &'static str,
    pub powered_off: &'static str,
    pub cpu: &'static str,
    pub cores: &'static str,
    pub memory: &'static str,
    pub total: &'static str,
    pub available: &'static str,
    pub disks: &'static str,
    pub name: &'static str,
    pub size: &'static str,
    pub disk_model: &'static str,
    pub nics: &'static str,
    pub mac: &'static str,
    pub link: &'static str,
    pub link_up: &'static str,
    pub link_down: &'static str,
    pub speed: &'static str,
    pub addresses: &'static str,
    pub clock: &'static str,
    pub clock_synchronized: &'static str,
    pub synchronized: &'static str,
    pub not_synchronized: &'static str,
    pub recent_activity: &'static str,
    pub when: &'static str,
    pub who: &'static str,
    pub what: &'static str,
    pub from: &'static str,
    pub error: &'static str,
    pub back: &'static str,
    pub nav_updates: &'static str,
    pub upload_package: &'static str,
    pub package_file: &'static str,
    pub install: &'static str,
    pub history: &'static str,
    pub detail: &'static str,
    pub running_version: &'static str,
    pub slot_a: &'static str,
    pub slot_b: &'static str,
    pub floor: &'static str,
    pub empty_slot: &'static str,
    pub rolled_back: &'static str,
    pub pending_restart: &'static str,
    pub install_done: &'static str,
    pub site_install_done: &'static str,
    pub site_package: &'static str,
    pub install_failed: &'static str,
    pub nav_time: &'static str,
    pub ntp_servers: &'static str,
    pub ntp_servers_help: &'static str,
    pub save: &'static str,
    pub ntp_source: &'static str,
    pub ntp_offset: &'static str,
    pub ntp_last_sync: &'static str,
    pub ntp_state: &'static str,
    pub saved: &'static str,
    pub nav_networking: &'static str,
    pub nav_network: &'static str,
    pub nav_management: &'static str,
    pub nav_backup: &'static str,
    pub nav_failover: &'static str,
    pub nav_logs: &'static str,
    pub nav_certificates: &'static str,
}

pub(crate) static EN: Text = Text {
    product: "Appliance administration",
    language: "Language",
    log_in: "Log in",
    log_out: "Log out",
    username: "User name",
    password: "Password",
    login_failed: "The user name or password is wrong.",
    login_busy: "Too many sign-ins are being checked right now. Try again in a moment.",
    locked: "Too many failed logins. The account is locked; try again in {minutes} min.",
    form_expired:
        "This form has expired or did not come from this page. Load the page again and retry.",
    change_password: "Change password",
    must_change: "The factory password must be changed before the appliance can be used.",
    current_password: "Current password",
    new_password: "New password",
    confirm_password: "New password again",
    passwords_differ: "The two new passwords differ.",
    wrong_current: "The current password is wrong.",
    confirm_with_password: "Your password, to confirm",
    confirm_password_missing: "Type your password to confirm this change; nothing was changed.",
    confirm_password_wrong: "The password is wrong; nothing was changed.",
    weak_password: "The new password is refused",
    password_changed: "The password has been changed.",
    nav_status: "Status",
    nav_basics: "Basics",
    nav_specs: "Specs",
    nav_security: "Security",
    nav_account: "Account",
    nav_accounts: accounts::EN.nav_accounts,
    model: "Model",
    serial: "Serial number",
    appliance_id: "Appliance ID",
    hostname: "Host name",
    version: "Version",
    base_version: "Base software",
    site_version: "Site software",
    slot: "Boot slot",
    uptime: "Up time",
    time: "Time (UTC)",
    none: "none",
    certificate: "Certificate (public key SHA-256)",
    update_keys: "Update signing keys",
    development_build: "Development build: this appliance accepts update packages signed \
                        with the public development key, which anybody can use. Install a \
                        release build before production use.",
    restart: "Restart",
    shut_down: "Shut down",
    factory_reset: "Factory reset",
    confirm_restart: "Restart the appliance now? Sessions in progress will be cut.",
    confirm_shutdown: "Shut the appliance down now? It will stay off until someone powers it on.",
    cancel: "Cancel",
    restarting: "Restarting",
    restarting_text: "The appliance is restarting. This page follows it and says when it is back.",
    shutting_down: "Shutting down",
    shutting_down_text:
        "The appliance is shutting down. It is safe to remove power once it is off.",
    back_online: "The appliance is back.",
    powered_off: "The appliance no longer answers: it is off.",
    cpu: "Processor",
    cores: "Cores",
    memory: "Memory",
    total: "Total",
    available: "Available",
    disks: "Disks",
    name: "Name",
    size: "Size",
    disk_model: "Model",
    nics: "Network interfaces",
    mac: "MAC address",
    link: "Link",
    link_up: "up",
    link_down: "down",
    speed: "Speed",
    addresses: "Addresses",
    clock: "Clock",
    clock_synchronized: "Synchronized",
    synchronized: "yes",
    not_synchronized: "no",
    recent_activity: "Recent activity",
    when: "When (UTC)",
    who: "Who",
    what: "What",
    from: "From",
    error: "Error",
    back: "Back",
    nav_updates: "Updates",
    upload_package: "Install a package file",
    package_file: "Package file (.pkg)",
    install: "Install",
    history: "History",
    detail: "Detail",
    running_version: "Running version",
    slot_a: "Slot A",
    slot_b: "Slot B",
    floor: "Lowest version allowed",
    empty_slot: "empty",
    rolled_back: "The last update was rolled back",
    pending_restart: "Installed, starts at the next restart",
    install_done: "Installed. Restart the appliance to start it.",
    site_install_done: "Installed and in use.",
    site_package: "Site package",
    install_failed: "The package was not installed",
    nav_time: "Time",
    ntp_servers: "NTP servers",
    ntp_servers_help: "One server per line (IP address or host name); empty turns NTP off",
    save: "Save",
    ntp_source: "Source followed",
    ntp_offset: "Offset",
    ntp_last_sync: "Last synchronization",
    ntp_state: "Time daemon",
    saved: "Saved.",
    nav_networking: "Networking",
    nav_network: "IP configuration",
    nav_management: backup::EN.nav_management,
    nav_backup: backup::EN.nav_backup,
    nav_failover: failover::NAV_EN,
    nav_logs: logs::EN.nav_logs,
    nav_certificates: certificates::NAV_EN,
};

pub(crate) static FR: Text = Text {
    product: "Administration de l'appliance",
    language: "Langue",
    log_in: "Connexion",
    log_out: "Déconnexion",
    username: "Nom d'utilisateur",
    password: "Mot de passe",
    login_failed: "Le nom d'utilisateur ou le mot de passe est incorrect.",
    login_busy: "Trop de connexions sont en cours de vérification. Réessayez dans un instant.",
    locked: "Trop d'échecs de connexion. Le compte est verrouillé ; réessayez dans {minutes} min.",
    form_expired:
        "Ce formulaire a expiré ou ne vient pas de cette page. Rechargez la page et recommencez.",
    change_password: "Changer le mot de passe",
    must_change: "Le mot de passe d'usine doit être changé avant de pouvoir utiliser l'appliance.",
    current_password: "Mot de passe actuel",
    new_password: "Nouveau mot de passe",
    confirm_password: "Nouveau mot de passe (confirmation)",
    passwords_differ: "Les deux nouveaux mots de passe diffèrent.",
    wrong_current: "Le mot de passe actuel est incorrect.",
    confirm_with_password: "Votre mot de passe, pour confirmer",
    confirm_password_missing:
        "Saisissez votre mot de passe pour confirmer ce changement ; rien n'a été modifié.",
    confirm_password_wrong: "Le mot de passe est incorrect ; rien n'a été modifié.",
    weak_password: "Le nouveau mot de passe est refusé",
    password_changed: "Le mot de passe a été changé.",
    nav_status: "État",
    nav_basics: "Général",
    nav_specs: "Caractéristiques",
    nav_security: "Sécurité",
    nav_account: "Compte",
    nav_accounts: accounts::FR.nav_accounts,
    model: "Modèle",
    serial: "Numéro de série",
    appliance_id: "Identifiant de l'appliance",
    hostname: "Nom d'hôte",
    version: "Version",
    base_version: "Logiciel de base",
    site_version: "Logiciel du site",
    slot: "Emplacement de démarrage",
    uptime: "Temps de fonctionnement",
    time: "Heure (UTC)",
    none: "aucun",
    certificate: "Certificat (SHA-256 de la clé publique)",
    update_keys: "Clés de signature des mises à jour",
    development_build: "Version de développement : cette appliance accepte les paquets de \
                        mise à jour signés avec la clé de développement publique, que tout \
                        le monde peut utiliser. Installez une version de production avant \
                        toute mise en service.",
    restart: "Redémarrer",
    shut_down: "Arrêter",
    factory_reset: "Réinitialisation d'usine",
    confirm_restart: "Redémarrer l'appliance maintenant ? Les sessions en cours seront coupées.",
    confirm_shutdown:
        "Arrêter l'appliance maintenant ? Elle restera éteinte jusqu'à ce qu'on la rallume.",
    cancel: "Annuler",
    restarting: "Redémarrage",
    restarting_text:
        "L'appliance redémarre. Cette page la suit et indique quand elle est de retour.",
    shutting_down: "Arrêt",
    shutting_down_text:
        "L'appliance s'arrête. L'alimentation peut être coupée une fois qu'elle est éteinte.",
    back_online: "L'appliance est de retour.",
    powered_off: "L'appliance ne répond plus : elle est éteinte.",
    cpu: "Processeur",
    cores: "Cœurs",
    memory: "Mémoire",
    total: "Totale",
    available: "Disponible",
    disks: "Disques",
    name: "Nom",
    size: "Taille",
    disk_model: "Modèle",
    nics: "Interfaces réseau",
    mac: "Adresse MAC",
    link: "Lien",
    link_up: "actif",
    link_down: "inactif",
    speed: "Débit",
    addresses: "Adresses",
    clock: "Horloge",
    clock_synchronized: "Synchronisée",
    synchronized: "oui",
    not_synchronized: "non",
    recent_activity: "Activité récente",
    when: "Quand (UTC)",
    who: "Qui",
    what: "Quoi",
    from: "Depuis",
    error: "Erreur",
    back: "Retour",
    nav_updates: "Mises à jour",
    upload_package: "Installer un fichier de paquet",
    package_file: "Fichier de paquet (.pkg)",
    install: "Installer",
    history: "Historique",
    detail: "Détail",
    running_version: "Version en service",
    slot_a: "Emplacement A",
    slot_b: "Emplacement B",
    floor: "Version minimale autorisée",
    empty_slot: "vide",
    rolled_back: "La dernière mise à jour a été annulée",
    pending_restart: "Installée, démarre au prochain redémarrage",
    install_done: "Installée. Redémarrez l'appliance pour la démarrer.",
    site_install_done: "Installé et en service.",
    site_package: "Paquet de site",
    install_failed: "Le paquet n'a pas été installé",
    nav_time: "Heure",
    ntp_servers: "Serveurs NTP",
    ntp_servers_help: "Un serveur par ligne (adresse IP ou nom d'hôte) ; vide désactive NTP",
    save: "Enregistrer",
    ntp_source: "Source suivie",
    ntp_offset: "Décalage",
    ntp_last_sync: "Dernière synchronisation",
    ntp_state: "Démon de temps",
    saved: "Enregistré.",
    nav_networking: "Réseau",
    nav_network: "Configuration IP",
    nav_management: backup::FR.nav_management,
    nav_backup: backup::FR.nav_backup,
    nav_failover: failover::NAV_FR,
    nav_logs: logs::FR.nav_logs,
    nav_certificates: certificates::NAV_FR,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language() {
        assert_eq!(
            Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"),
            Some(Lang::Fr)
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,fr;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("de-DE,fr;q=0.5"), Some(Lang::Fr));
        assert_eq!(
            Lang::from_accept_language("en;q=0.2, fr;q=0.7"),
            Some(Lang::Fr)
        );
        assert_eq!(Lang::from_accept_language("fr;q=0, en"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, es"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }

    /// How many entries of two tables of texts are the same in both languages: a crude
    /// guard against copy-paste, since most labels differ between the languages.
    pub(super) fn same_entries(en: &impl std::fmt::Debug, fr: &impl std::fmt::Debug) -> usize {
        let (en, fr) = (format!("{en:?}"), format!("{fr:?}"));
        en.split(", ")
            .zip(fr.split(", "))
            .filter(|(a, b)| a == b)
            .count()
    }

    #[test]
    fn no_french_sentence_is_left_in_english() {
        let same = same_entries(&EN, &FR);
        assert!(same < 8, "{same} identical entries");
    }
}
