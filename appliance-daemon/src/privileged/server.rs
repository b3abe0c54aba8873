//! The privileged part's side of [`super::SOCKET`] and [`super::INIT_RELAY`]: one thread
//! per connection, one request per connection, every request checked here.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grubenv::{BootState, Env, Slot};
use package::{Keyring, Kind, Manifest, Signed, Version};
use sha2::{Digest, Sha256};

use super::{rules, Request, Response};
use crate::boot::{self, EnvStore};
use crate::system::BootSlot;
use crate::update::checks::target_slot;
use crate::update::Platform;

/// What the privileged part knows of the running slot, read at start.
#[derive(Debug)]
pub(super) struct Context {
    pub booted: BootSlot,
    pub profile: String,
    /// The running slot's trusted keys (read-only squashfs).
    pub keys: PathBuf,
}

/// grubenv's read-check-write steps one at a time.
static BOOT: Mutex<()> = Mutex::new(());

/// A peer that stops sending during an install for this long has failed.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Only the service's user (and root) may talk to the privileged part; the socket's
/// mode says the same, this holds if the mode were ever wrong.
fn peer_allowed(conn: &UnixStream) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    match getsockopt(conn, PeerCredentials) {
        Ok(c) if c.uid() == super::UID || c.uid() == 0 => true,
        Ok(c) => {
            tracing::warn!(
                uid = c.uid(),
                pid = c.pid(),
                "privileged: a connection from another user, closed"
            );
            false
        }
        Err(err) => {
            tracing::warn!("privileged: cannot read the peer's credentials: {err}");
            false
        }
    }
}

pub(super) fn serve(listener: UnixListener, ctx: Arc<Context>) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let ctx = Arc::clone(&ctx);
        let spawned = std::thread::Builder::new()
            .name("privileged".into())
            .spawn(move || handle(conn, &ctx));
        if let Err(err) = spawned {
            tracing::error!("privileged: cannot start a thread for a request: {err}");
        }
    }
}

fn handle(mut conn: UnixStream, ctx: &Context) {
    if !peer_allowed(&conn) {
        return;
    }
    let _ = conn.set_read_timeout(Some(READ_TIMEOUT));
    let req: Request = match control::read_frame(&mut conn) {
        Ok(r) => r,
        Err(err) => {
            tracing::warn!("privileged: a request that does not decode: {err}");
            return;
        }
    };
    let what = match &req {
        Request::ReadBootState => "read grubenv",
        Request::WriteBootState(_) => "write grubenv",
        Request::MarkGood => "mark the slot good",
        Request::InstallSlot { .. } => "install into a slot",
        Request::SetHostname(_) => "set the hostname",
        Request::RestartTimeService => "restart the time daemon",
    };
    let answer = match req {
        Request::ReadBootState => read_state(),
        Request::WriteBootState(block) => write_state(ctx, &block),
        Request::MarkGood => mark_good(ctx),
        Request::InstallSlot {
            slot,
            manifest,
            signature,
        } => install(
            ctx,
            &mut conn,
            &slot,
            &Signed {
                manifest,
                signature,
            },
        ),
        Request::SetHostname(name) => set_hostname(&name),
        Request::RestartTimeService => restart_time_service(),
    };
    match &answer {
        Response::Refused(why) => tracing::warn!("privileged: refused to {what}: {why}"),
        Response::Failed(why) => tracing::error!("privileged: could not {what}: {why}"),
        _ => tracing::debug!("privileged: {what}: done"),
    }
    let _ = control::write_frame(&mut conn, &answer);
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    BOOT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_state() -> Response {
    match EnvStore::Esp.read().map(|st| st.env().to_block()) {
        Ok(Ok(block)) => Response::BootState(block),
        Ok(Err(e)) => Response::Failed(e.to_string()),
        Err(e) => Response::Failed(e.to_string()),
    }
}

fn write_state(ctx: &Context, block: &[u8]) -> Response {
    let new = match Env::parse(block) {
        Ok(env) => BootState::from_env(env),
        Err(e) => return Response::Refused(format!("not a grubenv block: {e}")),
    };
    let _boot = lock();
    let current = match EnvStore::Esp.read() {
        Ok(st) => st,
        Err(e) => return Response::Failed(e.to_string()),
    };
    if let Err(why) = rules::check_write(&current, &new, ctx.booted) {
        return Response::Refused(why);
    }
    match EnvStore::Esp.write(&new) {
        Ok(()) => Response::Done,
        Err(e) => Response::Failed(e.to_string()),
    }
}

fn mark_good(ctx: &Context) -> Response {
    let _boot = lock();
    match boot::mark_good(ctx.booted) {
        Ok(boot::Outcome::Marked { device }) => Response::Marked {
            changed: true,
            device,
        },
        Ok(boot::Outcome::AlreadyGood { device }) => Response::Marked {
            changed: false,
            device,
        },
        Ok(boot::Outcome::Factory) => Response::Factory,
        Err(e) => Response::Failed(e.to_string()),
    }
}

/// The checks before a byte of the slot is touched: the slot asked for is the inactive
/// one; the signed entries verify against the running slot's keys; a base package for
/// this profile, not below the floor kept in grubenv, that fits in the slot.
fn verify(ctx: &Context, slot: &str, signed: &Signed) -> Result<(Slot, Manifest), String> {
    let target = target_slot(ctx.booted);
    if Slot::parse(slot).ok() != Some(target) {
        return Err(format!(
            "only the inactive slot {target} may be written, not {slot:?}"
        ));
    }
    let keyring = Keyring::from_dir(&ctx.keys)
        .map_err(|e| format!("the trusted keys cannot be read: {e}"))?;
    let manifest = signed
        .verify(&keyring)
        .map_err(|e| format!("the package does not verify: {e}"))?
        .into_inner();
    if manifest.kind != Kind::Base {
        return Err("only a base package goes into a slot".into());
    }
    if !manifest.profiles.contains(&ctx.profile) {
        return Err(format!(
            "the package is for {}, this appliance is a {}",
            manifest.profiles.join(", "),
            ctx.profile
        ));
    }
    let state = EnvStore::Esp.read().map_err(|e| e.to_string())?;
    if let Some(floor) = state.floor().and_then(|f| f.parse::<Version>().ok()) {
        if manifest.version < floor {
            return Err(format!(
                "{} is below the anti-rollback floor {floor}",
                manifest.version
            ));
        }
    }
    let payload = manifest
        .payloads
        .first()
        .ok_or("the package has no payload")?;
    let capacity = Platform::Appliance
        .slot_capacity(target)
        .map_err(|e| format!("the size of slot {target} cannot be read: {e}"))?;
    if payload.size > capacity {
        return Err(format!(
            "the image ({} bytes) does not fit in slot {target} ({capacity} bytes)",
            payload.size
        ));
    }
    Ok((target, manifest))
}

fn install(ctx: &Context, conn: &mut UnixStream, slot: &str, signed: &Signed) -> Response {
    let (target, manifest) = match verify(ctx, slot, signed) {
        Ok(v) => v,
        Err(why) => return Response::Refused(why),
    };
    let payload = &manifest.payloads[0];
    // From here the slot is not bootable until it is complete and its hash matched.
    let begun = {
        let _boot = lock();
        EnvStore::Esp.read().and_then(|mut st| {
            st.begin_install(target);
            EnvStore::Esp.write(&st)
        })
    };
    if let Err(e) = begun {
        return Response::Failed(e.to_string());
    }
    if let Err(e) = control::write_frame(conn, &Response::Ready) {
        return Response::Failed(format!("the service went away: {e}"));
    }
    let digest = match copy_hashed(conn, target, payload.size) {
        Ok(d) => d,
        Err(why) => return Response::Failed(format!("slot {target} stays unbootable: {why}")),
    };
    if digest != payload.sha256 {
        return Response::Failed(format!(
            "the bytes written to slot {target} do not match the signed hash; it stays unbootable"
        ));
    }
    let committed = {
        let _boot = lock();
        EnvStore::Esp.read().and_then(|mut st| {
            st.commit_install(target);
            if let Some(floor) = manifest.floor {
                if st.floor().and_then(|f| f.parse::<Version>().ok()) < Some(floor) {
                    st.set_floor(&floor.to_string());
                }
            }
            EnvStore::Esp.write(&st)
        })
    };
    match committed {
        Ok(()) => {
            tracing::info!(
                version = %manifest.version,
                "privileged: slot {target} written, verified and first in the boot order"
            );
            Response::Done
        }
        Err(e) => Response::Failed(e.to_string()),
    }
}

/// Copy exactly `size` bytes from the service into the slot's device, hashing them;
/// the device is synced before the hash is returned.
fn copy_hashed(conn: &mut UnixStream, target: Slot, size: u64) -> Result<String, String> {
    let path = boot::partition(target.label()).map_err(|e| e.to_string())?;
    let mut device = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match conn.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(format!(
                    "the service stopped after {} of {size} bytes",
                    size - left
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the image: {e}")),
        };
        hasher.update(&buf[..n]);
        device
            .write_all(&buf[..n])
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        left -= n as u64;
    }
    device
        .sync_all()
        .map_err(|e| format!("syncing {}: {e}", path.display()))?;
    Ok(format!("{:x}", hasher.finalize()))
}

fn set_hostname(name: &str) -> Response {
    if let Err(why) = rules::check_hostname(name) {
        return Response::Refused(why);
    }
    match nix::unistd::sethostname(name) {
        Ok(()) => Response::Done,
        Err(e) => Response::Failed(e.to_string()),
    }
}

fn restart_time_service() -> Response {
    let services = match control::call(control::SOCKET_PATH, &control::Request::ServiceStatus) {
        Ok(control::Response::Services(s)) => s,
        Ok(other) => return Response::Failed(format!("init answered {other:?}")),
        Err(e) => return Response::Failed(format!("init: {e}")),
    };
    let Some(pid) = services
        .iter()
        .find(|s| s.name == crate::time::SERVICE)
        .and_then(|s| s.pid)
    else {
        return Response::Done; // not running: init starts it with the new file
    };
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    match nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM) {
        Ok(()) => Response::Done,
        Err(e) => Response::Failed(format!("cannot stop the time daemon (pid {pid}): {e}")),
    }
}

/// [`super::INIT_RELAY`]: init's requests from the service, passed on as they are.
pub(super) fn relay(listener: UnixListener) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = std::thread::Builder::new()
            .name("init-relay".into())
            .spawn(move || {
                if !peer_allowed(&conn) {
                    return;
                }
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(req) = control::read_frame::<control::Request, _>(&mut conn) else {
                    return;
                };
                let answer = control::call(control::SOCKET_PATH, &req)
                    .unwrap_or_else(|e| control::Response::Refused(format!("init: {e}")));
                let _ = control::write_frame(&mut conn, &answer);
            });
    }
}
