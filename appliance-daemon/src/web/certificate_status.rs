//! Certificates near their end on Status > Basics (docs/certificates.md "Expiry
//! warnings"): each stored certificate expiring within 30 days, named, with its days left.
//! The words live here, in both languages.

use super::i18n::Lang;
use super::layout::Section;
use api_types::ExpiringCertificate;

struct Words {
    heading: &'static str,
    certificate: &'static str,
    expires: &'static str,
    days_left: &'static str,
    assigned_to: &'static str,
    not_assigned: &'static str,
    every_other_address: &'static str,
    expired: &'static str,
    /// `{n}` is replaced.
    days: &'static str,
    one_day: &'static str,
    last_day: &'static str,
}

const EN: Words = Words {
    heading: "Certificates expiring within 30 days",
    certificate: "Certificate",
    expires: "Expires (UTC)",
    days_left: "Days left",
    assigned_to: "Assigned to",
    not_assigned: "not assigned",
    every_other_address: "every address without its own",
    expired: "expired",
    days: "{n} days",
    one_day: "1 day",
    last_day: "expires today",
};

const FR: Words = Words {
    heading: "Certificats expirant dans les 30 jours",
    certificate: "Certificat",
    expires: "Expire le (UTC)",
    days_left: "Jours restants",
    assigned_to: "Attribué à",
    not_assigned: "non attribué",
    every_other_address: "toute adresse sans certificat propre",
    expired: "expiré",
    days: "{n} jours",
    one_day: "1 jour",
    last_day: "expire aujourd'hui",
};

/// The section, when a stored certificate expires within 30 days.
pub(super) fn section(lang: Lang, expiring: &[ExpiringCertificate]) -> Option<Section> {
    if expiring.is_empty() {
        return None;
    }
    let w = match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    };
    let rows = expiring
        .iter()
        .map(|c| {
            let left = match c.days_left {
                n if n < 0 => w.expired.to_string(),
                0 => w.last_day.to_string(),
                1 => w.one_day.to_string(),
                n => w.days.replace("{n}", &n.to_string()),
            };
            let assigned = if c.assigned.is_empty() {
                w.not_assigned.to_string()
            } else {
                c.assigned
                    .iter()
                    .map(|a| {
                        if a == "*" {
                            w.every_other_address
                        } else {
                            a.as_str()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![c.name.clone(), c.not_after.clone(), left, assigned]
        })
        .collect();
    Some(Section {
        id: "certificates-expiring",
        heading: w.heading.to_string(),
        columns: vec![
            w.certificate.to_string(),
            w.expires.to_string(),
            w.days_left.to_string(),
            w.assigned_to.to_string(),
        ],
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_in_words() {
        let c = |days_left| ExpiringCertificate {
            id: "a".into(),
            name: "Portal".into(),
            not_after: "2027-01-05T00:00:00Z".into(),
            days_left,
            assigned: vec!["*".into()],
        };
        assert!(section(Lang::En, &[]).is_none());
        let s = section(Lang::En, &[c(5), c(1), c(0), c(-2)]).unwrap();
        let left: Vec<&str> = s.rows.iter().map(|r| r[2].as_str()).collect();
        assert_eq!(left, ["5 days", "1 day", "expires today", "expired"]);
        assert_eq!(s.rows[0][3], "every address without its own");
        let s = section(Lang::Fr, &[c(5)]).unwrap();
        assert_eq!(s.rows[0][2], "5 jours");
    }
}
