//! The admin key an `/api/admin/*` call carries (`Authorization: Bearer ask_…`): counted per
//! address before it is looked up, refused 401 when it is missing, unknown, revoked or a
//! user's token. Each handler then asks for the scope it needs (`AdminKey::require`).

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload};

use super::keys::{self, AdminKey};
use crate::{
    audit::Event, auth::bearer::bearer_token, error::ApiError, request::Ctx, throttle::Limit,
};

impl FromRequest for AdminKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let ctx = Ctx::from_request(req, payload).into_inner();
        let presented = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let ctx = ctx?;
            ctx.throttle(Event::Admin, None, &[Limit::AdminPerIp]).await?;
            let presented = presented.ok_or(ApiError::Unauthorized)?;
            match keys::authenticate(&ctx, &presented).await? {
                Some(key) => Ok(key),
                None => {
                    ctx.audit(Event::Admin, "bad_key", None);
                    Err(ApiError::Unauthorized)
                }
            }
        })
    }
}
