//! The update server setting: where "check for updates" fetches the catalog, and which CA
//! certificate vouches for that server (docs/updates.md "Update server").

use serde::{Deserialize, Serialize};

use super::fetch::{parse_pem, HttpsUrl};
use crate::store::Record;

/// Stored as the `update_server` record and shown by `GET /api/v1/updates/server`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct UpdateServer {
    /// The directory holding `catalog.json` and `catalog.sig` (`https://…/`); `None`: no
    /// server, checking for updates is off.
    pub url: Option<String>,
    /// PEM of the CA certificate(s) the server's certificate must chain to; `None`: the
    /// system's bundle.
    pub ca_certificate: Option<String>,
}

impl Record for UpdateServer {
    const KEY: &'static str = "update_server";
}

/// `PUT /api/v1/updates/server`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    pub url: Option<String>,
    #[serde(default)]
    pub ca_certificate: Option<String>,
}

impl Change {
    /// The setting to store: the URL checked and ending in `/` (it names a directory),
    /// the PEM checked; empty strings mean none.
    pub(crate) fn validate(self) -> Result<UpdateServer, String> {
        let url = match self.url.map(|u| u.trim().to_string()) {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(mut u) => {
                HttpsUrl::parse(&u)?;
                if !u.ends_with('/') {
                    u.push('/');
                }
                Some(u)
            }
        };
        let ca_certificate = match self.ca_certificate {
            Some(pem) if !pem.trim().is_empty() => {
                parse_pem(&pem)?;
                Some(pem)
            }
            _ => None,
        };
        Ok(UpdateServer {
            url,
            ca_certificate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_a_directory() {
        let s = Change {
            url: Some(" https://updates.example.com/stable ".into()),
            ca_certificate: Some(String::new()),
        }
        .validate()
        .unwrap();
        assert_eq!(
            s.url.as_deref(),
            Some("https://updates.example.com/stable/")
        );
        assert_eq!(s.ca_certificate, None);
        assert!(Change {
            url: Some("http://updates.example.com/".into()),
            ca_certificate: None
        }
        .validate()
        .is_err());
        assert!(Change {
            url: None,
            ca_certificate: Some("not a certificate".into())
        }
        .validate()
        .is_err());
    }
}
