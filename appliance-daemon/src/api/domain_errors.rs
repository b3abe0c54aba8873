//! The domain services' typed errors as API errors: which HTTP status each answers with,
//! its stable `error` code and the sentence the operator reads. The web pages show the
//! same sentences (`web/` converts through here too), so a refusal reads alike in the
//! browser, the API and appliancectl.

use axum::http::StatusCode;

use super::ApiError;
use crate::backup::runner::ScheduleError as BackupScheduleError;
use crate::backup::BackupError;
use crate::failover::{FailoverError, SyncError};
use crate::logs::LogError;
use crate::reset::ResetError;
use crate::snapshot::SnapshotError;
use crate::status::StatusError;
use crate::system::shutdown::ScheduleError;
use crate::tls::{CertificateError, ImportError};
use crate::update::catalog::{CheckError, DownloadError};
use crate::update::checks::Refusal;
use crate::update::download_key::KeyError;
use crate::update::fetch::FetchError;
use crate::update::install::InstallError;
use crate::update::site::RollbackError;

impl From<InstallError> for ApiError {
    fn from(e: InstallError) -> Self {
        let status = match &e {
            InstallError::Busy | InstallError::ResetPending | InstallError::ManagedByPrimary(_) => {
                StatusCode::CONFLICT
            }
            InstallError::Refused(Refusal::NotConfirmed(_)) => StatusCode::CONFLICT,
            InstallError::Refused(Refusal::NoSpace { .. } | Refusal::NoDataSpace { .. }) => {
                StatusCode::INSUFFICIENT_STORAGE
            }
            InstallError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            InstallError::Package(p) | InstallError::Payload(p) => match p {
                package::Error::Io { .. } | package::Error::Truncated(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            InstallError::NoKeys(_) => StatusCode::INTERNAL_SERVER_ERROR,
            InstallError::NoPayload | InstallError::SiteTree(_) => StatusCode::UNPROCESSABLE_ENTITY,
            InstallError::Write { .. }
            | InstallError::Data { .. }
            | InstallError::Boot(_)
            | InstallError::Store(_)
            | InstallError::RunningVersion(_)
            | InstallError::Interrupted(_) => {
                return ApiError::internal("Installing the package failed", e)
            }
        };
        ApiError::new(
            status,
            e.code(),
            format!("{e}; nothing was changed on the running system."),
        )
    }
}

impl From<CheckError> for ApiError {
    fn from(e: CheckError) -> Self {
        let status = match &e {
            CheckError::NoServer
            | CheckError::BadServer(_)
            | CheckError::Fetch(FetchError::Trust(_)) => StatusCode::CONFLICT,
            CheckError::Fetch(_) | CheckError::Catalog(_) | CheckError::Stale { .. } => {
                StatusCode::BAD_GATEWAY
            }
            CheckError::Keys(_) | CheckError::Store(_) => {
                return ApiError::internal("Checking for updates failed", e)
            }
        };
        ApiError::new(
            status,
            e.code(),
            format!("{e}; the list of available updates was not changed."),
        )
    }
}

impl From<DownloadError> for ApiError {
    fn from(e: DownloadError) -> Self {
        let status = match e {
            DownloadError::Install(inner) => return inner.into(),
            DownloadError::Check(inner) => return inner.into(),
            DownloadError::NoCatalog | DownloadError::Catalog(_) => StatusCode::CONFLICT,
            DownloadError::UnknownPackage(_) => StatusCode::NOT_FOUND,
            DownloadError::Blocked(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DownloadError::Fetch(FetchError::Trust(_)) => StatusCode::CONFLICT,
            DownloadError::Fetch(_) | DownloadError::Mismatch { .. } => StatusCode::BAD_GATEWAY,
            DownloadError::Cache { .. } => {
                return ApiError::internal("Downloading the update failed", e)
            }
        };
        ApiError::new(
            status,
            e.code(),
            format!("{e}; nothing was changed on the running system."),
        )
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Installed(d) => d.into(),
            other => ApiError::internal("Making the download key failed", other),
        }
    }
}

impl From<RollbackError> for ApiError {
    fn from(e: RollbackError) -> Self {
        let status = match e {
            RollbackError::Install(e) => return e.into(),
            RollbackError::NotInstalled(_) => StatusCode::NOT_FOUND,
            RollbackError::NoPrevious(_) => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code(), format!("{e}; nothing was changed."))
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        use crate::reset::CONFIRMATION;
        match e {
            ResetError::ConfirmationRequired => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "confirmation_required",
                format!(
                    "A factory reset erases every setting, account, certificate, log and uploaded file; confirm it with {{\"confirm\": \"{CONFIRMATION}\"}}. Nothing was started."
                ),
            ),
            ResetError::InvalidThen(then) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_then",
                format!("\"then\" must be \"poweroff\" or \"reboot\", not {then:?}. Nothing was started."),
            ),
            ResetError::UpdateInProgress => ApiError::new(
                StatusCode::CONFLICT,
                "update_in_progress",
                "An update is being installed; request the factory reset again once it has finished. Nothing was started.",
            ),
            ResetError::AlreadyGoingDown => ApiError::new(
                StatusCode::CONFLICT,
                "already_going_down",
                "A restart or shutdown is already under way. Nothing was started.",
            ),
            ResetError::Record(e) => ApiError::internal(
                "The factory reset request could not be recorded on the boot partition; nothing was started",
                e,
            ),
            ResetError::Store(e) => e.into(),
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::AlreadyGoingDown => ApiError::new(
                StatusCode::CONFLICT,
                "already_going_down",
                "A restart or shutdown is already under way.",
            ),
            ScheduleError::Store(e) => e.into(),
        }
    }
}

impl From<CertificateError> for ApiError {
    fn from(e: CertificateError) -> Self {
        match e {
            CertificateError::Refused(refusal) => {
                let (status, code) = match &refusal {
                    ImportError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                    ImportError::KeyMismatch => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "certificate_key_mismatch")
                    }
                    ImportError::PasswordNeeded(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "password_required")
                    }
                    ImportError::WrongPassword => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "wrong_password")
                    }
                    ImportError::SeveralKeys(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "several_keys")
                    }
                    ImportError::NoKey => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "certificate_without_key")
                    }
                    ImportError::Unsupported(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_algorithm")
                    }
                    ImportError::Expired(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "certificate_expired")
                    }
                    ImportError::Usage(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "certificate_usage")
                    }
                    ImportError::Chain(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "certificate_chain")
                    }
                    ImportError::Duplicate { .. } => (StatusCode::CONFLICT, "certificate_exists"),
                    ImportError::Empty
                    | ImportError::Unrecognized
                    | ImportError::Damaged(_)
                    | ImportError::NoCertificate => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate")
                    }
                };
                ApiError::new(status, code, refusal.to_string())
            }
            CertificateError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            CertificateError::Invalid(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                e.to_string(),
            ),
            CertificateError::WeakPassword => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                e.to_string(),
            ),
            CertificateError::InUse(_) => {
                ApiError::new(StatusCode::CONFLICT, "certificate_in_use", e.to_string())
            }
            CertificateError::Internal { what, detail } => ApiError::internal(what, detail),
            CertificateError::Store(e) => e.into(),
        }
    }
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        let code = match &e {
            BackupError::WeakPassword => "weak_password",
            BackupError::WrongPassword => "wrong_password",
            BackupError::NotABackup(_) => "not_a_backup",
            BackupError::Format(_) => "unsupported_backup",
            BackupError::TooNew { .. } => "backup_too_new",
            BackupError::Damaged(_) | BackupError::Snapshot(SnapshotError::Damaged(_)) => {
                "damaged_backup"
            }
            BackupError::Snapshot(SnapshotError::Format { .. }) => "unsupported_backup",
            BackupError::Snapshot(SnapshotError::TooNew { .. }) => "backup_too_new",
            BackupError::Snapshot(
                SnapshotError::NotService(_) | SnapshotError::ExtraRefused(_),
            ) => "not_service_data",
            BackupError::Snapshot(_) | BackupError::Io { .. } | BackupError::Store(_) => {
                return ApiError::internal("The backup or restore failed", e)
            }
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("{e}; nothing was changed."),
        )
    }
}

impl From<BackupScheduleError> for ApiError {
    fn from(e: BackupScheduleError) -> Self {
        let (status, code) = match &e {
            BackupScheduleError::Invalid(_) => {
                return ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_backup_schedule",
                    format!("{e}; nothing was changed."),
                )
            }
            BackupScheduleError::Busy => (StatusCode::CONFLICT, "backup_running"),
            BackupScheduleError::NoPassword => (StatusCode::CONFLICT, "no_backup_password"),
            BackupScheduleError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            BackupScheduleError::Io(_) | BackupScheduleError::Task(_) => {
                return ApiError::internal("Scheduled backups failed", e)
            }
            BackupScheduleError::Store(_) => {
                return ApiError::internal("The settings store failed", e)
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Read(e) => ApiError::internal("Reading the log failed", e),
            e => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_filter",
                e.to_string(),
            ),
        }
    }
}

impl From<StatusError> for ApiError {
    fn from(e: StatusError) -> Self {
        match e {
            StatusError::Store(e) => e.into(),
            StatusError::Specs(e) => ApiError::internal("Reading the hardware facts failed", e),
            StatusError::Encode(e) => ApiError::internal("Encoding the status failed", e),
        }
    }
}

impl From<FailoverError> for ApiError {
    fn from(e: FailoverError) -> Self {
        let status = match &e {
            FailoverError::Key(_)
            | FailoverError::KeyRequest
            | FailoverError::Address { .. }
            | FailoverError::SelfPair(_)
            | FailoverError::Setting(_) => StatusCode::UNPROCESSABLE_ENTITY,
            FailoverError::NoKey
            | FailoverError::Role(_)
            | FailoverError::PeerNoKey(_)
            | FailoverError::KeysDiffer
            | FailoverError::PeerPaired { .. }
            | FailoverError::Mismatch { .. }
            | FailoverError::PairBroken { .. }
            | FailoverError::SharedIpInUse { .. }
            | FailoverError::PeerStaysPrimary { .. } => StatusCode::CONFLICT,
            FailoverError::Unreachable { .. }
            | FailoverError::NotAnAppliance { .. }
            | FailoverError::ReverseFailed(_)
            | FailoverError::PeerRefused(_) => StatusCode::BAD_GATEWAY,
            FailoverError::NotYourPeer | FailoverError::UnknownChallenge => StatusCode::FORBIDDEN,
            FailoverError::BadRequest(_) => StatusCode::BAD_REQUEST,
            FailoverError::BadPin { .. } | FailoverError::Random | FailoverError::Store(_) => {
                return ApiError::internal("The failover change failed", e)
            }
        };
        let message = match status {
            StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST => format!("{e}."),
            _ => format!("{e}; nothing was changed."),
        };
        ApiError::new(status, e.code(), upper_first(&message))
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        let e = match e {
            SyncError::Failover(e) => return e.into(),
            other => other,
        };
        let status = match &e {
            SyncError::NotPrimary | SyncError::NotReady | SyncError::NotBackup => {
                StatusCode::CONFLICT
            }
            SyncError::Refused(_) | SyncError::Interrupted(_) => StatusCode::BAD_GATEWAY,
            SyncError::Snapshot(SnapshotError::Damaged(_) | SnapshotError::NotService(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            SyncError::Snapshot(_) | SyncError::Failover(_) => {
                return ApiError::internal("The sync failed", e)
            }
        };
        sync_error(status, &e.to_string(), e.code())
    }
}

fn sync_error(status: StatusCode, message: &str, code: &'static str) -> ApiError {
    ApiError::new(
        status,
        code,
        upper_first(&format!(
            "{message}; the backup stays on its previous complete generation."
        )),
    )
}

/// A sentence starts with a capital.
fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
