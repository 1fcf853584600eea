//! TagResource, UntagResource and ListTags (`/2017-03-31/tags/{Resource}`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::request::{Caller, Label, Query, json_body};
use crate::shapes::{ListTagsResponse, TagResourceRequest};

/// `GET /2017-03-31/tags/{Resource}`
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Label(resource): Label,
) -> Result<Response, ApiError> {
    let tags = state.control.list_tags(&caller.scope, &resource).await?;
    Ok(Json(ListTagsResponse { tags }).into_response())
}

/// `POST /2017-03-31/tags/{Resource}`
pub(crate) async fn tag(
    State(state): State<AppState>,
    caller: Caller,
    Label(resource): Label,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let request: TagResourceRequest = json_body(body, "TagResource").await?;
    let tags = request
        .tags
        .ok_or_else(|| ApiError::validation("tags", "null", "Member must not be null"))?;
    state
        .control
        .tag_resource(&caller.scope, &resource, tags)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /2017-03-31/tags/{Resource}?tagKeys=...`
pub(crate) async fn untag(
    State(state): State<AppState>,
    caller: Caller,
    Label(resource): Label,
    query: Query,
) -> Result<StatusCode, ApiError> {
    let keys = query.all("tagKeys");
    if keys.is_empty() {
        return Err(ApiError::validation(
            "tagKeys",
            "null",
            "Member must not be null",
        ));
    }
    state
        .control
        .untag_resource(&caller.scope, &resource, &keys)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
