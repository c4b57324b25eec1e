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
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return match auth_service::healthcheck::check(&settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("auth-service healthcheck: {error}");
                ExitCode::FAILURE
            }
        };
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
