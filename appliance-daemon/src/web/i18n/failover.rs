//! The Failover page's words (the guide's "Failover :: Configuration" and "Failover ::
//! Backup Site Instance Status"; in French "Reprise en séquence"), and the failover
//! service's refusals in the page's language: the same sentences the API gives, in
//! English its very words.

use super::Lang;
use crate::api::ApiError;
use crate::failover::{FailoverError, ManagedBy, SyncError};
use axum::http::StatusCode;
use pair::{KeyError, Refusal, Role};

/// The menu entry (the guide's French page is "Reprise en séquence").
pub(crate) const NAV_EN: &str = "Failover";
pub(crate) const NAV_FR: &str = "Reprise en séquence";

#[derive(Debug)]
pub(crate) struct FailoverText {
    pub title_configuration: &'static str,
    pub title_primary: &'static str,
    pub title_backup: &'static str,
    pub not_configured: &'static str,
    pub this_is_primary: &'static str,
    pub this_is_backup: &'static str,
    pub status: &'static str,
    pub role: &'static str,
    pub epoch: &'static str,
    pub peer: &'static str,
    pub peer_answers: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub last_sync: &'static str,
    pub never: &'static str,
    pub generation: &'static str,
    pub lag: &'static str,
    pub in_step: &'static str,
    pub initial_due: &'static str,
    pub last_error: &'static str,
    pub none: &'static str,
    pub last_event: &'static str,
    pub auto_failover: &'static str,
    pub auto_on: &'static str,
    pub auto_off: &'static str,
    pub refresh: &'static str,
    pub key_heading: &'static str,
    pub key_help: &'static str,
    pub key_fingerprint: &'static str,
    pub no_key: &'static str,
    pub generate_key: &'static str,
    pub generated: &'static str,
    pub key_label: &'static str,
    pub save_key: &'static str,
    pub key_saved: &'static str,
    pub setup: &'static str,
    pub backup_details: &'static str,
    pub reverse_details: &'static str,
    pub host: &'static str,
    pub tls_port: &'static str,
    pub establish: &'static str,
    pub establish_note: &'static str,
    pub established: &'static str,
    pub sync_now: &'static str,
    pub sync_help: &'static str,
    /// `{generation}`, `{bytes}` are replaced.
    pub synced: &'static str,
    /// `{generation}` is replaced.
    pub in_step_already: &'static str,
    pub become_primary: &'static str,
    /// `{host}` is replaced.
    pub pull: &'static str,
    pub become_note: &'static str,
    /// `{epoch}` is replaced.
    pub became_primary: &'static str,
    pub old_primary_told: &'static str,
    pub old_primary_silent: &'static str,
    pub break_pair: &'static str,
    pub break_note: &'static str,
    pub broken_told: &'static str,
    pub broken_untold: &'static str,
    pub auto_help: &'static str,
    pub auto_enable: &'static str,
    pub missed_checks: &'static str,
    pub save_auto: &'static str,
    pub auto_saved: &'static str,
    pub not_a_number: &'static str,
    pub role_none: &'static str,
    pub role_primary: &'static str,
    pub role_backup: &'static str,
}

static EN: FailoverText = FailoverText {
    title_configuration: "Failover :: Configuration",
    title_primary: "Failover :: Primary Site Instance Status",
    title_backup: "Failover :: Backup Site Instance Status",
    not_configured: "Failover is currently not configured.",
    this_is_primary: "This is the Primary site instance; its backup is",
    this_is_backup: "This is the Backup site instance for",
    status: "Status",
    role: "Role",
    epoch: "Role epoch",
    peer: "Peer appliance",
    peer_answers: "Peer answers",
    yes: "yes",
    no: "no",
    last_sync: "Last successful data-sync (UTC)",
    never: "none yet",
    generation: "Generation",
    lag: "Lag",
    in_step: "in step",
    initial_due: "Initial data-sync due (UTC)",
    last_error: "Last sync error",
    none: "none",
    last_event: "Last event",
    auto_failover: "Automatic failover",
    auto_on: "on, after {n} missed checks",
    auto_off: "off",
    refresh: "Refresh Status",
    key_heading: "Inter-appliance Communication Pre-shared Key",
    key_help: "Both appliances must hold the same key. Generate one here, then type it on \
               the other appliance; only its fingerprint is shown afterwards: compare the \
               fingerprints on both Failover pages.",
    key_fingerprint: "Key fingerprint",
    no_key: "no key set",
    generate_key: "Generate a key",
    generated: "The new key, shown this once: type it on the other appliance's Failover page.",
    key_label: "Key",
    save_key: "Save key",
    key_saved: "The inter-appliance key is saved.",
    setup: "Setup a Failover Relationship:",
    backup_details: "New Backup Site Connection Details",
    reverse_details: "Reverse Connection Details To This Primary Site",
    host: "Host Name or IP Address",
    tls_port: "TLS Port",
    establish: "Establish Relationship",
    establish_note: "NOTE: The first host name and TLS port above should allow this appliance \
                     to connect to another appliance that has been built with the same \
                     installed package. The second host name and TLS port will be given to \
                     the other appliance, and it should allow it to connect back to this \
                     one. After the connection is made and validated both ways, the other \
                     appliance will become a backup appliance to this one. Validation \
                     depends on both appliances having the same inter-appliance key. A \
                     shared IP should not be used for either host field. The initial \
                     data-sync starts after about 60 seconds; Sync Now starts it at once.",
    established: "The failover relationship is established: this appliance is the primary.",
    sync_now: "Sync Now",
    sync_help: "Sends the latest data of this primary to the backup now and waits until the \
                backup has applied it.",
    synced: "The data-sync is done: the backup now holds generation {generation} \
             ({bytes} sent).",
    in_step_already: "The backup already held this primary's data (generation {generation}); \
                      nothing was sent.",
    become_primary: "Become Primary",
    pull: "Check this box to pull a data-sync from the site instance at ({host}) while \
           becoming the primary.",
    become_note: "NOTE: Execute this command only when the existing primary has stopped \
                  responding or when maintenance is necessary on the primary site. The \
                  shared IPs move to this appliance. If the current peer site instance can \
                  be contacted, it will be swapped as well.",
    became_primary: "This appliance is now the primary (role epoch {epoch}).",
    old_primary_told: "The old primary answered: it is now the backup and released the \
                       shared IPs first.",
    old_primary_silent: "The old primary did not answer; the shared IPs were probed free \
                         before this appliance took them.",
    break_pair: "Break Failover Relationship",
    break_note: "NOTE: This command will break the failover relationship with the existing \
                 failover peer instance. No configuration other than the relationship will \
                 be lost on either site instance. To reestablish the failover relationship, \
                 you will simply have to enter the host name and TLS port of the peer \
                 appliance and press the Establish Relationship button.",
    broken_told: "The failover relationship is broken on both appliances.",
    broken_untold: "The failover relationship is broken here; the peer did not answer and \
                    will learn it when it next connects.",
    auto_help: "The backup checks the primary every 200 ms; after the given number of missed \
                checks in a row it becomes primary, only if no one answers for the shared \
                IPs and after a first complete data-sync. Off by default.",
    auto_enable: "Automatic failover (while this appliance is the backup)",
    missed_checks: "Missed checks before taking over (2 to 50)",
    save_auto: "Save",
    auto_saved: "The automatic failover setting is saved.",
    not_a_number: "is not a number",
    role_none: "none (not in a pair)",
    role_primary: "primary",
    role_backup: "backup",
};

static FR: FailoverText = FailoverText {
    title_configuration: "Reprise en séquence :: Configuration",
    title_primary: "Reprise en séquence :: État de l'instance du site principal",
    title_backup: "Reprise en séquence :: État de l'instance du site de sauvegarde",
    not_configured: "La reprise en séquence n'est pas configurée actuellement.",
    this_is_primary: "Ceci est l'instance du site principal ; son serveur de sauvegarde est",
    this_is_backup: "Ceci est l'instance du site de sauvegarde de",
    status: "État",
    role: "Rôle",
    epoch: "Époque du rôle",
    peer: "Appliance homologue",
    peer_answers: "L'homologue répond",
    yes: "oui",
    no: "non",
    last_sync: "Dernière synchronisation réussie (UTC)",
    never: "aucune pour l'instant",
    generation: "Génération",
    lag: "Retard",
    in_step: "à jour",
    initial_due: "Synchronisation initiale prévue (UTC)",
    last_error: "Dernière erreur de synchronisation",
    none: "aucune",
    last_event: "Dernier événement",
    auto_failover: "Reprise automatique",
    auto_on: "activée, après {n} contrôles manqués",
    auto_off: "désactivée",
    refresh: "Actualiser l'état",
    key_heading: "Clé pré-partagée de communication inter-serveurs",
    key_help: "Les deux appliances doivent présenter la même clé. Générez-en une ici, puis \
               saisissez-la sur l'autre appliance ; seule son empreinte est affichée ensuite : \
               comparez les empreintes sur les deux pages Reprise en séquence.",
    key_fingerprint: "Empreinte de la clé",
    no_key: "aucune clé définie",
    generate_key: "Générer une clé",
    generated: "La nouvelle clé, affichée cette seule fois : saisissez-la sur la page Reprise \
                en séquence de l'autre appliance.",
    key_label: "Clé",
    save_key: "Enregistrer la clé",
    key_saved: "La clé inter-serveurs est enregistrée.",
    setup: "Configurer une relation de reprise en séquence :",
    backup_details: "Informations de connexion du nouveau site de sauvegarde",
    reverse_details: "Rapporter les informations de connexion à ce site primaire",
    host: "Nom d'hôte ou adresse IP",
    tls_port: "Port TLS",
    establish: "Établir une relation",
    establish_note: "Remarque : le premier nom d'hôte et port TLS ci-dessus doivent permettre à \
                     cette appliance de se connecter à une autre appliance qui a été \
                     construite avec le même package installé. Le second nom d'hôte et port \
                     TLS seront donnés à l'autre appliance, et doivent lui permettre de se \
                     reconnecter à celle-ci. Une fois la connexion établie et validée dans \
                     les deux sens, l'autre appliance deviendra le serveur de sauvegarde de \
                     celle-ci. La validation exige que les deux appliances présentent la même \
                     clé inter-serveurs. N'utilisez une IP partagée pour aucun des deux noms \
                     d'hôte. La synchronisation initiale démarre après environ 60 secondes ; \
                     Synchroniser maintenant la démarre aussitôt.",
    established: "La relation de reprise en séquence est établie : cette appliance est le \
                  serveur principal.",
    sync_now: "Synchroniser maintenant",
    sync_help: "Transfère maintenant les informations les plus récentes de ce serveur \
                principal au serveur de sauvegarde et attend qu'il les ait appliquées.",
    synced: "La synchronisation est terminée : le serveur de sauvegarde est à la génération \
             {generation} ({bytes} envoyés).",
    in_step_already: "Le serveur de sauvegarde avait déjà les données de ce serveur principal \
                      (génération {generation}) ; rien n'a été envoyé.",
    become_primary: "Devenir principal",
    pull: "Cochez cette case pour récupérer une synchronisation depuis l'instance du site à \
           ({host}) en devenant le serveur principal.",
    become_note: "Remarque : n'exécutez cette commande que si le serveur principal actuel ne \
                  répond plus ou si une maintenance est nécessaire sur le site principal. \
                  Les IP partagées passent sur cette appliance. Si l'instance homologue \
                  actuelle peut être contactée, ses rôles seront échangés également.",
    became_primary: "Cette appliance est maintenant le serveur principal (époque du rôle \
                     {epoch}).",
    old_primary_told: "L'ancien serveur principal a répondu : il est maintenant le serveur de \
                       sauvegarde et a d'abord libéré les IP partagées.",
    old_primary_silent: "L'ancien serveur principal n'a pas répondu ; les IP partagées ont été \
                         sondées libres avant que cette appliance ne les prenne.",
    break_pair: "Rompre les relations de reprise en séquence",
    break_note: "Remarque : cette commande rompt la relation de reprise en séquence avec \
                 l'instance homologue actuelle. Aucune configuration autre que la relation \
                 ne sera perdue sur l'une ou l'autre instance. Pour rétablir la relation, il \
                 suffira de saisir le nom d'hôte et le port TLS de l'appliance homologue et de \
                 cliquer sur le bouton Établir une relation.",
    broken_told: "La relation de reprise en séquence est rompue sur les deux appliances.",
    broken_untold: "La relation de reprise en séquence est rompue ici ; l'homologue n'a pas \
                    répondu et l'apprendra à sa prochaine connexion.",
    auto_help: "Le serveur de sauvegarde contrôle le serveur principal toutes les 200 ms ; \
                après le nombre indiqué de contrôles manqués d'affilée, il devient principal, \
                seulement si personne ne répond pour les IP partagées et après une première \
                synchronisation complète. Désactivée par défaut.",
    auto_enable: "Reprise automatique (quand cette appliance est le serveur de sauvegarde)",
    missed_checks: "Contrôles manqués avant la reprise (2 à 50)",
    save_auto: "Enregistrer",
    auto_saved: "Le réglage de la reprise automatique est enregistré.",
    not_a_number: "n'est pas un nombre",
    role_none: "aucun (hors paire)",
    role_primary: "principal",
    role_backup: "sauvegarde",
};

pub(crate) fn text(lang: Lang) -> &'static FailoverText {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

impl FailoverText {
    pub(crate) fn role(&self, role: Role) -> &'static str {
        match role {
            Role::None => self.role_none,
            Role::Primary => self.role_primary,
            Role::Backup => self.role_backup,
        }
    }
}

/// The sentence over a backup's greyed forms: where synced settings are changed.
pub(crate) fn managed(lang: Lang, by: &ManagedBy) -> String {
    match lang {
        Lang::En => by.sentence(),
        Lang::Fr => format!(
            "Cette appliance est le serveur de sauvegarde de {} ; modifiez ceci sur le serveur \
             principal : {}.",
            by.primary, by.url
        ),
    }
}

/// A refusal of the failover service: the API's status, and its sentence as the API says
/// it (English) or in French.
pub(crate) fn error(lang: Lang, e: FailoverError) -> (StatusCode, String) {
    let french = (lang == Lang::Fr).then(|| {
        let ending = match e.code() {
            "not_your_peer" | "challenge_unknown" | "bad_request" => ".",
            "internal" => return format!("La modification a échoué : {e}."),
            _ => " ; rien n'a été modifié.",
        };
        upper_first(&format!("{}{ending}", french(&e)))
    });
    let api = ApiError::from(e);
    (api.status, french.unwrap_or(api.message))
}

/// A refusal of Sync now, as [`error`] says it.
pub(crate) fn sync_error(lang: Lang, e: SyncError) -> (StatusCode, String) {
    let e = match e {
        SyncError::Failover(e) => return error(lang, e),
        other => other,
    };
    let french = (lang == Lang::Fr).then(|| {
        let what = match &e {
            SyncError::NotPrimary => "cette appliance n'est pas le serveur principal d'une paire \
                                      de reprise en séquence ; Synchroniser maintenant se fait \
                                      sur le serveur principal"
                .to_string(),
            SyncError::NotBackup => {
                "cette appliance n'est pas le serveur de sauvegarde de l'appelant".into()
            }
            SyncError::NotReady => {
                "la synchronisation n'est pas encore prête ; réessayez dans un instant".into()
            }
            SyncError::Refused(why) => {
                format!("le serveur de sauvegarde a refusé la synchronisation : {why}")
            }
            SyncError::Snapshot(why) => {
                format!("la partie service n'a pas pu être lue ou appliquée : {why}")
            }
            SyncError::Interrupted(why) => {
                format!("la synchronisation ne s'est pas terminée : {why}")
            }
            SyncError::Failover(why) => why.to_string(),
        };
        upper_first(&format!(
            "{what} ; le serveur de sauvegarde reste sur sa dernière génération complète."
        ))
    });
    let api = ApiError::from(e);
    (api.status, french.unwrap_or(api.message))
}

fn role_fr(role: Role) -> &'static str {
    match role {
        Role::None => "sans rôle",
        Role::Primary => "le serveur principal",
        Role::Backup => "le serveur de sauvegarde",
    }
}

fn key_fr(e: &KeyError) -> String {
    use pair::key::{MAX_SYMBOLS, MIN_DISTINCT, MIN_SYMBOLS};
    match e {
        KeyError::Character(c) => format!(
            "la clé contient {c:?}, qui n'est pas l'un de ses caractères (chiffres et lettres A à \
             Z sauf U ; la casse, les espaces et les tirets sont ignorés)"
        ),
        KeyError::TooShort(n) => format!(
            "la clé a {n} caractères ; il en faut au moins {MIN_SYMBOLS} (environ 128 bits) : \
             générez-en une sur une appliance et saisissez-la sur l'autre"
        ),
        KeyError::TooLong(n) => {
            format!("la clé a {n} caractères ; au plus {MAX_SYMBOLS} sont acceptés")
        }
        KeyError::TooRegular(n) => format!(
            "la clé n'utilise que {n} caractères différents ; une clé aléatoire de cette longueur \
             en utilise au moins {MIN_DISTINCT} : générez-en une au lieu de l'inventer"
        ),
    }
}

/// The French of each refusal; the details a peer or the system gave stay as they came.
fn french(e: &FailoverError) -> String {
    match e {
        FailoverError::NoKey => "aucune clé inter-serveurs n'est définie sur cette appliance ; \
                                 définissez d'abord la même clé sur les deux appliances"
            .into(),
        FailoverError::Key(k) => format!("la clé inter-serveurs est refusée : {}", key_fr(k)),
        FailoverError::KeyRequest => {
            "donnez soit la clé, soit la demande d'en générer une, pas les deux ni aucune".into()
        }
        FailoverError::Role(Refusal::NotPaired) => {
            "cette appliance n'est dans aucune paire de reprise en séquence".into()
        }
        FailoverError::Role(Refusal::AlreadyPaired(role)) => format!(
            "cette appliance est déjà {} d'une paire de reprise en séquence ; rompez d'abord la \
             relation",
            role_fr(*role)
        ),
        FailoverError::Role(Refusal::NotBackup(role)) => format!(
            "seul le serveur de sauvegarde peut devenir principal ; cette appliance est {}",
            role_fr(*role)
        ),
        FailoverError::Role(Refusal::NoRole) => "un établissement doit faire de cette \
                                                 appliance le serveur principal ou de \
                                                 sauvegarde"
            .into(),
        FailoverError::Address { what, reason } => {
            let what = match *what {
                "backup" => "du serveur de sauvegarde",
                "reverse" => "de retour",
                other => other,
            };
            format!("l'adresse {what} n'est pas utilisable : {reason}")
        }
        FailoverError::Unreachable { endpoint, detail } => {
            format!("{endpoint} est injoignable : {detail}")
        }
        FailoverError::NotAnAppliance { endpoint, detail } => format!(
            "{endpoint} ne répond pas comme le canal de paire d'une appliance (mauvais port, ou \
             pas une appliance) : {detail}"
        ),
        FailoverError::PeerNoKey(endpoint) => format!(
            "l'appliance à {endpoint} n'a pas de clé inter-serveurs ; définissez-y d'abord la \
             même clé (page Reprise en séquence)"
        ),
        FailoverError::KeysDiffer => "les deux appliances ne présentent pas la même clé \
                                      inter-serveurs ; comparez les empreintes de clé sur les \
                                      deux pages Reprise en séquence et définissez la même clé"
            .into(),
        FailoverError::SelfPair(endpoint) => format!(
            "{endpoint} est cette appliance elle-même ; donnez l'adresse de l'autre appliance"
        ),
        FailoverError::PeerPaired { endpoint, detail } => format!(
            "l'appliance à {endpoint} est déjà dans une paire de reprise en séquence{detail} ; \
             rompez d'abord cette relation sur elle, ou choisissez une autre appliance"
        ),
        FailoverError::Mismatch { detail } => format!(
            "les appliances exécutent des versions différentes ({detail}) ; les deux doivent \
             exécuter le même package installé"
        ),
        FailoverError::ReverseFailed(why) => {
            format!("le serveur de sauvegarde n'a pas pu rappeler ce serveur principal : {why}")
        }
        FailoverError::PeerRefused(why) => format!("l'homologue a refusé : {why}"),
        FailoverError::NotYourPeer => {
            "cette appliance n'est pas en paire de reprise en séquence avec l'appelant".into()
        }
        FailoverError::PairBroken { at } => format!(
            "la relation de reprise en séquence a été rompue sur cette appliance le {}",
            units::rfc3339(*at)
        ),
        FailoverError::UnknownChallenge => {
            "le défi d'établissement est inconnu, expiré ou déjà utilisé ; recommencez".into()
        }
        FailoverError::BadRequest(why) => format!("la demande est mal formée : {why}"),
        FailoverError::SharedIpInUse { address, by } => format!(
            "l'homologue n'a pas répondu, mais l'IP partagée {address} répond encore depuis \
             {by} : l'ancien serveur principal (ou un autre hôte) la détient peut-être encore ; \
             retirez-le du réseau ou éteignez-le, puis réessayez"
        ),
        FailoverError::PeerStaysPrimary { epoch } => format!(
            "l'homologue est principal à l'époque {epoch}, au-dessus de celle de cette \
             appliance ; il reste principal et cette appliance le suit comme serveur de \
             sauvegarde"
        ),
        FailoverError::Setting(_) => {
            let range = pair::takeover::MISSED_CHECKS;
            format!(
                "le nombre de contrôles manqués doit être compris entre {} et {} (un contrôle \
                 toutes les {} ms)",
                range.start(),
                range.end(),
                pair::takeover::CHECK_INTERVAL.as_millis()
            )
        }
        FailoverError::BadPin { .. } | FailoverError::Random | FailoverError::Store(_) => {
            e.to_string()
        }
    }
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_in_french_keep_the_apis_meaning() {
        let (status, fr) = error(Lang::Fr, FailoverError::KeysDiffer);
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(
            fr.starts_with("Les deux appliances ne présentent pas la même clé"),
            "{fr}"
        );
        assert!(fr.ends_with("rien n'a été modifié."), "{fr}");
        let (_, en) = error(Lang::En, FailoverError::KeysDiffer);
        assert!(
            en.starts_with("The two appliances do not hold the same"),
            "{en}"
        );
        let (_, fr) = error(
            Lang::Fr,
            FailoverError::Unreachable {
                endpoint: "10.0.0.2:443".into(),
                detail: "connection refused".into(),
            },
        );
        assert!(fr.contains("10.0.0.2:443 est injoignable"), "{fr}");
        let (status, fr) = error(Lang::Fr, FailoverError::Setting("missed_checks …".into()));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(fr.contains("compris entre 2 et 50"), "{fr}");
        let (_, fr) = sync_error(Lang::Fr, SyncError::NotPrimary);
        assert!(fr.contains("dernière génération complète"), "{fr}");
    }

    #[test]
    fn the_managed_sentence_follows_the_language() {
        let by = ManagedBy {
            primary: "10.0.0.1".into(),
            url: "https://10.0.0.1/appliance".into(),
        };
        assert!(managed(Lang::En, &by).starts_with("This appliance is the backup of 10.0.0.1"));
        let fr = managed(Lang::Fr, &by);
        assert!(fr.contains("serveur de sauvegarde de 10.0.0.1"), "{fr}");
        assert!(fr.contains("https://10.0.0.1/appliance"), "{fr}");
    }
}
