//! The command line: `auth-service` serves; its subcommands are what an operator runs beside
//! it (`docker compose exec auth auth-service …`): `healthcheck`, `storage migrate`, and
//! `admin …`, which calls the same `admin` functions as `/api/admin/*`.
//!
//! Exit codes: 0 done; 1 the service's failure (settings, database); 2 a usage error; 3 not
//! found (a user, a key); 4 refused (bad input, or an action that does not apply).

pub mod admin;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "auth-service", version, about = "A stateless JWT authentication service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exits 0 when this machine's service answers /healthz (for the container's HEALTHCHECK).
    Healthcheck,
    /// Pictures: `storage migrate` copies UPLOAD_DIR's pictures into the bucket.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
    /// Users and admin keys, without SQL.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copies UPLOAD_DIR's pictures into the S3 bucket the settings name.
    Migrate {
        /// Prints progress after this many pictures.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
        progress_every: u64,
    },
}

/// What an exit code means (see the module's text).
pub mod exit {
    pub const FAILURE: u8 = 1;
    pub const NOT_FOUND: u8 = 3;
    pub const REFUSED: u8 = 4;
}
