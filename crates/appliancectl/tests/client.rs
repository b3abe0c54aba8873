//! The library against a small HTTPS appliance: trust, sessions, errors.

mod common;

use appliancectl::{
    blocking, format_fingerprint, Client, Endpoint, Error, Method, StatusCode, Trust,
};
use common::{TestServer, PASSWORD, TOKEN, USER};
use serde_json::json;

fn pinned(server: &TestServer) -> Trust {
    Trust::Pinned {
        sha256: server.fingerprint,
    }
}

#[tokio::test]
async fn the_right_pin_is_accepted_for_any_name() {
    let server = TestServer::start();
    let client = Client::new(server.addr.into(), &pinned(&server)).unwrap();
    let health = client.health().await.unwrap();
    assert_eq!(health.status, "ok");
    assert_eq!(health.slot, "A");
    // The certificate names neither 127.0.0.1 nor localhost: a pin does not care.
    let by_name = Client::new(
        Endpoint::new("localhost", server.addr.port()),
        &pinned(&server),
    );
    by_name.unwrap().health().await.unwrap();
}

#[tokio::test]
async fn a_wrong_pin_is_refused_with_the_fingerprint_seen() {
    let server = TestServer::start();
    let trust = Trust::Pinned { sha256: [7; 32] };
    let client = Client::new(server.addr.into(), &trust).unwrap();
    let err = client.health().await.unwrap_err();
    match &err {
        Error::CertificateMismatch { seen, expected, .. } => {
            assert_eq!(*seen, server.fingerprint);
            assert_eq!(*expected, [7; 32]);
        }
        other => panic!("expected a certificate mismatch, got {other:?}"),
    }
    let message = err.to_string();
    let seen = format_fingerprint(&server.fingerprint);
    assert!(message.contains(&seen), "{message}");
    assert!(message.contains(&format!("--pin {seen}")), "{message}");
    // Nothing reached the API.
    assert!(server.authorizations().is_empty());
}

#[tokio::test]
async fn fetch_fingerprint_reads_the_presented_certificate() {
    let server = TestServer::start();
    let seen = appliancectl::fetch_fingerprint(&server.addr.into())
        .await
        .unwrap();
    assert_eq!(seen, server.fingerprint);
}

#[tokio::test]
async fn a_ca_file_verifies_chain_and_name() {
    let server = TestServer::start_with_ca();
    let ca = Trust::CaFile(server.ca_file.clone().unwrap());
    let by_name = Client::new(Endpoint::new("localhost", server.addr.port()), &ca).unwrap();
    by_name.health().await.unwrap();
    let by_address = Client::new(server.addr.into(), &ca).unwrap();
    by_address.health().await.unwrap();

    // A self-signed appliance is not vouched for by that CA.
    let stranger = TestServer::start();
    let client = Client::new(Endpoint::new("localhost", stranger.addr.port()), &ca).unwrap();
    let err = client.health().await.unwrap_err();
    assert!(matches!(err, Error::CertificateRejected { .. }), "{err:?}");
    assert!(err.to_string().contains("is not trusted"), "{err}");
}

#[tokio::test]
async fn a_missing_ca_file_is_a_clear_error() {
    let err = Client::new(
        Endpoint::new("localhost", 443),
        &Trust::CaFile("/nonexistent/ca.pem".into()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::CaFile { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn insecure_accepts_any_certificate() {
    let server = TestServer::start();
    let client = Client::new(server.addr.into(), &Trust::InsecureAcceptAny).unwrap();
    assert_eq!(client.health().await.unwrap().version, "1.2.0");
}

#[tokio::test]
async fn login_keeps_the_token_and_sends_it_as_bearer() {
    let server = TestServer::start();
    let mut client = Client::new(server.addr.into(), &pinned(&server)).unwrap();
    let session = client.login(USER, PASSWORD).await.unwrap();
    assert_eq!(session.token, TOKEN);
    assert!(!session.must_change_password);
    assert_eq!(client.token(), Some(TOKEN));
    let status = client.status().await.unwrap();
    assert_eq!(status.model, "RS-1000");
    assert_eq!(status.specs.disks[0].name, "sda");
    assert_eq!(
        server.authorizations(),
        vec![Some(format!("Bearer {TOKEN}"))]
    );
    assert_eq!(client.reboot().await.unwrap().status, "rebooting");
    assert_eq!(client.shutdown().await.unwrap().status, "powering_off");
    assert_eq!(
        *server.appliance.power.lock().unwrap(),
        vec!["rebooting", "powering_off"]
    );
}

#[tokio::test]
async fn api_errors_keep_status_code_and_message() {
    let server = TestServer::start();
    let mut client = Client::new(server.addr.into(), &pinned(&server)).unwrap();
    let err = client.login(USER, "wrong").await.unwrap_err();
    match &err {
        Error::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(*status, StatusCode::UNAUTHORIZED);
            assert_eq!(code, "invalid_credentials");
            assert_eq!(message, "The user name or the password is wrong.");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!err.is_unauthorized());
    assert_eq!(client.token(), None);

    let err = client.status().await.unwrap_err();
    assert_eq!(err.api_code(), Some("unauthorized"));
    assert!(err.is_unauthorized());
    assert_eq!(server.authorizations(), vec![None]);
}

#[tokio::test]
async fn the_first_login_must_change_the_password() {
    let server = TestServer::start_fresh();
    let mut client = Client::new(server.addr.into(), &pinned(&server)).unwrap();
    assert!(
        client
            .login(USER, PASSWORD)
            .await
            .unwrap()
            .must_change_password
    );
    let err = client.status().await.unwrap_err();
    assert!(err.is_must_change_password(), "{err:?}");
    let err = client
        .change_password("nope", "long-enough-1")
        .await
        .unwrap_err();
    assert_eq!(err.api_code(), Some("wrong_password"));
    let err = client.change_password(PASSWORD, "short").await.unwrap_err();
    assert_eq!(err.api_code(), Some("weak_password"));
    client
        .change_password(PASSWORD, "long-enough-1")
        .await
        .unwrap();
    client.status().await.unwrap();
}

#[tokio::test]
async fn request_returns_any_status_with_its_json() {
    let server = TestServer::start();
    let client = Client::new(server.addr.into(), &pinned(&server)).unwrap();
    let (status, body) = client
        .request(
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": USER, "password": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_credentials");
    let (status, body) = client
        .request(Method::GET, "/api/v1/health", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["profile"], "vm");
}

#[tokio::test]
async fn a_closed_port_says_where_it_could_not_connect() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::new(Endpoint::new("127.0.0.1", port), &Trust::InsecureAcceptAny).unwrap();
    let err = client.health().await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
        "{err}"
    );
}

#[test]
fn the_blocking_client_does_the_same() {
    let server = TestServer::start();
    assert_eq!(
        blocking::fetch_fingerprint(&server.addr.into()).unwrap(),
        server.fingerprint
    );
    let mut client = blocking::Client::new(server.addr.into(), &pinned(&server)).unwrap();
    client.login(USER, PASSWORD).unwrap();
    assert_eq!(client.status().unwrap().slot, "A");
}

#[tokio::test]
async fn an_endless_answer_is_refused_not_read_into_memory() {
    let server = TestServer::start();
    let client = Client::new(server.addr.into(), &pinned(&server)).unwrap();
    let err = client.send(Method::GET, "/huge", None).await.unwrap_err();
    assert!(matches!(err, Error::Response { .. }), "{err:?}");
    assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
}

#[tokio::test]
async fn a_kept_connection_serves_several_requests_and_opens_again_after_a_close() {
    let server = TestServer::start();
    let client = Client::new(server.addr.into(), &pinned(&server)).unwrap();
    let mut connection = appliancectl::Connection::new(client);
    for _ in 0..3 {
        let answer = connection
            .send(Method::GET, "/api/v1/health", None)
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json_value().unwrap()["status"], "ok");
        assert!(answer.peer_certificate.is_some());
    }
    assert_eq!(connection.opened(), 1, "one connection for the three");
    connection.close();
    let answer = connection
        .send(Method::GET, "/api/v1/health", None)
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(connection.opened(), 2);
    // A server gone: an error, and the next request tries a new connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut gone = appliancectl::Connection::new(
        Client::new(Endpoint::new("127.0.0.1", port), &pinned(&server)).unwrap(),
    );
    assert!(matches!(
        gone.send(Method::GET, "/api/v1/health", None).await,
        Err(Error::Connect { .. })
    ));
    assert_eq!(gone.opened(), 0);
}
