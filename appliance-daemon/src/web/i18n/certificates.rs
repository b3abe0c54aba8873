//! The Certificates page's words (the guide's "Security :: Certificates"; in French
//! "Sécurité :: Certificats"), and the certificate service's refusals and import warnings
//! in the page's language: in English the API's very sentences, in French the same meaning.

use super::Lang;
use crate::api::ApiError;
use crate::tls::{CertificateError, ImportError};
use api_types::CertificateWarning;
use axum::http::StatusCode;

pub(crate) const NAV_EN: &str = "Certificates";
pub(crate) const NAV_FR: &str = "Certificats";

#[derive(Debug)]
pub(crate) struct CertText {
    pub title: &'static str,
    pub intro: &'static str,
    pub installed: &'static str,
    pub subject: &'static str,
    pub issuer: &'static str,
    pub sans: &'static str,
    pub validity: &'static str,
    pub valid_from: &'static str,
    pub valid_until: &'static str,
    pub expires_soon: &'static str,
    pub expired: &'static str,
    pub key_type: &'static str,
    pub fingerprint: &'static str,
    pub assigned_to: &'static str,
    pub not_assigned: &'static str,
    pub every_other_address: &'static str,
    pub self_signed_mark: &'static str,
    pub chain: &'static str,
    pub assign: &'static str,
    pub assign_help: &'static str,
    pub assigned: &'static str,
    pub export: &'static str,
    pub export_format: &'static str,
    pub format_pem: &'static str,
    pub format_der: &'static str,
    pub format_pkcs12: &'static str,
    pub export_password: &'static str,
    pub export_password_help: &'static str,
    pub confirm_password: &'static str,
    pub passwords_differ: &'static str,
    pub export_failed: &'static str,
    pub delete: &'static str,
    pub deleted: &'static str,
    pub import_heading: &'static str,
    pub import_help: &'static str,
    pub file: &'static str,
    pub file_password: &'static str,
    pub file_password_help: &'static str,
    pub friendly_name: &'static str,
    pub friendly_name_help: &'static str,
    pub import: &'static str,
    /// `{name}` is replaced.
    pub imported: &'static str,
    pub imported_from_request: &'static str,
    pub warnings: &'static str,
    pub import_failed: &'static str,
    pub request_heading: &'static str,
    pub request_help: &'static str,
    pub request_names: &'static str,
    pub request_names_help: &'static str,
    pub request_key: &'static str,
    pub request: &'static str,
    pub requested: &'static str,
    pub request_failed: &'static str,
    pub pending_heading: &'static str,
    pub pending_help: &'static str,
    pub requested_at: &'static str,
    pub download_csr: &'static str,
    pub csr: &'static str,
    pub change_failed: &'static str,
    pub no_file: &'static str,
    pub tls_heading: &'static str,
    pub tls_help: &'static str,
    pub min_tls: &'static str,
    pub tls12: &'static str,
    pub tls13: &'static str,
    pub hsts: &'static str,
    pub hsts_help: &'static str,
    pub tls_save: &'static str,
    pub tls_saved: &'static str,
    /// Between what failed and why: ": " in English, " : " in French.
    pub colon: &'static str,
}

static EN: CertText = CertText {
    title: "Security :: Certificates",
    intro: "The certificates the appliance serves over HTTPS. Each local address is served \
            the certificate assigned to it; an address with none gets the one assigned to \
            every other address (*), by default the appliance's self-signed certificate.",
    installed: "Installed Certificates",
    subject: "Subject",
    issuer: "Issuer",
    sans: "Alternative names",
    validity: "Validity (UTC)",
    valid_from: "from",
    valid_until: "until",
    expires_soon: "expires soon",
    expired: "expired",
    key_type: "Key type",
    fingerprint: "SHA-256 fingerprint",
    assigned_to: "Assigned to",
    not_assigned: "not assigned",
    every_other_address: "* (every address without its own)",
    self_signed_mark: "self-signed default",
    chain: "Chain",
    assign: "Assign",
    assign_help: "The local addresses this certificate is served on. An address another \
                  certificate had moves to this one; the change is served from the next \
                  connection on.",
    assigned: "Assignment saved.",
    export: "Export",
    export_format: "Format",
    format_pem: "PEM (certificate and chain, no key)",
    format_der: "DER (certificate alone)",
    format_pkcs12: "PKCS#12 / PFX (with the private key and chain)",
    export_password: "PKCS#12 password",
    export_password_help: "At least 8 characters. The private key is never exported \
                           without a password.",
    confirm_password: "Password again",
    passwords_differ: "the two passwords differ",
    export_failed: "The certificate was not exported",
    delete: "Delete",
    deleted: "Certificate deleted.",
    import_heading: "Import Certificate",
    import_help: "A PEM file (certificate, chain and private key; an encrypted key with \
                  its password) or a PKCS#12/PFX file with its password. Everything is \
                  checked before anything is stored; an imported certificate serves \
                  nothing until it is assigned.",
    file: "Certificate file (PEM or PKCS#12)",
    file_password: "File password",
    file_password_help: "For a PKCS#12 file or an encrypted key; leave empty otherwise.",
    friendly_name: "Friendly name (optional)",
    friendly_name_help: "Shown in the list; by default the file's name or the \
                         certificate's common name.",
    import: "Import",
    imported: "Certificate \"{name}\" imported. Assign it to an address to serve it.",
    imported_from_request: "It completes a request made on this appliance.",
    warnings: "Warnings",
    import_failed: "The certificate was not imported",
    request_heading: "Generate Certificate Signing Request (CSR)",
    request_help: "A private key is made on the appliance and never leaves it; send the \
                   request to your certificate authority and import the signed \
                   certificate it returns (the certificate alone is enough).",
    request_names: "Names",
    request_names_help: "Host names and IP addresses, one per line or separated by commas; \
                         the first is the common name.",
    request_key: "Key type",
    request: "Generate Request",
    requested: "Request made. Send this CSR to your certificate authority:",
    request_failed: "The request was not made",
    pending_heading: "Pending Requests",
    pending_help: "Requests waiting for their signed certificate.",
    requested_at: "Made (UTC)",
    download_csr: "Download CSR",
    csr: "Certificate signing request",
    change_failed: "Nothing was changed",
    no_file: "choose a certificate file",
    tls_heading: "TLS Settings",
    tls_help: "How every certificate is served, from the next connection on.",
    min_tls: "Minimum TLS version",
    tls12: "TLS 1.2 (and 1.3)",
    tls13: "TLS 1.3 only",
    hsts: "Send HSTS (Strict-Transport-Security)",
    hsts_help: "Browsers then reach this appliance by HTTPS only, for a year. Sent only on \
                connections served a certificate that is not self-signed.",
    tls_save: "Save TLS Settings",
    tls_saved: "TLS settings saved.",
    colon: ": ",
};

static FR: CertText = CertText {
    title: "Sécurité :: Certificats",
    intro: "Les certificats que l'appliance présente en HTTPS. Chaque adresse locale présente \
            le certificat qui lui est attribué ; une adresse sans certificat présente celui \
            attribué à toutes les autres adresses (*), par défaut le certificat auto-signé \
            de l'appliance.",
    installed: "Certificats installés",
    subject: "Sujet",
    issuer: "Émetteur",
    sans: "Autres noms",
    validity: "Validité (UTC)",
    valid_from: "du",
    valid_until: "au",
    expires_soon: "expire bientôt",
    expired: "expiré",
    key_type: "Type de clé",
    fingerprint: "Empreinte SHA-256",
    assigned_to: "Attribué à",
    not_assigned: "non attribué",
    every_other_address: "* (toute adresse sans certificat propre)",
    self_signed_mark: "auto-signé par défaut",
    chain: "Chaîne",
    assign: "Attribuer",
    assign_help: "Les adresses locales sur lesquelles ce certificat est présenté. Une adresse \
                  qu'avait un autre certificat passe à celui-ci ; le changement vaut dès la \
                  connexion suivante.",
    assigned: "Attribution enregistrée.",
    export: "Exporter",
    export_format: "Format",
    format_pem: "PEM (certificat et chaîne, sans clé)",
    format_der: "DER (certificat seul)",
    format_pkcs12: "PKCS#12 / PFX (avec la clé privée et la chaîne)",
    export_password: "Mot de passe PKCS#12",
    export_password_help: "8 caractères au moins. La clé privée n'est jamais exportée sans \
                           mot de passe.",
    confirm_password: "Mot de passe (confirmation)",
    passwords_differ: "les deux mots de passe diffèrent",
    export_failed: "Le certificat n'a pas été exporté",
    delete: "Supprimer",
    deleted: "Certificat supprimé.",
    import_heading: "Importer un certificat",
    import_help: "Un fichier PEM (certificat, chaîne et clé privée ; une clé chiffrée avec \
                  son mot de passe) ou un fichier PKCS#12/PFX avec son mot de passe. Tout est \
                  vérifié avant d'enregistrer quoi que ce soit ; un certificat importé n'est \
                  présenté nulle part tant qu'il n'est pas attribué.",
    file: "Fichier du certificat (PEM ou PKCS#12)",
    file_password: "Mot de passe du fichier",
    file_password_help: "Pour un fichier PKCS#12 ou une clé chiffrée ; sinon laissez vide.",
    friendly_name: "Nom convivial (facultatif)",
    friendly_name_help: "Affiché dans la liste ; par défaut le nom donné dans le fichier ou \
                         le nom commun du certificat.",
    import: "Importer",
    imported: "Certificat « {name} » importé. Attribuez-le à une adresse pour le présenter.",
    imported_from_request: "Il complète une demande faite sur cette appliance.",
    warnings: "Avertissements",
    import_failed: "Le certificat n'a pas été importé",
    request_heading: "Générer une demande de signature de certificat (CSR)",
    request_help: "Une clé privée est créée sur l'appliance et ne la quitte jamais ; envoyez \
                   la demande à votre autorité de certification et importez le certificat \
                   signé qu'elle renvoie (le certificat seul suffit).",
    request_names: "Noms",
    request_names_help: "Noms d'hôte et adresses IP, un par ligne ou séparés par des \
                         virgules ; le premier est le nom commun.",
    request_key: "Type de clé",
    request: "Générer la demande",
    requested: "Demande créée. Envoyez cette CSR à votre autorité de certification :",
    request_failed: "La demande n'a pas été faite",
    pending_heading: "Demandes en attente",
    pending_help: "Les demandes qui attendent leur certificat signé.",
    requested_at: "Créée (UTC)",
    download_csr: "Télécharger la CSR",
    csr: "Demande de signature de certificat",
    change_failed: "Rien n'a été modifié",
    no_file: "choisissez un fichier de certificat",
    tls_heading: "Paramètres TLS",
    tls_help: "La façon dont chaque certificat est présenté, dès la connexion suivante.",
    min_tls: "Version TLS minimale",
    tls12: "TLS 1.2 (et 1.3)",
    tls13: "TLS 1.3 seulement",
    hsts: "Envoyer HSTS (Strict-Transport-Security)",
    hsts_help: "Les navigateurs ne joignent alors cette appliance qu'en HTTPS, pendant un an. \
                Envoyé seulement sur les connexions qui reçoivent un certificat non \
                auto-signé.",
    tls_save: "Enregistrer les paramètres TLS",
    tls_saved: "Paramètres TLS enregistrés.",
    colon: " : ",
};

pub(crate) fn text(lang: Lang) -> &'static CertText {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// A refusal of the certificate service: the API's status, and its sentence as the API
/// says it (English) or in French.
pub(crate) fn error(lang: Lang, e: CertificateError) -> (StatusCode, String) {
    let french = (lang == Lang::Fr).then(|| french(&e)).flatten();
    let api = ApiError::from(e);
    (api.status, french.unwrap_or(api.message))
}

/// The French sentence of a refusal; `None` where the API's own words are kept (the
/// appliance's internal failures, whose detail is the system's).
fn french(e: &CertificateError) -> Option<String> {
    Some(match e {
        CertificateError::Refused(refusal) => match refusal {
            ImportError::TooLarge { limit } => format!(
                "le fichier dépasse {limit} octets (un certificat avec sa chaîne et sa clé \
                 fait quelques Kio)"
            ),
            ImportError::Empty => "le fichier est vide".into(),
            ImportError::Unrecognized => "le fichier n'est ni du PEM (-----BEGIN \
                                          CERTIFICATE-----), ni un certificat DER, ni un \
                                          fichier PKCS#12/PFX"
                .into(),
            ImportError::Damaged(why) => format!("le fichier est abîmé ou tronqué : {why}"),
            ImportError::PasswordNeeded(what) => {
                format!("{what} est chiffré : donnez son mot de passe")
            }
            ImportError::WrongPassword => "le mot de passe est incorrect".into(),
            ImportError::SeveralKeys(n) => format!(
                "le fichier contient {n} clés privées ; importez un certificat avec sa \
                 propre clé"
            ),
            ImportError::NoCertificate => "le fichier ne contient aucun certificat".into(),
            ImportError::NoKey => "le fichier ne contient pas la clé privée du certificat, \
                                   et aucune demande en attente de cette appliance n'a sa clé"
                .into(),
            ImportError::KeyMismatch => "la clé privée n'est pas celle du certificat".into(),
            ImportError::Unsupported(what) => format!(
                "non pris en charge : {what} (l'appliance présente des clés RSA de 2048 bits \
                 ou plus, ECDSA P-256 ou P-384, et Ed25519)"
            ),
            ImportError::Expired(when) => format!("le certificat a expiré le {when}"),
            ImportError::Usage(why) => {
                format!("le certificat ne peut pas servir à un serveur TLS : {why}")
            }
            ImportError::Chain(why) => {
                format!("la chaîne n'est pas celle du certificat : {why}")
            }
            ImportError::Duplicate { name, id } => {
                format!("ce certificat est déjà enregistré, sous le nom « {name} » ({id})")
            }
        },
        CertificateError::NotFound(id) => {
            format!("aucun certificat ni demande {id:?} n'est enregistré")
        }
        CertificateError::WeakPassword => format!(
            "un export PKCS#12 demande un mot de passe d'au moins {} caractères (la clé \
             privée n'est jamais exportée sans)",
            crate::tls::EXPORT_PASSWORD_MIN
        ),
        CertificateError::InUse(_) => "le certificat est présenté sur une adresse ou est \
                                       celui de l'appliance : attribuez d'abord ses \
                                       adresses à un autre certificat"
            .into(),
        CertificateError::Invalid(_)
        | CertificateError::Internal { .. }
        | CertificateError::Store(_) => return None,
    })
}

/// An import warning in the page's language.
pub(crate) fn warning(lang: Lang, w: &CertificateWarning) -> String {
    if lang == Lang::En {
        return w.message.clone();
    }
    match w.code.as_str() {
        "expires_soon" => "il expire dans moins de 30 jours",
        "not_yet_valid" => "il n'est pas encore valide (vérifiez l'horloge de l'appliance)",
        "name_mismatch" => {
            "il ne nomme ni le nom d'hôte ni une adresse de cette appliance (les \
             navigateurs avertiront, sauf s'il est joint par un nom qu'il porte)"
        }
        "self_signed" => {
            "il est auto-signé : les navigateurs avertiront tant qu'il n'est pas approuvé \
             à la main"
        }
        "weak_key" => "sa clé RSA fait moins de 2048 bits",
        "chain_reordered" => {
            "la chaîne était dans le désordre ; elle est enregistrée et présentée en \
             commençant par le certificat"
        }
        _ => return w.message.clone(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_refusals_are_said_in_french_with_the_apis_status() {
        let refused = |e| CertificateError::Refused(e);
        let (status, fr) = error(Lang::Fr, refused(ImportError::WrongPassword));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fr, "le mot de passe est incorrect");
        let (_, en) = error(Lang::En, refused(ImportError::WrongPassword));
        assert_eq!(en, "the password is wrong");
        let (_, fr) = error(Lang::Fr, refused(ImportError::KeyMismatch));
        assert!(fr.contains("n'est pas celle du certificat"), "{fr}");
        let (_, fr) = error(Lang::Fr, refused(ImportError::Expired("2020-01-01".into())));
        assert!(fr.contains("a expiré le 2020-01-01"), "{fr}");
        let (_, fr) = error(Lang::Fr, refused(ImportError::Unrecognized));
        assert!(fr.contains("ni du PEM"), "{fr}");
        let (status, fr) = error(Lang::Fr, CertificateError::InUse("x".into()));
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(fr.contains("attribuez d'abord"), "{fr}");
        // The appliance's own failures keep the API's words.
        let (_, fr) = error(Lang::Fr, CertificateError::Invalid("bad name".into()));
        assert_eq!(fr, "bad name");
    }

    #[test]
    fn warnings_follow_the_language() {
        let w = CertificateWarning {
            code: "self_signed".into(),
            message: "it is self-signed".into(),
        };
        assert_eq!(warning(Lang::En, &w), "it is self-signed");
        assert!(warning(Lang::Fr, &w).contains("auto-signé"));
    }

    #[test]
    fn no_french_sentence_is_left_in_english() {
        let same = super::super::tests::same_entries(&EN, &FR);
        assert!(same < 4, "{same} identical entries");
    }
}
