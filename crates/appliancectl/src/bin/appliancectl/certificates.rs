//! `certificate list|import|export|request|assign|delete`: the appliance's certificate
//! store. Passwords come from a file or standard input, never the command line; an export
//! is written to a new file only (a key never lands over an existing file).

use crate::args::PasswordFrom;
use crate::backup::read_password;
use crate::render::aligned;
use crate::{client_error, print_raw, Cli, Failure};
use appliancectl::admin::{self, certificate_path};
use appliancectl::api::{
    CertificateAssign, CertificateExport, CertificateImported, CertificateRequest,
    CertificateRequested, StoredCertificate,
};
use appliancectl::Method;
use std::io::Write;
use std::path::Path;

impl Cli {
    pub(crate) fn certificate_list(&mut self) -> Result<(), Failure> {
        let Some(list) =
            self.session_call::<Vec<StoredCertificate>>(Method::GET, admin::CERTIFICATES, None)?
        else {
            return Ok(());
        };
        print!("{}", list_text(&list));
        Ok(())
    }

    pub(crate) fn certificate_import(
        &mut self,
        file: &Path,
        name: Option<&str>,
        password: Option<&PasswordFrom>,
    ) -> Result<(), Failure> {
        let bytes = std::fs::read(file)
            .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", file.display())))?;
        let password = password.map(read_password).transpose()?;
        let mut path = admin::CERTIFICATES_IMPORT.to_string();
        if let Some(name) = name {
            path.push_str("?name=");
            path.push_str(&percent_encode(name));
        }
        let mut headers = vec![("Content-Type", "application/octet-stream")];
        if let Some(p) = &password {
            headers.push(("X-Password", p.as_str()));
        }
        let answer = self
            .confirmed_client()?
            .send_with(Method::POST, &path, &headers, bytes)
            .and_then(appliancectl::Response::error_for_status)
            .map_err(client_error)?;
        let Some(imported) = self.typed::<CertificateImported>(&answer)? else {
            return Ok(());
        };
        println!(
            "Imported as {} (not served until assigned: appliancectl certificate assign {} ADDRESS).",
            imported.certificate.id, imported.certificate.id
        );
        print!("{}", list_text(std::slice::from_ref(&imported.certificate)));
        for w in &imported.warnings {
            println!("Warning: {}", w.message);
        }
        Ok(())
    }

    pub(crate) fn certificate_export(
        &mut self,
        id: &str,
        format: &str,
        password: Option<&PasswordFrom>,
        output: &Path,
    ) -> Result<(), Failure> {
        if output.exists() {
            return Err(Failure::Failed(format!(
                "{} exists; give a new file name",
                output.display()
            )));
        }
        let password = password.map(read_password).transpose()?;
        if format == "pkcs12" && password.is_none() {
            return Err(Failure::Failed(
                "a PKCS#12 export carries the private key: give its password with --password-file or --password-stdin".into(),
            ));
        }
        let body = serde_json::json!(CertificateExport {
            format: format.to_string(),
            password,
        });
        let answer = self
            .session_client()?
            .call(Method::POST, &certificate_path(id, "export"), Some(&body))
            .map_err(client_error)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(output)
            .and_then(|mut f| {
                f.write_all(&answer.body)
                    .and_then(|()| f.sync_all())
                    .map(|()| f)
            })
            .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", output.display())))?;
        let _ = file.flush();
        println!(
            "Saved {} ({} bytes, {format}).",
            output.display(),
            answer.body.len()
        );
        Ok(())
    }

    pub(crate) fn certificate_request(
        &mut self,
        names: Vec<String>,
        key: &str,
        output: Option<&Path>,
    ) -> Result<(), Failure> {
        let body = serde_json::json!(CertificateRequest {
            names,
            key: Some(key.to_string()),
        });
        let answer = self
            .session_client()?
            .call(Method::POST, admin::CERTIFICATES_REQUEST, Some(&body))
            .map_err(client_error)?;
        if self.options.json {
            return print_raw(&answer.body);
        }
        let requested: CertificateRequested = answer.json().map_err(client_error)?;
        match output {
            Some(path) => {
                std::fs::write(path, &requested.csr).map_err(|e| {
                    Failure::Failed(format!("cannot write {}: {e}", path.display()))
                })?;
                println!(
                    "Request {} ({}, {}): CSR saved to {}. Import the signed certificate with \
                     appliancectl certificate import; its key stays on the appliance.",
                    requested.id,
                    requested.key_type,
                    requested.names.join(", "),
                    path.display()
                );
            }
            None => print!("{}", requested.csr),
        }
        Ok(())
    }

    pub(crate) fn certificate_assign(
        &mut self,
        id: &str,
        addresses: Vec<String>,
    ) -> Result<(), Failure> {
        let body = serde_json::json!(CertificateAssign { addresses });
        let answer = self
            .confirmed_client()?
            .call(Method::PUT, &certificate_path(id, "assign"), Some(&body))
            .map_err(client_error)?;
        let Some(certificate) = self.typed::<StoredCertificate>(&answer)? else {
            return Ok(());
        };
        println!("Served from the next connection on:");
        print!("{}", list_text(std::slice::from_ref(&certificate)));
        Ok(())
    }

    /// Show the TLS settings; with a change, read them, change what was given and put
    /// them back (fields a newer appliance has and this client does not know are kept).
    pub(crate) fn certificate_settings(
        &mut self,
        min_tls: Option<String>,
        hsts: Option<bool>,
    ) -> Result<(), Failure> {
        let answer = self
            .session_client()?
            .call(Method::GET, admin::CERTIFICATES_SETTINGS, None)
            .map_err(client_error)?;
        let answer = if min_tls.is_none() && hsts.is_none() {
            answer
        } else {
            let mut settings: serde_json::Value = answer.json().map_err(client_error)?;
            if let Some(version) = min_tls {
                settings["min_tls_version"] = version.into();
            }
            if let Some(on) = hsts {
                settings["hsts"] = on.into();
            }
            self.session_client()?
                .call(Method::PUT, admin::CERTIFICATES_SETTINGS, Some(&settings))
                .map_err(client_error)?
        };
        let Some(settings) = self.typed::<serde_json::Value>(&answer)? else {
            return Ok(());
        };
        let hsts = match settings["hsts"].as_bool() {
            Some(true) => "on (sent when the certificate served is not self-signed)",
            Some(false) => "off",
            None => "unknown",
        };
        print!(
            "{}",
            aligned(&[
                (
                    "Minimum TLS version".into(),
                    settings["min_tls_version"]
                        .as_str()
                        .unwrap_or("unknown")
                        .to_string()
                ),
                ("HSTS".into(), hsts.into()),
            ])
        );
        Ok(())
    }

    pub(crate) fn certificate_delete(&mut self, id: &str) -> Result<(), Failure> {
        let answer = self
            .confirmed_client()?
            .call(Method::DELETE, &certificate_path(id, ""), None)
            .map_err(client_error)?;
        self.report(&answer, &format!("Certificate {id} deleted."))
    }
}

/// Each certificate as aligned rows, a blank line between two.
fn list_text(list: &[StoredCertificate]) -> String {
    list.iter()
        .map(|c| {
            let assigned = if c.assigned.is_empty() {
                "none".to_string()
            } else {
                c.assigned
                    .iter()
                    .map(|a| {
                        if a == "*" {
                            "every other address"
                        } else {
                            a.as_str()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            aligned(&[
                ("Id".into(), c.id.clone()),
                ("Name".into(), c.name.clone()),
                ("Subject".into(), c.subject.clone()),
                ("Issuer".into(), c.issuer.clone()),
                ("Names".into(), c.sans.join(", ")),
                (
                    "Valid".into(),
                    format!("{} to {}", c.not_before, c.not_after),
                ),
                ("Key".into(), c.key_type.clone()),
                ("SHA-256".into(), c.sha256.clone()),
                ("Served on".into(), assigned),
            ])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A query value: unreserved characters as they are, the rest as %XX.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_and_lists_read() {
        assert_eq!(percent_encode("Support cert/2026"), "Support%20cert%2F2026");
        let text = list_text(&[StoredCertificate {
            id: "self-signed".into(),
            assigned: vec!["*".into()],
            ..StoredCertificate::default()
        }]);
        assert!(text.contains("every other address"), "{text}");
    }
}
