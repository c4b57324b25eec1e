//! auth-service: stateless JWT authentication over PostgreSQL or SQLite.
//!
//! From the bottom up: `error`, `cpu_pool`, `db`, `auth`, `client_ip`, `request_id`, `logging`,
//! `metrics`, `throttle`, `audit`, `mail` and `uploads` know nothing of the application; `settings`
//! reads their settings in; `state` holds what every request shares; `request` is what a
//! handler receives; `account` holds the flows several handlers share; `routes` are the
//! handlers; `startup` wires it all.

pub mod account;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod cpu_pool;
pub mod db;
pub mod error;
pub mod federation;
pub mod healthcheck;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod request;
pub mod request_body;
pub mod request_id;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod sweeper;
pub mod throttle;
pub mod timestamps;
pub mod uploads;
pub mod validation;
pub mod webhooks;

/// The import graph, read from the sources: modules depend on each other in one direction.
#[cfg(test)]
mod layers;
