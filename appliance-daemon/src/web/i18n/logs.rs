//! The Logs page's words (the persistent log and the support bundle), in English and
//! French.

use super::Lang;

#[derive(Debug)]
pub(crate) struct LogsText {
    pub nav_logs: &'static str,
    pub help: &'static str,
    pub service: &'static str,
    pub level: &'static str,
    pub boot: &'static str,
    pub any_service: &'static str,
    pub any_level: &'static str,
    pub every_boot: &'static str,
    pub this_boot: &'static str,
    pub boot_label: &'static str,
    pub levels: [&'static str; 5],
    pub show: &'static str,
    pub download: &'static str,
    pub time: &'static str,
    pub message: &'static str,
    pub no_lines: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    /// `{size}` and `{cap}` are replaced.
    pub kept: &'static str,
    pub support: &'static str,
    pub support_help: &'static str,
    pub support_button: &'static str,
    pub support_failed: &'static str,
    pub read_failed: &'static str,
}

pub(crate) fn text(lang: Lang) -> &'static LogsText {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

pub(crate) static EN: LogsText = LogsText {
    nav_logs: "Logs",
    help: "What init and every service wrote, kept on the data disk across restarts and updates, newest first. The oldest lines go once the log reaches its size; a factory reset erases it.",
    service: "Service",
    level: "Level",
    boot: "Boot",
    any_service: "Every service",
    any_level: "Every level",
    every_boot: "Every boot",
    this_boot: "this boot",
    boot_label: "Boot",
    levels: [
        "error",
        "warning and worse",
        "notice and worse",
        "info and worse",
        "everything (debug)",
    ],
    show: "Show",
    download: "Download these lines",
    time: "Time (UTC)",
    message: "Message",
    no_lines: "No line matches.",
    older: "Older lines",
    newest: "Newest lines",
    kept: "{size} kept on the data disk, at most {cap}.",
    support: "Support bundle",
    support_help: "One file for the support team: the logs, status and specifications, the settings without any password, key or other secret, the boot state and timings, and the kernel's messages. Downloading it is recorded in the audit log.",
    support_button: "Download the support bundle",
    support_failed: "The support bundle could not be made",
    read_failed: "The log could not be read",
};

pub(crate) static FR: LogsText = LogsText {
    nav_logs: "Journaux",
    help: "Ce qu'init et chaque service ont écrit, gardé sur le disque de données malgré les redémarrages et les mises à jour, le plus récent en premier. Les lignes les plus anciennes partent quand le journal atteint sa taille ; une réinitialisation d'usine l'efface.",
    service: "Service",
    level: "Niveau",
    boot: "Démarrage",
    any_service: "Tous les services",
    any_level: "Tous les niveaux",
    every_boot: "Tous les démarrages",
    this_boot: "ce démarrage",
    boot_label: "Démarrage",
    levels: [
        "erreur",
        "avertissement et plus grave",
        "notice et plus grave",
        "info et plus grave",
        "tout (débogage)",
    ],
    show: "Afficher",
    download: "Télécharger ces lignes",
    time: "Heure (UTC)",
    message: "Message",
    no_lines: "Aucune ligne ne correspond.",
    older: "Lignes plus anciennes",
    newest: "Lignes les plus récentes",
    kept: "{size} gardés sur le disque de données, au plus {cap}.",
    support: "Paquet de support",
    support_help: "Un fichier pour l'équipe de support : les journaux, l'état et les caractéristiques, les réglages sans aucun mot de passe, clé ni autre secret, l'état et les durées du démarrage, et les messages du noyau. Son téléchargement est inscrit au journal d'audit.",
    support_button: "Télécharger le paquet de support",
    support_failed: "Le paquet de support n'a pas pu être fait",
    read_failed: "Le journal n'a pas pu être lu",
};
