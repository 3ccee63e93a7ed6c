//! Errors as Confluent's REST API reports them: an HTTP status and a body
//! `{"error_code": 40401, "message": "Subject 'x' not found."}`, with Confluent's codes and
//! message texts (`io.confluent.kafka.schemaregistry.rest.exceptions.Errors`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answered to a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Confluent's error code: the status, or the status and two digits.
    pub code: u32,
    /// What went wrong, naming the subject, version or id.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    pub fn subject_not_found(subject: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40401, format!("Subject '{subject}' not found."))
    }

    pub fn version_not_found(version: u32) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40402, format!("Version {version} not found."))
    }

    pub fn schema_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, "Schema not found")
    }

    pub fn schema_id_not_found(id: u32) -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, format!("Schema {id} not found"))
    }

    pub fn subject_soft_deleted(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40404,
            format!(
                "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
            ),
        )
    }

    pub fn subject_not_soft_deleted(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40405,
            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
        )
    }

    pub fn version_soft_deleted(subject: &str, version: u32) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40406,
            format!(
                "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to \
                 delete permanently"
            ),
        )
    }

    pub fn version_not_soft_deleted(subject: &str, version: u32) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40407,
            format!(
                "Subject '{subject}' Version {version} was not deleted first before being \
                 permanently deleted"
            ),
        )
    }

    pub fn compatibility_not_configured(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )
    }

    pub fn mode_not_configured(subject: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )
    }

    /// Confluent answers 409 with error code 409 (the code its deployed releases send).
    pub fn incompatible(subject: &str, details: &[String]) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            409,
            format!(
                "Schema being registered is incompatible with an earlier schema for subject \
                 \"{subject}\", details: [{}]",
                details.join(", ")
            ),
        )
    }

    pub fn invalid_schema(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42201, message)
    }

    pub fn invalid_version(version: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are \
                 between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }

    pub fn invalid_compatibility(given: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!(
                "Invalid compatibility level '{given}'. Valid values are none, backward, forward, \
                 full, backward_transitive, forward_transitive, and full_transitive"
            ),
        )
    }

    pub fn invalid_mode(given: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!(
                "Invalid mode '{given}'. Valid values are READWRITE, READONLY, \
                 READONLY_OVERRIDE and IMPORT."
            ),
        )
    }

    pub fn not_permitted(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42205, message)
    }

    pub fn reference_exists(subject: &str, version: u32, by: &[u32]) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            format!(
                "One or more references exist to the schema {{subject={subject},version={version}}}: \
                 referenced by schema id(s) {by:?}"
            ),
        )
    }

    pub fn id_does_not_match(id: u32) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42207,
            format!(
                "Overwrite new schema with id {id} is not permitted: the id is another schema's"
            ),
        )
    }

    pub fn invalid_subject(subject: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42208,
            format!("The specified subject '{subject}' is not a valid subject name"),
        )
    }

    /// A request that is not what the API takes: malformed JSON, a wrong field type.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 422, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 401, "Unauthorized: missing or wrong credentials")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, 405, "HTTP 405 Method Not Allowed")
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            format!("The request body is larger than this registry's limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(given: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
            format!(
                "Unsupported content type '{given}': send application/vnd.schemaregistry.v1+json \
                 or application/json"
            ),
        )
    }

    /// The store could not be written: nothing was acknowledged.
    pub fn store(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 50001, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error_code": self.code, "message": self.message });
        let mut response = crate::api::json_response(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"strata-registry\""),
            );
        }
        response
    }
}
