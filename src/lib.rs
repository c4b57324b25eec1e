//! auth-service: stateless JWT authentication over PostgreSQL or SQLite.

pub mod audit;
pub mod auth;
pub mod db;
pub mod error;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod request_id;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod throttle;
pub mod uploads;
pub mod validation;
