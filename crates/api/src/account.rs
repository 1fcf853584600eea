//! GetAccountSettings.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::shapes::AccountSettingsResponse;

/// `GET /2016-08-19/account-settings`
pub(crate) async fn account_settings(State(state): State<AppState>) -> Result<Response, ApiError> {
    let settings = state.control.account_settings().await?;
    Ok(Json(AccountSettingsResponse::from(settings)).into_response())
}
