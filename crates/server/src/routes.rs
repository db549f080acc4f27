//! Routes: users, items, feedback, recommendations, neighbours, admin, health, metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use funnel_engine::models::now;
use funnel_engine::{RecommendRequest, VersionInfo};
use funnel_store::{Feedback, Item, User};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::*;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::keys::{AdminKey, ReadKey, UserDataKey, WriteKey};
use crate::validate::{self, field};
use crate::AppState;

/// The OpenAPI document of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "Funnel", description = "Recall → rank → re-rank as a service."),
    paths(
        insert_items, get_item, patch_item, delete_item, item_feedback, item_neighbors,
        insert_users, get_user, delete_user, user_feedback, user_neighbors,
        insert_feedback, recommend, session_recommend, rank, popular, latest,
        train_start, train_status, versions, activate, model_file, publish_file, live, ready
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
        .route("/api/rank", post(rank))
        .route("/api/popular", get(popular))
        .route("/api/latest", get(latest))
        .route("/api/admin/train", post(train_start).get(train_status))
        .route("/api/admin/models", get(versions))
        .route("/api/admin/models/{version}/activate", post(activate))
        .route(
            "/api/admin/models/{version}/files/{name}",
            get(model_file).put(publish_file),
        )
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics_page))
        .route("/openapi.json", get(openapi_json))
        .with_state(state)
}

/// Keeps the last record of each id (upsert semantics within one request); returns them
/// in first-seen order and how many earlier records were replaced.
fn last_per_id<T>(records: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, usize) {
    let n = records.len();
    let mut slot: rustc_hash::FxHashMap<String, usize> = Default::default();
    let mut out: Vec<T> = Vec::with_capacity(n);
    for r in records {
        match slot.get(id(&r)) {
            Some(&k) => out[k] = r,
            None => {
                slot.insert(id(&r).to_string(), out.len());
                out.push(r);
            }
        }
    }
    let replaced = n - out.len();
    (out, replaced)
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
        position: f.position,
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
    let server = &s.engine.config().server;
    validate::batch(server, body.len())?;
    let n = body.len();
    let mut items = Vec::with_capacity(n);
    for (k, it) in body.into_iter().enumerate() {
        validate::id(field(k, n, "item_id"), &it.item_id)?;
        validate::categories(field(k, n, "categories"), &it.categories)?;
        validate::text(field(k, n, "comment"), &it.comment)?;
        let timestamp = it.timestamp.unwrap_or_else(now);
        validate::timestamp(field(k, n, "timestamp"), timestamp, server)?;
        items.push(Item {
            expires_at: validate::expiry(it.expires_at, it.ttl_seconds)?,
            attributes: validate::attributes(it.attributes)?,
            item_id: it.item_id,
            categories: it.categories,
            hidden: it.hidden,
            timestamp,
            comment: it.comment,
        });
    }
    let (items, replaced) = last_per_id(items, |it| &it.item_id);
    s.upsert_items(&items).await?;
    Ok(Json(WriteResult {
        written: items.len(),
        duplicates: replaced,
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
    let server = &s.engine.config().server;
    let it = s
        .patch_item(&id, |it| {
            if let Some(c) = p.categories {
                validate::categories("categories", &c)?;
                it.categories = c;
            }
            if p.attributes.is_some() {
                it.attributes = validate::attributes(p.attributes)?;
            }
            if let Some(h) = p.hidden {
                it.hidden = h;
            }
            if let Some(t) = p.timestamp {
                validate::timestamp("timestamp", t, server)?;
                it.timestamp = t;
            }
            if p.expires_at.is_some() || p.ttl_seconds.is_some() {
                it.expires_at = validate::expiry(p.expires_at, p.ttl_seconds)?;
            }
            if let Some(c) = p.comment {
                validate::text("comment", &c)?;
                it.comment = c;
            }
            Ok(())
        })
        .await?;
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
    s.delete_item(&id).await?;
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
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn item_feedback(
    _: UserDataKey,
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
    let (n, _) = validate::page(q.n, q.offset)?;
    Ok(Json(scored(
        s.on_engine(move |e| e.similar_items(&id, n)).await?,
    )))
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
    validate::batch(&s.engine.config().server, body.len())?;
    let n = body.len();
    let mut users = Vec::with_capacity(n);
    for (k, u) in body.into_iter().enumerate() {
        validate::id(field(k, n, "user_id"), &u.user_id)?;
        validate::text(field(k, n, "comment"), &u.comment)?;
        users.push(User {
            attributes: validate::attributes(u.attributes)?,
            user_id: u.user_id,
            comment: u.comment,
        });
    }
    let (users, replaced) = last_per_id(users, |u| &u.user_id);
    s.upsert_users(&users).await?;
    Ok(Json(WriteResult {
        written: users.len(),
        duplicates: replaced,
    }))
}

/// One user.
#[utoipa::path(get, path = "/api/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    responses((status = 200, body = UserOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])),
    security(("api_key" = [])))]
async fn get_user(
    _: UserDataKey,
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
    s.delete_user(&id).await?;
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
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn user_feedback(
    _: UserDataKey,
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
        (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn user_neighbors(
    _: UserDataKey,
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Scored>>, ApiError> {
    let (n, _) = validate::page(q.n, q.offset)?;
    Ok(Json(scored(
        s.on_engine(move |e| e.similar_users(&id, n)).await?,
    )))
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
    let cfg = s.engine.config();
    validate::batch(&cfg.server, body.len())?;
    let t = now();
    let n = body.len();
    let mut events = Vec::with_capacity(n);
    for (k, f) in body.into_iter().enumerate() {
        validate::id(field(k, n, "user_id"), &f.user_id)?;
        validate::id(field(k, n, "item_id"), &f.item_id)?;
        feedback_type(&s, field(k, n, "feedback_type"), &f.feedback_type)?;
        let value = f.value.unwrap_or(1.0);
        validate::value(field(k, n, "value"), value)?;
        let timestamp = f.timestamp.unwrap_or(t);
        validate::timestamp(field(k, n, "timestamp"), timestamp, &cfg.server)?;
        let position = f
            .position
            .map(|p| validate::position(field(k, n, "position"), p))
            .transpose()?;
        events.push(Feedback {
            user_id: f.user_id,
            item_id: f.item_id,
            feedback_type: f.feedback_type,
            timestamp,
            value,
            position,
        });
    }
    let fresh = s.record_feedback(events).await?;
    let written = fresh.iter().filter(|&&f| f).count();
    Ok(Json(WriteResult {
        written,
        duplicates: fresh.len() - written,
    }))
}

/// A feedback type must be in one of the `[feedback]` lists (read from the config, not
/// the catalogue: no lock per event).
fn feedback_type(
    s: &AppState,
    what: impl std::fmt::Display + Copy,
    t: &str,
) -> Result<(), ApiError> {
    validate::id(what, t)?;
    let f = &s.engine.config().feedback;
    if [&f.positive, &f.read, &f.other]
        .iter()
        .any(|l| l.iter().any(|x| x == t))
    {
        return Ok(());
    }
    let known: Vec<&str> = f
        .positive
        .iter()
        .chain(&f.read)
        .chain(&f.other)
        .map(String::as_str)
        .collect();
    Err(ApiError::bad(format!(
        "{what}: `{t}` is not a configured type; expected one of {} (feedback.positive, \
         feedback.read, feedback.other)",
        known.join(", ")
    )))
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
    let (n, offset) = validate::page(q.n, q.offset)?;
    let channels = match q.channels.map(|c| split_list(Some(c))) {
        Some(c) if c.is_empty() => {
            return Err(ApiError::bad(
                "channels: expected a comma-separated list of channel names",
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
    let page = s.on_engine(move |e| e.recommend(&req)).await?;
    Ok(Json(recommended(page)))
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
    let (n, offset) = validate::page(b.n, b.offset)?;
    validate::batch(&s.engine.config().server, b.feedback.len())?;
    let context = validate::context(b.context)?;
    let cat_kind = |t: &str| s.engine.catalog().kind_of(t);
    let mut positive = Vec::new();
    let mut seen = Vec::new();
    let len = b.feedback.len();
    for (k, e) in b.feedback.into_iter().enumerate() {
        let t = e.feedback_type.unwrap_or_else(|| "click".into());
        feedback_type(
            &s,
            &format!("feedback{}", field(k, len.max(2), "feedback_type")),
            &t,
        )?;
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
        channels: b.channels,
        context,
    };
    let page = s.on_engine(move |e| e.recommend(&req)).await?;
    Ok(Json(recommended(page)))
}

/// Score the given items for a user, highest first: the ranking stage alone, for callers
/// that bring their own candidates. With `"explain": true` each item carries the raw
/// record the ranker scored.
#[utoipa::path(post, path = "/api/rank", tag = "recommend",
    request_body = RankBody,
    responses((status = 200, body = RankOut), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn rank(
    _: ReadKey,
    State(s): State<AppState>,
    ApiJson(b): ApiJson<RankBody>,
) -> Result<Json<RankOut>, ApiError> {
    validate::id("user_id", &b.user_id)?;
    validate::batch(&s.engine.config().server, b.item_ids.len())?;
    let n = b.item_ids.len();
    for (k, i) in b.item_ids.iter().enumerate() {
        validate::id(field(k, n.max(2), "item_ids"), i)?;
    }
    let req = funnel_engine::RankRequest {
        user: b.user_id,
        items: b.item_ids,
        context: validate::context(b.context)?,
        explain: b.explain,
    };
    let a = s.on_engine(move |e| e.rank(&req)).await?;
    Ok(Json(RankOut {
        model_version: a.model_version,
        items: a
            .items
            .into_iter()
            .map(|i| RankedOut {
                item_id: i.item_id,
                score: if i.score.is_finite() { i.score } else { 0.0 },
                record: i
                    .record
                    .map(|r| serde_json::to_value(r).expect("a record serialises")),
            })
            .collect(),
    }))
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
    let (n, offset) = validate::page(q.n, q.offset)?;
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
    let (n, offset) = validate::page(q.n, q.offset)?;
    Ok(Json(scored(s.engine.latest(
        n,
        offset,
        q.category.as_deref(),
    ))))
}

/// Start a refit of every model in the background; the new version goes live when done.
#[utoipa::path(post, path = "/api/admin/train", tag = "admin",
    responses((status = 202, body = TrainStarted), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
async fn train_start(
    _: WriteKey,
    State(s): State<AppState>,
) -> Result<(StatusCode, Json<TrainStarted>), ApiError> {
    if !s.engine.train_in_background() {
        return Err(funnel_engine::EngineError::Conflict("a fit is already running".into()).into());
    }
    Ok((StatusCode::ACCEPTED, Json(TrainStarted { started: true })))
}

/// The trainer: running or not, its phase, the last fit's metrics.
#[utoipa::path(get, path = "/api/admin/train", tag = "admin",
    responses((status = 200, body = funnel_engine::TrainStatus), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
async fn train_status(_: AdminKey, State(s): State<AppState>) -> Json<funnel_engine::TrainStatus> {
    Json(s.engine.train_status())
}

/// Model versions kept, and the active one.
#[utoipa::path(get, path = "/api/admin/models", tag = "admin",
    responses((status = 200, body = VersionsOut), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
async fn versions(_: AdminKey, State(s): State<AppState>) -> Json<VersionsOut> {
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

/// A file of a kept version, as written by the trainer (`version.json`, `itemknn.funnel`,
/// `ials.funnel`, `ials.hnsw`, `ranker.funnel`): the ranker file loads in `funnel rank
/// predict --model`. Always needs the key.
#[utoipa::path(get, path = "/api/admin/models/{version}/files/{name}", tag = "admin",
    params(("version" = u64, Path, description = "Version number"),
        ("name" = String, Path, description = "File name",
            pattern = r"^([a-z0-9_]{1,64}\.(funnel|hnsw)|version\.json)$")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn model_file(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath((version, name)): ApiPath<(u64, String)>,
) -> Result<axum::response::Response, ApiError> {
    let path = s.engine.version_file(version, &name)?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!("{}: {e}", path.display()),
    })?;
    // Streamed in chunks: an item-similarity file can be hundreds of megabytes.
    let chunks = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 16];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"v{version}-{name}\""),
            ),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

/// Publish a ranker trained elsewhere (`funnel rank train --spec …`, a GPU box) as a new
/// version: `name` is `ranker.funnel`, the body the file's bytes, `version` a number above
/// every version so far. The file is checked — a funnel-model file of a format this build
/// reads, a ranker, with a feature pipeline reading keys the server's records have — and
/// refused with a 400 that says what is wrong; a used version number is a 409. The new
/// version serves at once, with the recall models of the version that was active.
#[utoipa::path(put, path = "/api/admin/models/{version}/files/{name}", tag = "admin",
    params(("version" = u64, Path, description = "The new version's number"),
        ("name" = String, Path, description = "File name", pattern = r"^ranker\.funnel$")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The model file written by `funnel rank train`"),
    responses((status = 200, body = VersionInfo), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = [])))]
async fn publish_file(
    _: WriteKey,
    State(s): State<AppState>,
    ApiPath((version, name)): ApiPath<(u64, String)>,
    body: axum::body::Body,
) -> Result<Json<VersionInfo>, ApiError> {
    if name != "ranker.funnel" {
        return Err(ApiError::bad(format!(
            "name: publishing takes ranker.funnel (a ranker trained elsewhere), got `{name}`; \
             recall channels are fitted by the server"
        )));
    }
    Ok(Json(s.publish_ranker(version, body).await?))
}

/// Make a kept version live again (rollback).
#[utoipa::path(post, path = "/api/admin/models/{version}/activate", tag = "admin",
    params(("version" = u64, Path, description = "Version number")),
    responses((status = 200, body = WriteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)),
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
    let t = s.engine.train_status();
    let model_version = s.engine.versions().1;
    let training = if t.failures_in_a_row > 0 {
        "failing"
    } else if model_version == 0 {
        "never fitted"
    } else {
        "ok"
    };
    Health {
        status: status.into(),
        store: s.store.backend().name().into(),
        model_version,
        items,
        users,
        training: training.into(),
        fit_failures_in_a_row: t.failures_in_a_row,
        last_fit_error: t.last_error.filter(|_| t.failures_in_a_row > 0),
    }
}

async fn metrics_page(_: AdminKey, State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render(&s),
    )
}

async fn openapi_json(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.openapi.to_string(),
    )
}

/// The OpenAPI document of this server: the handlers' schemas, with the channel names
/// of its config (the model channels are configuration, not types) as enums.
pub fn openapi_document(channels: &[String]) -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    let alternatives = channels.join("|");
    if let Some(params) = doc
        .pointer_mut("/paths/~1api~1recommend~1{user_id}/get/parameters")
        .and_then(|p| p.as_array_mut())
    {
        for p in params.iter_mut().filter(|p| p["name"] == "channels") {
            p["schema"]["pattern"] =
                serde_json::json!(format!("^({alternatives})(,({alternatives}))*$"));
        }
    }
    if let Some(items) = doc.pointer_mut("/components/schemas/SessionRequest/properties/channels") {
        *items = serde_json::json!({
            "type": ["array", "null"],
            "items": {"type": "string", "enum": channels},
            "description": "Channels to use (default: every configured channel)."
        });
    }
    serde_json::to_string_pretty(&doc).expect("the document serialises")
}
