//! Routes: users, items, feedback, recommendations, neighbours, admin, health, metrics.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use funnel_engine::models::now;
use funnel_engine::RecommendRequest;
use funnel_store::{Feedback, Item, User};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::*;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

/// The OpenAPI document of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "Funnel", description = "Recall → rank → re-rank as a service."),
    paths(
        insert_items, get_item, patch_item, delete_item, item_feedback, item_neighbors,
        insert_users, get_user, delete_user, user_feedback, user_neighbors,
        insert_feedback, recommend, session_recommend, popular, latest,
        train_start, train_status, versions, activate, live, ready
    ),
    modifiers(&KeyScheme),
    tags(
        (name = "items"), (name = "users"), (name = "feedback"),
        (name = "recommend"), (name = "admin"), (name = "health")
    )
)]
pub struct ApiDoc;

struct KeyScheme;

impl Modify for KeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/items", post(insert_items))
        .route(
            "/api/items/{item_id}",
            get(get_item).patch(patch_item).delete(delete_item),
        )
        .route("/api/items/{item_id}/feedback", get(item_feedback))
        .route("/api/items/{item_id}/neighbors", get(item_neighbors))
        .route("/api/users", post(insert_users))
        .route("/api/users/{user_id}", get(get_user).delete(delete_user))
        .route("/api/users/{user_id}/feedback", get(user_feedback))
        .route("/api/users/{user_id}/neighbors", get(user_neighbors))
        .route("/api/feedback", post(insert_feedback))
        .route("/api/recommend/{user_id}", get(recommend))
        .route("/api/session/recommend", post(session_recommend))
        .route("/api/popular", get(popular))
        .route("/api/latest", get(latest))
        .route("/api/admin/train", post(train_start).get(train_status))
        .route("/api/admin/models", get(versions))
        .route("/api/admin/models/{version}/activate", post(activate))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics_page))
        .route("/openapi.json", get(openapi_json))
        .with_state(state)
}

/// Present on write handlers: the request carries the API key.
pub struct WriteKey;
/// Present on read handlers: the key is there, or reads are open.
pub struct ReadKey;

fn check_key(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    match parts.headers.get("x-api-key").map(|v| v.as_bytes()) {
        Some(k) if k == state.api_key.as_bytes() => Ok(()),
        Some(_) => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "the X-API-Key header does not match the server's key".into(),
        }),
        None => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "this route needs the X-API-Key header".into(),
        }),
    }
}

impl FromRequestParts<AppState> for WriteKey {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_key(parts, state).map(|_| WriteKey)
    }
}

impl FromRequestParts<AppState> for ReadKey {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.engine.config().server.open_reads {
            Ok(ReadKey)
        } else {
            check_key(parts, state).map(|_| ReadKey)
        }
    }
}

const MAX_ID: usize = 256;
const MAX_N: usize = 1000;
const MAX_OFFSET: usize = 10_000;

fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(ApiError::bad(format!(
            "{what}: expected 1 to {MAX_ID} bytes, got {}",
            id.len()
        )));
    }
    check_text(what, id)
}

/// PostgreSQL text cannot hold NUL, so no backend accepts it (found by schemathesis
/// against the PostgreSQL-backed server, where it was a 503).
fn check_text(what: &str, s: &str) -> Result<(), ApiError> {
    if s.contains('\0') {
        return Err(ApiError::bad(format!(
            "{what}: the NUL character (\\u0000) is not allowed"
        )));
    }
    Ok(())
}

fn check_texts<'a>(what: &str, v: impl IntoIterator<Item = &'a String>) -> Result<(), ApiError> {
    v.into_iter().try_for_each(|s| check_text(what, s))
}

fn check_batch(state: &AppState, n: usize) -> Result<(), ApiError> {
    let max = state.engine.config().server.max_batch;
    if n > max {
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("{n} records in one request; at most {max} (server.max_batch)"),
        });
    }
    Ok(())
}

fn page(n: Option<usize>, offset: Option<usize>) -> Result<(usize, usize), ApiError> {
    let n = n.unwrap_or(10);
    let offset = offset.unwrap_or(0);
    if n > MAX_N {
        return Err(ApiError::bad(format!(
            "n: expected at most {MAX_N}, got {n}"
        )));
    }
    if offset > MAX_OFFSET {
        return Err(ApiError::bad(format!(
            "offset: expected at most {MAX_OFFSET}, got {offset}"
        )));
    }
    Ok((n, offset))
}

fn attributes(v: Option<serde_json::Value>) -> Result<serde_json::Value, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(serde_json::Value::Object(Default::default())),
        Some(o @ serde_json::Value::Object(_)) => Ok(o),
        Some(_) => Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "attributes: expected a JSON object".into(),
        }),
    }
}

fn expiry(expires_at: Option<i64>, ttl: Option<u64>) -> Result<Option<i64>, ApiError> {
    match (expires_at, ttl) {
        (Some(_), Some(_)) => Err(ApiError::bad("give expires_at or ttl_seconds, not both")),
        (e, None) => Ok(e),
        (None, Some(t)) => Ok(Some(now().saturating_add(t.min(i64::MAX as u64) as i64))),
    }
}

fn item_out(it: Item) -> ItemOut {
    ItemOut {
        item_id: it.item_id,
        categories: it.categories,
        attributes: it.attributes,
        hidden: it.hidden,
        timestamp: it.timestamp,
        expires_at: it.expires_at,
        comment: it.comment,
    }
}

fn feedback_out(f: Feedback) -> FeedbackOut {
    FeedbackOut {
        feedback_type: f.feedback_type,
        user_id: f.user_id,
        item_id: f.item_id,
        timestamp: f.timestamp,
        value: f.value,
    }
}

fn scored(v: Vec<funnel_engine::Neighbor>) -> Vec<Scored> {
    v.into_iter()
        .map(|n| Scored {
            id: n.id,
            score: n.score,
        })
        .collect()
}

/// Insert or replace items (one object or an array).
#[utoipa::path(post, path = "/api/items", tag = "items",
    request_body = OneOrMany<ItemIn>,
    responses((status = 200, body = WriteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn insert_items(
    _: WriteKey,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<OneOrMany<ItemIn>>,
) -> Result<Json<WriteResult>, ApiError> {
    let body = body.into_vec();
    check_batch(&s, body.len())?;
    let mut items = Vec::with_capacity(body.len());
    for it in body {
        check_id("item_id", &it.item_id)?;
        check_texts("categories", &it.categories)?;
        check_text("comment", &it.comment)?;
        items.push(Item {
            expires_at: expiry(it.expires_at, it.ttl_seconds)?,
            attributes: attributes(it.attributes)?,
            item_id: it.item_id,
            categories: it.categories,
            hidden: it.hidden,
            timestamp: it.timestamp.unwrap_or_else(now),
            comment: it.comment,
        });
    }
    s.store.upsert_items(&items).await?;
    s.engine.upsert_items(&items);
    Ok(Json(WriteResult {
        written: items.len(),
        duplicates: 0,
    }))
}

/// One item.
#[utoipa::path(get, path = "/api/items/{item_id}", tag = "items",
    params(("item_id" = String, Path, description = "Item id")),
    responses((status = 200, body = ItemOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn get_item(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ItemOut>, ApiError> {
    let it = s
        .store
        .get_item(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("item", &id))?;
    Ok(Json(item_out(it)))
}

/// Change some fields of an item (e.g. hide it).
#[utoipa::path(patch, path = "/api/items/{item_id}", tag = "items",
    params(("item_id" = String, Path, description = "Item id")),
    request_body = ItemPatch,
    responses((status = 200, body = ItemOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn patch_item(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(p): ApiJson<ItemPatch>,
) -> Result<Json<ItemOut>, ApiError> {
    let mut it = s
        .store
        .get_item(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("item", &id))?;
    if let Some(c) = p.categories {
        check_texts("categories", &c)?;
        it.categories = c;
    }
    if p.attributes.is_some() {
        it.attributes = attributes(p.attributes)?;
    }
    if let Some(h) = p.hidden {
        it.hidden = h;
    }
    if let Some(t) = p.timestamp {
        it.timestamp = t;
    }
    if p.expires_at.is_some() || p.ttl_seconds.is_some() {
        it.expires_at = expiry(p.expires_at, p.ttl_seconds)?;
    }
    if let Some(c) = p.comment {
        check_text("comment", &c)?;
        it.comment = c;
    }
    s.store.upsert_items(std::slice::from_ref(&it)).await?;
    s.engine.upsert_items(std::slice::from_ref(&it));
    Ok(Json(item_out(it)))
}

/// Delete an item and its feedback.
#[utoipa::path(delete, path = "/api/items/{item_id}", tag = "items",
    params(("item_id" = String, Path, description = "Item id")),
    responses((status = 200, body = WriteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn delete_item(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WriteResult>, ApiError> {
    if !s.store.delete_item(&id).await? {
        return Err(ApiError::not_found("item", &id));
    }
    s.engine.delete_item(&id);
    Ok(Json(WriteResult {
        written: 1,
        duplicates: 0,
    }))
}

/// An item's feedback, oldest first.
#[utoipa::path(get, path = "/api/items/{item_id}/feedback", tag = "feedback",
    params(("item_id" = String, Path, description = "Item id")),
    responses((status = 200, body = Vec<FeedbackOut>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn item_feedback(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<FeedbackOut>>, ApiError> {
    if s.store.get_item(&id).await?.is_none() {
        return Err(ApiError::not_found("item", &id));
    }
    let f = s.store.feedback_of_item(&id).await?;
    Ok(Json(f.into_iter().map(feedback_out).collect()))
}

/// Items most similar to an item (ItemKNN, or iALS vectors).
#[utoipa::path(get, path = "/api/items/{item_id}/neighbors", tag = "recommend",
    params(("item_id" = String, Path, description = "Item id"), ListQuery),
    responses((status = 200, body = Vec<Scored>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn item_neighbors(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Scored>>, ApiError> {
    let (n, _) = page(q.n, q.offset)?;
    Ok(Json(scored(s.engine.similar_items(&id, n)?)))
}

/// Insert or replace users (one object or an array).
#[utoipa::path(post, path = "/api/users", tag = "users",
    request_body = OneOrMany<UserIn>,
    responses((status = 200, body = WriteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn insert_users(
    _: WriteKey,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<OneOrMany<UserIn>>,
) -> Result<Json<WriteResult>, ApiError> {
    let body = body.into_vec();
    check_batch(&s, body.len())?;
    let mut users = Vec::with_capacity(body.len());
    for u in body {
        check_id("user_id", &u.user_id)?;
        check_text("comment", &u.comment)?;
        users.push(User {
            attributes: attributes(u.attributes)?,
            user_id: u.user_id,
            comment: u.comment,
        });
    }
    s.store.upsert_users(&users).await?;
    s.engine.upsert_users(&users);
    Ok(Json(WriteResult {
        written: users.len(),
        duplicates: 0,
    }))
}

/// One user.
#[utoipa::path(get, path = "/api/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = UserOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn get_user(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserOut>, ApiError> {
    let u = s
        .store
        .get_user(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("user", &id))?;
    Ok(Json(UserOut {
        user_id: u.user_id,
        attributes: u.attributes,
        comment: u.comment,
    }))
}

/// Delete a user and their feedback.
#[utoipa::path(delete, path = "/api/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = WriteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn delete_user(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WriteResult>, ApiError> {
    if !s.store.delete_user(&id).await? {
        return Err(ApiError::not_found("user", &id));
    }
    s.engine.delete_user(&id);
    Ok(Json(WriteResult {
        written: 1,
        duplicates: 0,
    }))
}

/// A user's feedback, oldest first.
#[utoipa::path(get, path = "/api/users/{user_id}/feedback", tag = "feedback",
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = Vec<FeedbackOut>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn user_feedback(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<FeedbackOut>>, ApiError> {
    if s.store.get_user(&id).await?.is_none() {
        return Err(ApiError::not_found("user", &id));
    }
    let f = s.store.feedback_of_user(&id).await?;
    Ok(Json(f.into_iter().map(feedback_out).collect()))
}

/// Users whose iALS vectors are closest to a user's.
#[utoipa::path(get, path = "/api/users/{user_id}/neighbors", tag = "recommend",
    params(("user_id" = String, Path, description = "User id"), ListQuery),
    responses((status = 200, body = Vec<Scored>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn user_neighbors(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Scored>>, ApiError> {
    let (n, _) = page(q.n, q.offset)?;
    Ok(Json(scored(s.engine.similar_users(&id, n)?)))
}

/// Record feedback (one event or an array). Answered after the store has committed:
/// an acknowledged event survives a crash.
#[utoipa::path(post, path = "/api/feedback", tag = "feedback",
    request_body = OneOrMany<FeedbackIn>,
    responses((status = 200, body = WriteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn insert_feedback(
    _: WriteKey,
    State(s): State<AppState>,
    ApiJson(body): ApiJson<OneOrMany<FeedbackIn>>,
) -> Result<Json<WriteResult>, ApiError> {
    let body = body.into_vec();
    check_batch(&s, body.len())?;
    let t = now();
    let mut events = Vec::with_capacity(body.len());
    for f in body {
        check_id("user_id", &f.user_id)?;
        check_id("item_id", &f.item_id)?;
        check_id("feedback_type", &f.feedback_type)?;
        let value = f.value.unwrap_or(1.0);
        if !value.is_finite() {
            return Err(ApiError::bad("value: expected a finite number"));
        }
        events.push(Feedback {
            user_id: f.user_id,
            item_id: f.item_id,
            feedback_type: f.feedback_type,
            timestamp: f.timestamp.unwrap_or(t),
            value,
        });
    }
    let (new_users, new_items) = {
        let c = s.engine.catalog();
        let mut u: Vec<&str> = events
            .iter()
            .map(|e| e.user_id.as_str())
            .filter(|id| c.user_index(id).is_none())
            .collect();
        let mut i: Vec<&str> = events
            .iter()
            .map(|e| e.item_id.as_str())
            .filter(|id| c.item_index(id).is_none())
            .collect();
        u.sort_unstable();
        u.dedup();
        i.sort_unstable();
        i.dedup();
        (u, i)
    };
    if !s.engine.config().feedback.auto_insert {
        if let Some(u) = new_users.first() {
            return Err(ApiError::not_found("user", u));
        }
        if let Some(i) = new_items.first() {
            return Err(ApiError::not_found("item", i));
        }
    }
    if !new_users.is_empty() {
        s.store.ensure_users(&new_users).await?;
    }
    if !new_items.is_empty() {
        s.store.ensure_items(&new_items).await?;
    }
    let fresh = s.store.insert_feedback(&events).await?;
    let new: Vec<Feedback> = events
        .into_iter()
        .zip(&fresh)
        .filter(|(_, &f)| f)
        .map(|(e, _)| e)
        .collect();
    s.engine.add_feedback(&new);
    Ok(Json(WriteResult {
        written: new.len(),
        duplicates: fresh.len() - new.len(),
    }))
}

fn split_list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn recommended(v: Vec<funnel_engine::Recommendation>) -> Vec<RecommendedItem> {
    v.into_iter()
        .map(|r| RecommendedItem {
            item_id: r.item_id,
            score: if r.score.is_finite() { r.score } else { 0.0 },
            channel: r.channel,
        })
        .collect()
}

/// Recommendations for a stored user: recall channels → rank → re-rank.
#[utoipa::path(get, path = "/api/recommend/{user_id}", tag = "recommend",
    params(("user_id" = String, Path, description = "User id"), RecommendQuery),
    responses((status = 200, body = Vec<RecommendedItem>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn recommend(
    _: ReadKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RecommendQuery>,
) -> Result<Json<Vec<RecommendedItem>>, ApiError> {
    let (n, offset) = page(q.n, q.offset)?;
    let channels = match q.channels.map(|c| split_list(Some(c))) {
        Some(c) if c.is_empty() => {
            return Err(ApiError::bad(
                "channels: expected a comma-separated list of popular, latest, itemknn, mf",
            ))
        }
        c => c,
    };
    let req = RecommendRequest {
        user: Some(id),
        n,
        offset,
        category: q.category,
        exclude: split_list(q.exclude),
        channels,
        ..Default::default()
    };
    Ok(Json(recommended(s.engine.recommend(&req)?)))
}

/// Recommendations from feedback in the request (visitors not stored as users).
#[utoipa::path(post, path = "/api/session/recommend", tag = "recommend",
    request_body = SessionRequest,
    responses((status = 200, body = Vec<RecommendedItem>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn session_recommend(
    _: ReadKey,
    State(s): State<AppState>,
    ApiJson(b): ApiJson<SessionRequest>,
) -> Result<Json<Vec<RecommendedItem>>, ApiError> {
    let (n, offset) = page(b.n, b.offset)?;
    check_batch(&s, b.feedback.len())?;
    let cat_kind = |t: &str| s.engine.catalog().kind_of(t);
    let mut positive = Vec::new();
    let mut seen = Vec::new();
    for e in b.feedback {
        let t = e.feedback_type.unwrap_or_else(|| "click".into());
        if cat_kind(&t) == funnel_engine::catalog::Kind::Positive {
            positive.push(e.item_id.clone());
        }
        seen.push(e.item_id);
    }
    let req = RecommendRequest {
        user: None,
        session_positive: positive,
        session_seen: seen,
        n,
        offset,
        category: b.category,
        exclude: b.exclude,
        channels: b
            .channels
            .map(|c| c.iter().map(|c| c.name().to_string()).collect()),
    };
    Ok(Json(recommended(s.engine.recommend(&req)?)))
}

/// Most-clicked items (score: positive feedback count).
#[utoipa::path(get, path = "/api/popular", tag = "recommend", params(ListQuery),
    responses((status = 200, body = Vec<Scored>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn popular(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Scored>>, ApiError> {
    let (n, offset) = page(q.n, q.offset)?;
    Ok(Json(scored(s.engine.popular(
        n,
        offset,
        q.category.as_deref(),
    ))))
}

/// Newest items (score: publication time).
#[utoipa::path(get, path = "/api/latest", tag = "recommend", params(ListQuery),
    responses((status = 200, body = Vec<Scored>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn latest(
    _: ReadKey,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Scored>>, ApiError> {
    let (n, offset) = page(q.n, q.offset)?;
    Ok(Json(scored(s.engine.latest(
        n,
        offset,
        q.category.as_deref(),
    ))))
}

/// Start a refit of every model in the background; the new version goes live when done.
#[utoipa::path(post, path = "/api/admin/train", tag = "admin",
    responses((status = 202, body = TrainStarted), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
async fn train_start(_: WriteKey, State(s): State<AppState>) -> impl IntoResponse {
    let started = s.engine.train_in_background();
    (StatusCode::ACCEPTED, Json(TrainStarted { started }))
}

/// The trainer: running or not, its phase, the last fit's metrics.
#[utoipa::path(get, path = "/api/admin/train", tag = "admin",
    responses((status = 200, body = funnel_engine::TrainStatus), (status = 401, body = ErrorBody)))]
async fn train_status(_: ReadKey, State(s): State<AppState>) -> Json<funnel_engine::TrainStatus> {
    Json(s.engine.train_status())
}

/// Model versions kept, and the active one.
#[utoipa::path(get, path = "/api/admin/models", tag = "admin",
    responses((status = 200, body = VersionsOut), (status = 401, body = ErrorBody)))]
async fn versions(_: ReadKey, State(s): State<AppState>) -> Json<VersionsOut> {
    let (v, active) = s.engine.versions();
    Json(VersionsOut {
        active,
        versions: v
            .into_iter()
            .map(|info| VersionOut {
                active: info.version == active,
                info,
            })
            .collect(),
    })
}

/// Make a kept version live again (rollback).
#[utoipa::path(post, path = "/api/admin/models/{version}/activate", tag = "admin",
    params(("version" = u64, Path, description = "Version number")),
    responses((status = 200, body = WriteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
async fn activate(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath(v): ApiPath<u64>,
) -> Result<Json<WriteResult>, ApiError> {
    s.engine.activate(v)?;
    Ok(Json(WriteResult {
        written: 1,
        duplicates: 0,
    }))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, body = Health)))]
async fn live(State(s): State<AppState>) -> Json<Health> {
    Json(health(&s, "ok"))
}

/// The store answers: requests can be served.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn ready(State(s): State<AppState>) -> impl IntoResponse {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(health(&s, "ok"))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(health(&s, &e.to_string())),
        ),
    }
}

fn health(s: &AppState, status: &str) -> Health {
    let (items, users) = s.engine.catalog().counts();
    Health {
        status: status.into(),
        store: s.store.backend().name().into(),
        model_version: s.engine.versions().1,
        items,
        users,
    }
}

async fn metrics_page(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render(&s),
    )
}

async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_pretty_json().unwrap_or_default(),
    )
}
