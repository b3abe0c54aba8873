//! The daemon in dev mode on random loopback ports, for API and browser tests: started from
//! its binary, its addresses learnt from its log lines, killed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::https::{self, Response, Trust};

pub struct DevDaemon {
    child: Child,
    pub https: SocketAddr,
    pub http: Option<SocketAddr>,
    pub state: PathBuf,
    /// Every log line so far is also forwarded here.
    pub log: mpsc::Receiver<String>,
}

impl Drop for DevDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh state directory under the system's temp dir.
pub fn state_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daemon-dev-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a state directory");
    dir
}

impl DevDaemon {
    /// Start `binary` (the daemon) on `state`; wait for HTTPS, HTTP (if asked) and the
    /// self-check. `env` sets e.g. APPLIANCE_SLOT / APPLIANCE_PROFILE.
    pub fn start(binary: &Path, state: &Path, with_http: bool, env: &[(&str, &str)]) -> Self {
        Self::start_with(binary, state, with_http, env, &[])
    }

    /// [`DevDaemon::start`] with more arguments (e.g. the network test options).
    pub fn start_with(
        binary: &Path,
        state: &Path,
        with_http: bool,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let mut cmd = Command::new(binary);
        cmd.args(["--dev", "--state-dir"])
            .arg(state)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied());
        if with_http {
            cmd.args(["--http-listen", "127.0.0.1:0"]);
        }
        Self::start_command(cmd, state, with_http)
    }

    /// Start the daemon as `cmd` says (e.g. inside a network namespace with
    /// `ip netns exec`), its state in `state`; wait as [`DevDaemon::start`] does.
    pub fn start_command(mut cmd: Command, state: &Path, with_http: bool) -> Self {
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start appliance-daemon");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("daemon: {line}");
                let _ = tx.send(line);
            }
        });
        let addr_of = |line: &str| -> SocketAddr {
            line.split("addr=")
                .nth(1)
                .and_then(|a| a.trim().parse().ok())
                .unwrap_or_else(|| panic!("no address in {line:?}"))
        };
        let (mut https, mut http, mut checked) = (None, None, false);
        while !(https.is_some() && (http.is_some() || !with_http) && checked) {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("the daemon logs its addresses and self-check within 30 s");
            if line.contains("serving HTTPS") {
                https = Some(addr_of(&line));
            } else if line.contains("redirecting HTTP") {
                http = Some(addr_of(&line));
            } else if line.contains("self-check passed") {
                checked = true;
            } else if line.contains("ERROR") {
                panic!("daemon error: {line}");
            }
        }
        DevDaemon {
            child,
            https: https.unwrap_or_else(|| unreachable!()),
            http,
            state: state.to_path_buf(),
            log: rx,
        }
    }

    /// A page as a signed-in browser gets it: the login form (its CSRF cookie and field),
    /// the login, then `path` with the session cookie.
    pub fn web_page(&self, password: &str, path: &str) -> String {
        let web = |method: &str, path: &str, cookies: &str, body: &str| {
            let mut headers = vec![("Cookie", cookies)];
            if !body.is_empty() {
                headers.push(("Content-Type", "application/x-www-form-urlencoded"));
            }
            https::request(
                self.https,
                method,
                path,
                &headers,
                body.as_bytes(),
                &https::Trust::Any,
                Duration::from_secs(60),
            )
            .unwrap()
        };
        let cookies_of = |r: &https::Response| {
            r.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
                .map(|(_, v)| v.split(';').next().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join("; ")
        };
        let form = web("GET", "/appliance/login", "", "");
        let html = String::from_utf8_lossy(&form.body).into_owned();
        let csrf = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_string();
        let body = format!(
            "csrf={csrf}&username=admin&password={}",
            password.replace(' ', "+")
        );
        let login = web("POST", "/appliance/login", &cookies_of(&form), &body);
        assert!(
            login.status == 303 || login.status == 302,
            "{}",
            login.status
        );
        let page = web("GET", path, &cookies_of(&login), "");
        assert_eq!(page.status, 200);
        String::from_utf8_lossy(&page.body).into_owned()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Trust exactly the certificate this daemon wrote.
    pub fn trust(&self) -> Trust {
        Trust::pinned_pem(&self.state.join("tls/cert.pem")).expect("the daemon's cert.pem")
    }

    /// One API call with an optional Bearer token and JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Response {
        api_call(self.https, &self.trust(), method, path, token, body)
    }
}

impl crate::Api for DevDaemon {
    fn api(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Response {
        self.call(method, path, token, body)
    }

    fn api_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        api_call_with(
            self.https,
            &self.trust(),
            method,
            path,
            token,
            headers,
            body,
        )
    }
}

/// One API call to `addr`: JSON body, Bearer token, 60 s timeout (logins hash passwords).
pub fn api_call(
    addr: SocketAddr,
    trust: &Trust,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Response {
    api_call_with(addr, trust, method, path, token, &[], body)
}

/// [`api_call`] with more headers.
pub fn api_call_with(
    addr: SocketAddr,
    trust: &Trust,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = extra.to_vec();
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    https::request(
        addr,
        method,
        path,
        &headers,
        body.unwrap_or("").as_bytes(),
        trust,
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
}
