//! API errors: a status and `{"error": "<code>", "message": "<human sentence>"}`.

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An error and its status; the body is written as [`api_types::ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "api_types::ErrorBody")]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    /// For refused settings: every wrong field.
    pub problems: Vec<netconfig::Problem>,
}

impl From<ApiError> for api_types::ErrorBody {
    fn from(err: ApiError) -> Self {
        api_types::ErrorBody {
            error: err.error.to_string(),
            message: err.message,
            problems: err.problems,
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// Settings refused as a whole (422), with every wrong field.
    pub fn invalid(
        error: &'static str,
        message: impl Into<String>,
        problems: Vec<netconfig::Problem>,
    ) -> Self {
        ApiError {
            problems,
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error, message)
        }
    }

    /// A failure of the appliance itself; the detail goes to the log, not to the client.
    pub fn internal(what: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{what}: {err}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what}; the appliance's log has the details."),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(err: crate::store::Error) -> Self {
        ApiError::internal("The settings store failed", err)
    }
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "There is nothing at {}; the API lives under /api/v1 and the admin interface at /appliance.",
            uri.path()
        ),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}.", uri.path()),
    )
}
