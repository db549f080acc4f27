//! Errors as JSON answers, and extractors whose rejections are JSON too: a client always
//! gets `{"error": "..."}` with a 4xx naming what was wrong, never a 500 for bad input.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use funnel_engine::EngineError;
use funnel_store::StoreError;
use serde::de::DeserializeOwned;

use crate::api::ErrorBody;
use crate::deadline::BodyDeadlineExceeded;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message.
    pub message: String,
}

impl ApiError {
    /// 400 with a message.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 for `what` `id`.
    pub fn not_found(what: &str, id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("{what} `{id}` not found"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::NotFound { .. } => StatusCode::NOT_FOUND,
            EngineError::BadRequest(_) | EngineError::Config { .. } => StatusCode::BAD_REQUEST,
            EngineError::Conflict(_) => StatusCode::CONFLICT,
            EngineError::Train(_) => StatusCode::INTERNAL_SERVER_ERROR,
            EngineError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::ModelFiles(_) => {
                tracing::error!("{e}");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::Unknown { .. } => StatusCode::NOT_FOUND,
            // The write was not acknowledged; the client may retry.
            StoreError::Database { .. } | StoreError::Contention { .. } => {
                tracing::error!("{e}");
                StatusCode::SERVICE_UNAVAILABLE
            }
            // A row edited by hand, or a bad store URL: retrying will not help.
            StoreError::Url(_) | StoreError::Corrupt { .. } => {
                tracing::error!("{e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

/// A JSON body whose rejection is a JSON error naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) => Err(json_rejection(r)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&r);
    while let Some(e) = source {
        if e.is::<BodyDeadlineExceeded>() {
            return ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: e.to_string(),
            };
        }
        source = e.source();
    }
    let status = match &r {
        JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => r.status(),
    };
    // body_text carries serde's message with the path and line, e.g.
    // "unknown field `colour`, expected one of ... at line 1 column 12".
    ApiError {
        status: if status.is_server_error() {
            StatusCode::BAD_REQUEST
        } else {
            status
        },
        message: r.body_text(),
    }
}

/// Query parameters whose rejection is a JSON 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(query_rejection(r)),
        }
    }
}

fn query_rejection(r: QueryRejection) -> ApiError {
    ApiError::bad(r.body_text())
}

/// Path parameters whose rejection is a JSON 400.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(path_rejection(r)),
        }
    }
}

fn path_rejection(r: PathRejection) -> ApiError {
    ApiError::bad(r.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_their_statuses() {
        let engine = |e: EngineError| ApiError::from(e).status;
        assert_eq!(
            engine(EngineError::Conflict("a fit is already running".into())),
            StatusCode::CONFLICT
        );
        assert_eq!(
            engine(EngineError::NotFound {
                what: "user",
                id: "u".into()
            }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            engine(EngineError::BadRequest("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            engine(EngineError::Train("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            engine(EngineError::ModelFiles("disk full".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let store = |e: StoreError| ApiError::from(e).status;
        assert_eq!(
            store(StoreError::Unknown {
                what: "item",
                id: "i".into()
            }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            store(StoreError::Contention {
                backend: "postgres",
                what: "users",
                attempts: 4
            }),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            store(StoreError::Corrupt {
                table: "item",
                id: "i".into(),
                column: "attributes",
                message: "expected value".into()
            }),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            engine(EngineError::NotReady("no ranker yet".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
