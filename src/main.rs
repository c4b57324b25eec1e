use std::process::ExitCode;

use auth_service::{
    cli::{Cli, Command, StorageCommand, admin, exit},
    logging,
    settings::Settings,
    startup::{self, Application},
};
use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => return fail("", error),
    };
    logging::init(settings.log_format);
    match cli.command {
        None => serve(settings).await,
        Some(Command::Healthcheck) => match auth_service::healthcheck::check(&settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(" healthcheck", error),
        },
        Some(Command::Storage { command: StorageCommand::Migrate { progress_every } }) => {
            storage_migrate(&settings, progress_every as usize).await
        }
        Some(Command::Admin { command }) => match startup::command_state(&settings) {
            Ok(state) => ExitCode::from(admin::run(state, command, &mut std::io::stdout()).await),
            Err(error) => fail(" admin", error),
        },
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let application = match Application::build(settings) {
        Ok(application) => application,
        Err(error) => return fail("", error),
    };
    log::info!("listening on port {}", application.port());
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail("", error),
    }
}

/// `auth-service storage migrate [--progress-every N]`: `UPLOAD_DIR`'s pictures into the bucket.
async fn storage_migrate(settings: &Settings, every: usize) -> ExitCode {
    let migrated = auth_service::uploads::migrate::migrate(
        &settings.uploads.dir,
        &settings.storage,
        every,
        &mut std::io::stdout(),
    )
    .await;
    match migrated {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => fail(" storage migrate", error),
    }
}

fn fail(command: &str, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("auth-service{command}: {error}");
    ExitCode::from(exit::FAILURE)
}
