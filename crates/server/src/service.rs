//! The service behind the routes: every write as "hold the entities it names, commit to
//! the store, then tell the engine", and every CPU-bound read on the request threads. The
//! handlers in `routes` parse and validate, call one method here and map its result.

use axum::http::StatusCode;
use funnel_engine::{Engine, EngineError};
use funnel_store::{Feedback, Item, Unknown, User};
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::gate::Entity;
use crate::AppState;

impl AppState {
    /// Runs CPU-bound engine work (recall, scoring, neighbour scans, loading a model) on
    /// the request threads, so the async workers keep accepting and answering meanwhile.
    /// A panic in it is a 500, not a lost process.
    pub async fn on_engine<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cpu.spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&engine)));
            let _ = tx.send(r);
        });
        match rx.await {
            Ok(Ok(r)) => r.map_err(ApiError::from),
            _ => Err(ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal error (a bug: please report it)".into(),
            }),
        }
    }

    /// Inserts or replaces items (ids unique within `items`).
    pub async fn upsert_items(&self, items: &[Item]) -> Result<(), ApiError> {
        let _held = self
            .gate
            .exclusive(items.iter().map(|it| Entity::Item(&it.item_id)))
            .await;
        self.store.upsert_items(items).await?;
        self.engine.upsert_items(items);
        Ok(())
    }

    /// Reads item `id`, lets `change` edit it, writes it back — held, so two patches
    /// cannot both start from the old item.
    pub async fn patch_item(
        &self,
        id: &str,
        change: impl FnOnce(&mut Item) -> Result<(), ApiError>,
    ) -> Result<Item, ApiError> {
        let _held = self.gate.exclusive([Entity::Item(id)]).await;
        let mut it = self
            .store
            .get_item(id)
            .await?
            .ok_or_else(|| ApiError::not_found("item", id))?;
        change(&mut it)?;
        self.store.upsert_items(std::slice::from_ref(&it)).await?;
        self.engine.upsert_items(std::slice::from_ref(&it));
        Ok(it)
    }

    /// Deletes an item and its feedback.
    pub async fn delete_item(&self, id: &str) -> Result<(), ApiError> {
        let _held = self.gate.exclusive([Entity::Item(id)]).await;
        if !self.store.delete_item(id).await? {
            return Err(ApiError::not_found("item", id));
        }
        self.engine.delete_item(id);
        Ok(())
    }

    /// Inserts or replaces users (ids unique within `users`).
    pub async fn upsert_users(&self, users: &[User]) -> Result<(), ApiError> {
        let _held = self
            .gate
            .exclusive(users.iter().map(|u| Entity::User(&u.user_id)))
            .await;
        self.store.upsert_users(users).await?;
        self.engine.upsert_users(users);
        Ok(())
    }

    /// Deletes a user and their feedback.
    pub async fn delete_user(&self, id: &str) -> Result<(), ApiError> {
        let _held = self.gate.exclusive([Entity::User(id)]).await;
        if !self.store.delete_user(id).await? {
            return Err(ApiError::not_found("user", id));
        }
        self.engine.delete_user(id);
        Ok(())
    }

    /// Records feedback; per event, whether it was new (false: a duplicate of a stored
    /// one). Answered after the store has committed: an acknowledged event survives a
    /// crash.
    pub async fn record_feedback(&self, events: Vec<Feedback>) -> Result<Vec<bool>, ApiError> {
        let unknown = if self.engine.config().feedback.auto_insert {
            Unknown::Create
        } else {
            Unknown::Refuse
        };
        let _held = self
            .gate
            .shared(
                events
                    .iter()
                    .flat_map(|e| [Entity::User(&e.user_id), Entity::Item(&e.item_id)]),
            )
            .await;
        // Held, the batch's users and items cannot appear or vanish under it, so what the
        // catalogue does not know is what the store may lack.
        let (users, items) = {
            let c = self.engine.catalog();
            let mut users: Vec<&str> = events
                .iter()
                .map(|e| e.user_id.as_str())
                .filter(|id| c.user_index(id).is_none())
                .collect();
            let mut items: Vec<&str> = events
                .iter()
                .map(|e| e.item_id.as_str())
                .filter(|id| c.item_index(id).is_none())
                .collect();
            users.sort_unstable();
            users.dedup();
            items.sort_unstable();
            items.dedup();
            (users, items)
        };
        let maybe_new = funnel_store::MaybeNew {
            users: &users,
            items: &items,
        };
        // One transaction: the batch's new users and items commit with its events or not
        // at all; the catalogue learns them while the entities are still held.
        let fresh = self
            .store
            .insert_feedback_with(&events, unknown, Some(maybe_new))
            .await?;
        let new: Vec<Feedback> = events
            .into_iter()
            .zip(&fresh)
            .filter(|(_, &f)| f)
            .map(|(e, _)| e)
            .collect();
        self.engine.add_feedback(&new);
        Ok(fresh)
    }

    /// Publishes the ranker file in `body` as version `version`: streamed to a temporary
    /// file under the models directory, then checked and made live by the engine.
    pub async fn publish_ranker(
        &self,
        version: u64,
        body: axum::body::Body,
    ) -> Result<funnel_engine::VersionInfo, ApiError> {
        let cfg = &self.engine.config().server;
        let dir = cfg.data_dir.join("models");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("{}: {e}", dir.display()),
            })?;
        let tmp = dir.join(format!(
            ".upload-{version}-{}.tmp",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let result = match receive(body, &tmp, cfg.max_model_bytes).await {
            Ok(()) => {
                let file = tmp.clone();
                self.on_engine(move |e| e.publish_ranker(version, &file))
                    .await
            }
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }
}

/// Streams a request body into `path`, refusing more than `limit` bytes.
async fn receive(
    body: axum::body::Body,
    path: &std::path::Path,
    limit: u64,
) -> Result<(), ApiError> {
    use tokio::io::AsyncWriteExt;
    let failed = |e: std::io::Error| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!("{}: {e}", path.display()),
    };
    let mut f = tokio::fs::File::create(path).await.map_err(failed)?;
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad(format!("body: {e}")))?;
        n += chunk.len() as u64;
        if n > limit {
            return Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("body: larger than server.max_model_bytes ({limit} bytes)"),
            });
        }
        f.write_all(&chunk).await.map_err(failed)?;
    }
    f.flush().await.map_err(failed)?;
    Ok(())
}
