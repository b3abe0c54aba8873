//! What every page is made of: the frame ([`Page`]), the templates shared by several
//! pages (login, password, confirmation, going down, message, tables) and how numbers
//! are written on them.

use askama::Template;

use super::i18n::Text;
pub(super) use units::bytes;

/// The part every page has.
pub(crate) struct Page {
    pub t: &'static Text,
    pub lang: &'static str,
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    /// Which menu entry is current; empty hides the menu.
    pub nav: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// While this appliance is the backup of a failover pair: the sentence saying where
    /// synced settings are changed; their forms are shown disabled with it
    /// (`managed.html`).
    pub managed: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub page: Page,
    pub username: String,
    /// Not empty on the second step (the account's TOTP code).
    pub ticket: String,
    pub a: &'static super::i18n::accounts::AccountsText,
}

#[derive(Template)]
#[template(path = "password.html")]
pub(super) struct PasswordPage {
    pub page: Page,
    pub forced: bool,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(super) struct ConfirmPage {
    pub page: Page,
    pub action: &'static str,
    pub question: &'static str,
    pub button: &'static str,
}

#[derive(Template)]
#[template(path = "going_down.html")]
pub(super) struct GoingDownPage {
    pub page: Page,
    pub action: &'static str,
    pub text: &'static str,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage {
    pub page: Page,
    pub back: String,
}

/// A page of tables: label/value facts, or a list with column headings.
#[derive(Template)]
#[template(path = "table.html")]
pub(super) struct TablePage {
    pub page: Page,
    pub sections: Vec<Section>,
    pub power_buttons: bool,
}

pub(super) struct Section {
    pub id: &'static str,
    pub heading: String,
    /// Empty for a label/value table.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Section {
    pub(super) fn facts(id: &'static str, heading: &str, rows: Vec<(&str, String)>) -> Self {
        Section {
            id,
            heading: heading.to_string(),
            columns: Vec::new(),
            rows: rows
                .into_iter()
                .map(|(k, v)| vec![k.to_string(), v])
                .collect(),
        }
    }
}

/// 93784 -> "1 d 2 h 03 min".
pub(super) fn duration(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m:02} min"),
        _ => format!("{d} d {h} h {m:02} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(59), "0 min");
        assert_eq!(duration(3660), "1 h 01 min");
        assert_eq!(duration(93_784), "1 d 2 h 03 min");
    }
}
