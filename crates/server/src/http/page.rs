//! Cursor pagination and request-shape helpers shared by list endpoints.

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?limit=&cursor=` of every list endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200; default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::InvalidQuery(format!(
                "limit must be 1 to {MAX_LIMIT}"
            ))),
        }
    }

    pub fn cursor<T: FromStr>(&self) -> Result<Option<T>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse().map_err(|_| {
                    ApiError::InvalidQuery("cursor is not one this API returned".into())
                })
            })
            .transpose()
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> Page<T> {
    pub fn new(items: Vec<T>, limit: i64, last_id: impl Fn(&T) -> String) -> Self {
        let next_cursor = if items.len() as i64 == limit {
            items.last().map(&last_id)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// For PATCH fields that can be cleared: absent is `None`, `null` is
/// `Some(None)`, a value is `Some(Some(v))`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An id in the path; a malformed one names nothing, so it is not found.
pub fn path_id<T: FromStr>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::UseCase(crate::usecase::UseCaseError::NotFound(what)))
}

/// An id given in a request body: a validation error naming the field
/// when it is not one.
pub fn id_field<T: FromStr>(field: &'static str, v: &str) -> Result<T, ApiError> {
    v.parse().map_err(|_| {
        ApiError::UseCase(crate::usecase::UseCaseError::Validation {
            field,
            message: "is not an id".into(),
        })
    })
}
