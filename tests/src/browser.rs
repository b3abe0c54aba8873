//! A real browser for the web UI tests: Debian's headless Chromium driven through
//! chromedriver's W3C WebDriver protocol (JSON over plain HTTP on loopback).

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Start chromedriver on a free loopback port and open a headless Chromium session that
    /// accepts the appliance's self-signed certificate and asks for `accept_language`.
    pub fn start(accept_language: &str) -> anyhow::Result<Browser> {
        for path in [CHROMIUM, DRIVER] {
            if !std::path::Path::new(path).exists() {
                bail!("{path} is missing: install Debian's chromium and chromium-driver (image/deps does)");
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {DRIVER}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, v)) = http(addr, "GET", "/status", None) {
                if v["value"]["ready"] == true {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--no-first-run"],
                "prefs": {"intl.accept_languages": accept_language}
            }
        }}});
        let (status, v) = http(addr, "POST", "/session", Some(&caps))?;
        if status != 200 {
            bail!("chromedriver refused the session ({status}): {v}");
        }
        browser.session = v["value"]["sessionId"]
            .as_str()
            .context("no sessionId")?
            .to_string();
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (status, v) = http(
            self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )?;
        if status != 200 {
            bail!(
                "WebDriver {method} {path} failed ({status}): {}",
                v["value"]
            );
        }
        Ok(v["value"].clone())
    }

    pub fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", "/url", Some(&json!({ "url": url })))
            .map(|_| ())
    }

    pub fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .call("GET", "/url", None)?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> anyhow::Result<String> {
        Ok(self
            .call("GET", "/source", None)?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    fn element(&self, css: &str) -> anyhow::Result<String> {
        let v = self
            .call(
                "POST",
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .with_context(|| format!("no element {css:?} on {}", self.url().unwrap_or_default()))?;
        Ok(v[ELEMENT_KEY].as_str().context("element id")?.to_string())
    }

    pub fn exists(&self, css: &str) -> bool {
        self.element(css).is_ok()
    }

    pub fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.element(css)?;
        self.call("POST", &format!("/element/{id}/clear"), Some(&json!({})))?;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Choose `path` in the file input `css` (as a person picking a file does).
    pub fn choose_file(&self, css: &str, path: &std::path::Path) -> anyhow::Result<()> {
        let id = self.element(css)?;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": path.to_string_lossy() })),
        )
        .map(|_| ())
    }

    pub fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css)?;
        self.call("POST", &format!("/element/{id}/click"), Some(&json!({})))
            .map(|_| ())
    }

    pub fn text(&self, css: &str) -> anyhow::Result<String> {
        let id = self.element(css)?;
        Ok(self
            .call("GET", &format!("/element/{id}/text"), None)?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    /// Wait until an element matching `css` is on the page (after a form submission that
    /// lands on the same URL), and return its text.
    pub fn wait_for_text(&self, css: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(text) = self.text(css) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("no element {css:?} after {timeout:?} on {}", self.url()?);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the element matching `css` holds `needle` (after a form submission that
    /// lands on a page which already showed such an element, e.g. a previous notice), and
    /// return its text.
    pub fn wait_for_text_with(
        &self,
        css: &str,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text(css).unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("{css:?} does not hold {needle:?} after {timeout:?}: {text:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Log in to the appliance at `base` (`https://host:port`) as admin with the factory
    /// password and change it to `new_password`, as a new appliance asks; ends on Status.
    pub fn first_login(
        &self,
        base: &str,
        new_password: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        self.goto(&format!("{base}/appliance/login"))?;
        self.type_into("#username", "admin")?;
        self.type_into("#password", "password")?;
        self.click("#login")?;
        self.wait_for_url("/appliance/password", timeout)?;
        self.type_into("#current", "password")?;
        self.type_into("#new", new_password)?;
        self.type_into("#confirm", new_password)?;
        self.click("#change")?;
        self.wait_for_url("/appliance/status?changed=password", timeout)?;
        Ok(())
    }

    /// Let the page's downloads land in `dir` (Chromium's DevTools command, through
    /// chromedriver), without a prompt.
    pub fn allow_downloads(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        self.call(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({"cmd": "Browser.setDownloadBehavior", "params": {
                "behavior": "allow", "downloadPath": dir.to_string_lossy()
            }})),
        )
        .map(|_| ())
    }

    /// Wait until a download is complete in `dir` (no partial `.crdownload` left) and
    /// return its path.
    pub fn wait_for_download(
        dir: &std::path::Path,
        timeout: Duration,
    ) -> anyhow::Result<std::path::PathBuf> {
        let deadline = Instant::now() + timeout;
        loop {
            let names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .collect();
            let partial = names
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "crdownload"));
            if let (false, Some(done)) = (partial, names.first()) {
                return Ok(done.clone());
            }
            if Instant::now() > deadline {
                bail!(
                    "no complete download in {} after {timeout:?}",
                    dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the current URL ends with `suffix` (after a form submission).
    pub fn wait_for_url(&self, suffix: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.url()?;
            if url.ends_with(suffix) {
                return Ok(url);
            }
            if Instant::now() > deadline {
                bail!("still at {url} after {timeout:?}, expected …{suffix}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// One JSON request to chromedriver. On a raw socket on purpose: chromedriver speaks plain
/// HTTP on loopback, and the product's client (appliancectl) speaks HTTPS only.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let body = body
        .map(std::string::ToString::to_string)
        .unwrap_or_default();
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes())?;
    // chromedriver keeps the connection open despite `Connection: close`: read the head,
    // then exactly Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            bail!("chromedriver closed the connection before the end of the head");
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line in {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while raw.len() < head_end + length {
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            bail!("chromedriver closed the connection in the middle of a body");
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let body = &raw[head_end..head_end + length];
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).context("chromedriver's answer is not JSON")?
    };
    Ok((status, value))
}
