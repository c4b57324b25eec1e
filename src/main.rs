use std::process::ExitCode;

use auth_service::{logging, settings::Settings, startup::Application};

#[actix_web::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("auth-service: {error}");
            return ExitCode::FAILURE;
        }
    };
    logging::init(settings.log_format);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => {}
        ["healthcheck"] => {
            return match auth_service::healthcheck::check(&settings) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("auth-service healthcheck: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        ["storage", "migrate", ref rest @ ..] => return storage_migrate(&settings, rest).await,
        _ => {
            eprintln!("usage: auth-service [healthcheck | storage migrate [--progress-every N]]");
            return ExitCode::FAILURE;
        }
    }
    let application = match Application::build(settings) {
        Ok(application) => application,
        Err(error) => {
            eprintln!("auth-service: {error}");
            return ExitCode::FAILURE;
        }
    };
    log::info!("listening on port {}", application.port());
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("auth-service: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `auth-service storage migrate [--progress-every N]`: `UPLOAD_DIR`'s pictures into the bucket.
async fn storage_migrate(settings: &Settings, args: &[&str]) -> ExitCode {
    let every = match args {
        [] => 100,
        ["--progress-every", n] if n.parse::<usize>().is_ok_and(|n| n > 0) => n.parse().unwrap(),
        _ => {
            eprintln!("usage: auth-service storage migrate [--progress-every N]");
            return ExitCode::FAILURE;
        }
    };
    match auth_service::uploads::migrate::migrate(
        &settings.uploads.dir,
        &settings.storage,
        every,
        &mut std::io::stdout(),
    )
    .await
    {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("auth-service storage migrate: {error}");
            ExitCode::FAILURE
        }
    }
}
