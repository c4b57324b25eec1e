//! The `service_keys` table: secrets the service makes for itself, one a purpose, shared by
//! every replica through the database.

use diesel::prelude::*;

use super::{AnyConnection, schema::service_keys};
use crate::per_backend;

/// The secret named `name`: `candidate`, stored now, unless a replica stored one first (the
/// first insert wins; everyone reads the same one back).
pub fn get_or_create(conn: &mut AnyConnection, name: &str, candidate: &str) -> QueryResult<String> {
    per_backend!(conn => diesel::insert_into(service_keys::table)
        .values((service_keys::name.eq(name), service_keys::secret.eq(candidate)))
        .on_conflict(service_keys::name)
        .do_nothing()
        .execute(conn))?;
    service_keys::table.find(name).select(service_keys::secret).first(conn)
}
