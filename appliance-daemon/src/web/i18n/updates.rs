//! The Updates page's words for the update server, the catalog, the download key and the
//! site packages, in English and French.

use super::Lang;

#[derive(Debug)]
pub(crate) struct UpdatesText {
    pub update_server: &'static str,
    pub server_url: &'static str,
    pub server_url_help: &'static str,
    pub server_ca: &'static str,
    pub server_ca_help: &'static str,
    pub save_server: &'static str,
    pub server_saved: &'static str,
    pub server_not_saved: &'static str,
    pub check_now: &'static str,
    pub check_done: &'static str,
    pub check_failed: &'static str,
    pub no_server: &'static str,
    pub last_check_failed: &'static str,
    pub catalog_from: &'static str,
    pub last_checked: &'static str,
    pub catalog_valid_until: &'static str,
    pub catalog_problem: &'static str,
    pub clock_hint: &'static str,
    pub time_page: &'static str,
    pub available: &'static str,
    pub no_catalog: &'static str,
    pub nothing_available: &'static str,
    pub package: &'static str,
    pub size: &'static str,
    pub action: &'static str,
    pub base_system: &'static str,
    pub installing: &'static str,
    pub download_key: &'static str,
    pub download_key_help: &'static str,
    pub show_download_key: &'static str,
    pub key_valid_until: &'static str,
    pub key_copy: &'static str,
    pub key_failed: &'static str,
    pub site_packages: &'static str,
    pub no_sites: &'static str,
    pub previous_version: &'static str,
    pub roll_back: &'static str,
    pub now_in_use: &'static str,
    pub rollback_failed: &'static str,
}

pub(crate) fn text(lang: Lang) -> &'static UpdatesText {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

pub(crate) static EN: UpdatesText = UpdatesText {
    update_server: "Update server",
    server_url: "Server URL",
    server_url_help: "https://…/, the directory holding catalog.json and catalog.sig; empty turns checking for updates off",
    server_ca: "CA certificate of the server (PEM, optional)",
    server_ca_help: "Empty: the system's CA bundle, if this system has one",
    save_server: "Save the update server",
    server_saved: "Update server saved.",
    server_not_saved: "The update server was not changed.",
    check_now: "Check now",
    check_done: "The update catalog was checked.",
    check_failed: "Checking for updates failed",
    no_server: "no update server is set: fill in the Update server form below; nothing was changed.",
    last_check_failed: "The last check failed",
    catalog_from: "Catalog from",
    last_checked: "Last checked",
    catalog_valid_until: "Catalog valid until",
    catalog_problem: "The stored catalog can no longer be used",
    clock_hint: "An expired or not yet valid catalog often means that this appliance's clock is wrong: see",
    time_page: "the Time page",
    available: "Available updates",
    no_catalog: "No catalog yet: set the update server, then check.",
    nothing_available: "The catalog offers no package.",
    package: "Package",
    size: "Size",
    action: "Action",
    base_system: "Base system",
    installing: "Downloading and installing…",
    download_key: "Download key",
    download_key_help: "For manual updates on a restricted network: give this key to the vendor, who finds with it the packages this appliance can install; then install the files received with \"Install a package file\". A new key is made each time, valid 2400 minutes.",
    show_download_key: "Show the download key",
    key_valid_until: "Valid until",
    key_copy: "Copy the whole text, the BEGIN and END lines included.",
    key_failed: "The download key could not be made",
    site_packages: "Site packages",
    no_sites: "No site package is installed.",
    previous_version: "Previous version",
    roll_back: "Roll back",
    now_in_use: "now in use.",
    rollback_failed: "The rollback was not made",
};

pub(crate) static FR: UpdatesText = UpdatesText {
    update_server: "Serveur de mises à jour",
    server_url: "URL du serveur",
    server_url_help: "https://…/, le répertoire qui contient catalog.json et catalog.sig ; vide : la recherche de mises à jour est désactivée",
    server_ca: "Certificat de l'autorité du serveur (PEM, facultatif)",
    server_ca_help: "Vide : les autorités de certification du système, s'il en a",
    save_server: "Enregistrer le serveur de mises à jour",
    server_saved: "Serveur de mises à jour enregistré.",
    server_not_saved: "Le serveur de mises à jour n'a pas été modifié.",
    check_now: "Vérifier maintenant",
    check_done: "Le catalogue de mises à jour a été vérifié.",
    check_failed: "La recherche de mises à jour a échoué",
    no_server: "aucun serveur de mises à jour n'est indiqué : remplissez le formulaire Serveur de mises à jour ci-dessous ; rien n'a été modifié.",
    last_check_failed: "La dernière vérification a échoué",
    catalog_from: "Catalogue de",
    last_checked: "Dernière vérification",
    catalog_valid_until: "Catalogue valable jusqu'au",
    catalog_problem: "Le catalogue enregistré n'est plus utilisable",
    clock_hint: "Un catalogue expiré ou pas encore valable signifie souvent que l'horloge de l'appliance est fausse : voir",
    time_page: "la page Heure",
    available: "Mises à jour disponibles",
    no_catalog: "Pas encore de catalogue : indiquez le serveur de mises à jour, puis vérifiez.",
    nothing_available: "Le catalogue ne propose aucun paquet.",
    package: "Paquet",
    size: "Taille",
    action: "Opération",
    base_system: "Système de base",
    installing: "Téléchargement et installation…",
    download_key: "Clé de téléchargement",
    download_key_help: "Pour les mises à jour manuelles sur un réseau restreint : donnez cette clé au fournisseur, qui y trouve les paquets que cette appliance peut installer ; installez ensuite les fichiers reçus avec « Installer un fichier de paquet ». Une nouvelle clé est faite à chaque fois, valable 2400 minutes.",
    show_download_key: "Afficher la clé de téléchargement",
    key_valid_until: "Valable jusqu'au",
    key_copy: "Copiez tout le texte, lignes BEGIN et END comprises.",
    key_failed: "La clé de téléchargement n'a pas pu être faite",
    site_packages: "Paquets de site",
    no_sites: "Aucun paquet de site n'est installé.",
    previous_version: "Version précédente",
    roll_back: "Revenir en arrière",
    now_in_use: "désormais en service.",
    rollback_failed: "Le retour arrière n'a pas été effectué",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_differs_from_english() {
        let same = crate::web::i18n::tests::same_entries(&EN, &FR);
        assert!(same < 3, "{same} identical entries");
    }
}
