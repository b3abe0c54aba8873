//! Where things are on the appliance, and what the daemon reads from its environment: the
//! one list to check before the image's layout or a test's environment changes.
//! appliance-daemon/README.md "What it reads and writes" says what each is for. Dev mode
//! never touches these paths: its state lives under `--state-dir`.

/// The release the slot belongs to: `VERSION`, `PROFILE`, `KERNEL` (image builder).
pub(crate) const RELEASE: &str = "/etc/appliance/release";
/// The public keys update packages must be signed with (image builder).
pub(crate) const KEYS_DIR: &str = "/etc/appliance/keys";
/// The system's CA bundle, where Debian's and Buildroot's ca-certificates put it.
pub(crate) const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// `appliance.slot=A|B|factory` (GRUB).
pub(crate) const CMDLINE: &str = "/proc/cmdline";
/// Block devices: partitions by label, sizes.
pub(crate) const SYS_CLASS_BLOCK: &str = "/sys/class/block";
/// Network interfaces: which are Ethernet NICs.
pub(crate) const SYS_CLASS_NET: &str = "/sys/class/net";
/// The data partition, mounted by init (settings, certificates, site packages).
pub(crate) const DATA: &str = "/data";
/// The resolver file the network settings and DHCP leases write (in the service's run
/// directory: `privileged`).
pub(crate) const RESOLV_CONF: &str = "/run/appliance/resolv.conf";
/// Where the resolver reads it: a link to [`RESOLV_CONF`] the privileged part makes.
pub(crate) const RESOLV_LINK: &str = "/run/resolv.conf";
/// Where the ESP is mounted while grubenv is rewritten.
pub(crate) const ESP_MOUNT: &str = "/run/esp";
/// The NTP daemon's configuration, written before init starts it.
pub(crate) const NTP_TOML: &str = "/run/appliance/ntp.toml";
/// Where the NTP daemon and init read it (`ntpd` in `/etc/appliance/services`): a link to
/// [`NTP_TOML`].
pub(crate) const NTP_LINK: &str = "/run/ntp.toml";
/// The daemon's local socket (root only): the console's unlock (`server/local.rs`).
pub(crate) const LOCAL_SOCKET: &str = api_types::LOCAL_SOCKET;
/// The kernel's promote_secondaries for every interface (`all` is or-ed with each
/// interface's own): set by the privileged part at start.
pub(crate) const PROMOTE_SECONDARIES_ALL: &str = "/proc/sys/net/ipv4/conf/all/promote_secondaries";
/// Where syslog forwarding is in the log and the audit log, for the daemon's next start
/// in this boot (tmpfs).
pub(crate) const FORWARDING_POSITION: &str = "/run/appliance/forwarding.pos";
/// The NTP daemon's observation socket.
pub(crate) const NTP_OBSERVE: &str = "/run/appliance/ntpd.observe";

/// The environment variables the daemon reads.
pub(crate) mod env {
    /// `APPLIANCE_DEBUG=1`: debug-level logs.
    pub(crate) fn debug_logs() -> bool {
        std::env::var_os("APPLIANCE_DEBUG").is_some_and(|v| v == "1")
    }

    /// Dev mode: the version to pretend to run (`APPLIANCE_VERSION`; default this build's).
    pub(crate) fn dev_version() -> Option<String> {
        std::env::var("APPLIANCE_VERSION").ok()
    }

    /// Dev mode: the profile to pretend to be (`APPLIANCE_PROFILE`; default `vm`).
    pub(crate) fn dev_profile() -> Option<String> {
        std::env::var("APPLIANCE_PROFILE").ok()
    }

    /// The name of [`dev_slot`]'s variable, for messages.
    pub(crate) const DEV_SLOT: &str = "APPLIANCE_SLOT";

    /// Dev mode: the slot to pretend to be booted from (`APPLIANCE_SLOT`; default A).
    pub(crate) fn dev_slot() -> Option<String> {
        std::env::var(DEV_SLOT).ok()
    }

    /// Dev mode: the size of the slot files in MiB (`APPLIANCE_DEV_SLOT_MIB`), for a
    /// benchmark that installs bigger images than the default allows.
    pub(crate) fn dev_slot_mib() -> Option<u64> {
        std::env::var("APPLIANCE_DEV_SLOT_MIB")
            .ok()
            .and_then(|m| m.parse().ok())
    }
}
