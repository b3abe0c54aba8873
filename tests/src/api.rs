//! The appliance's API as tests use it, the same on a QEMU guest ([`crate::Machine`]) and
//! on a dev-mode daemon ([`crate::dev::DevDaemon`]): logging in and the first login's
//! password change.

use crate::https::Response;
use api_types::{Credentials, PasswordChange, Session};

/// Something that answers the appliance's API.
pub trait Api {
    /// One API call: JSON body, optional Bearer token.
    fn api(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Response;

    /// One API call with more headers.
    fn api_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response;

    /// A call that gives the account's password again (`X-Current-Password`): a factory
    /// reset, a change of the served certificate, of the update server.
    fn confirmed(
        &self,
        method: &str,
        path: &str,
        token: &str,
        password: &str,
        body: Option<&str>,
    ) -> Response {
        self.api_with(
            method,
            path,
            Some(token),
            &[(appliancectl::CURRENT_PASSWORD_HEADER, password)],
            body,
        )
    }

    /// `POST /api/v1/session` as admin with `password`.
    fn login(&self, password: &str) -> Response {
        let body = serde_json::json!(Credentials {
            username: "admin".to_string(),
            password: password.to_string(),
            totp: None,
        })
        .to_string();
        self.api("POST", "/api/v1/session", None, Some(&body))
    }

    /// A session token of admin; panics unless the login succeeds.
    fn token(&self, password: &str) -> String {
        token_of(&self.login(password))
    }

    /// The first login of a factory appliance: admin/password must be changed, here to
    /// `new_password`; a token that works afterwards.
    fn first_login(&self, new_password: &str) -> String {
        let r = self.login("password");
        let session: Session = serde_json::from_value(r.value()).expect("a session answer");
        assert!(session.must_change_password);
        let token = token_of(&r);
        let body = serde_json::json!(PasswordChange {
            current: "password".to_string(),
            new: new_password.to_string(),
        })
        .to_string();
        let r = self.api("PUT", "/api/v1/account/password", Some(&token), Some(&body));
        assert_eq!(r.status, 204, "{:?}", String::from_utf8_lossy(&r.body));
        token
    }
}

/// The token of a login answer; panics unless the login succeeded.
pub fn token_of(r: &Response) -> String {
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let session: Session = serde_json::from_value(r.value()).expect("a session answer");
    session.token
}
