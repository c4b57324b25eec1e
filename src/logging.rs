//! Log lines: readable text by default, one JSON object per line with `LOG_FORMAT=json`. Every
//! line written while a request is served carries its `request_id`; a record's key-values
//! (`log::info!(target: "audit", event = "login"; …)`) become fields.

use std::io::Write;

use log::kv::{Error, Key, Value, VisitSource};
use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{value:?} is neither text nor json")),
        }
    }
}

/// Installs the process's logger: `RUST_LOG` filters (default `info`), `format` writes.
pub fn init(format: LogFormat) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(move |buf, record| {
            let line = Line::of(record, crate::request_id::current());
            writeln!(buf, "{}", line.render(format))
        })
        .init();
}

/// One log record, taken apart.
#[derive(Debug)]
pub struct Line {
    pub time: String,
    pub level: log::Level,
    pub target: String,
    pub message: String,
    pub fields: Vec<(String, Json)>,
}

impl Line {
    fn of(record: &log::Record, request_id: Option<String>) -> Line {
        let mut fields = Fields(Vec::new());
        // Visiting a slice-like source of owned values cannot fail.
        let _ = record.key_values().visit(&mut fields);
        let mut fields = fields.0;
        if let Some(id) = request_id {
            fields.push(("request_id".to_owned(), Json::String(id)));
        }
        Line {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
            fields,
        }
    }

    pub fn render(&self, format: LogFormat) -> String {
        match format {
            LogFormat::Text => {
                let mut line =
                    format!("[{} {:<5} {}] {}", self.time, self.level, self.target, self.message);
                for (key, value) in &self.fields {
                    match value {
                        Json::String(text) => line.push_str(&format!(" {key}={text}")),
                        other => line.push_str(&format!(" {key}={other}")),
                    }
                }
                line
            }
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("time".into(), self.time.clone().into());
                object.insert("level".into(), self.level.as_str().into());
                object.insert("target".into(), self.target.clone().into());
                object.insert("message".into(), self.message.clone().into());
                for (key, value) in &self.fields {
                    object.insert(key.clone(), value.clone());
                }
                Json::Object(object).to_string()
            }
        }
    }
}

struct Fields(Vec<(String, Json)>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
        let json = if let Some(number) = value.to_i64() {
            Json::from(number)
        } else if let Some(flag) = value.to_bool() {
            Json::from(flag)
        } else {
            Json::from(value.to_string())
        };
        self.0.push((key.as_str().to_owned(), json));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line {
        Line {
            time: "2026-11-27T11:30:00.123Z".into(),
            level: log::Level::Info,
            target: "audit".into(),
            message: "login failure".into(),
            fields: vec![
                ("event".into(), Json::from("login")),
                ("user_id".into(), Json::from(7)),
                ("request_id".into(), Json::from("req-1")),
            ],
        }
    }

    #[test]
    fn text_is_one_readable_line() {
        assert_eq!(
            line().render(LogFormat::Text),
            "[2026-11-27T11:30:00.123Z INFO  audit] login failure event=login user_id=7 request_id=req-1"
        );
    }

    #[test]
    fn json_is_one_object_with_the_fields() {
        let parsed: Json = serde_json::from_str(&line().render(LogFormat::Json)).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"time": "2026-11-27T11:30:00.123Z", "level": "INFO",
                "target": "audit", "message": "login failure", "event": "login", "user_id": 7,
                "request_id": "req-1"})
        );
    }

    #[test]
    fn record_key_values_become_fields() {
        let kvs: &[(&str, i64)] = &[("user_id", 7)];
        let record = log::Record::builder().args(format_args!("x")).key_values(&kvs).build();
        let line = Line::of(&record, Some("req-2".into()));
        assert_eq!(
            line.fields,
            vec![
                ("user_id".to_owned(), Json::from(7)),
                ("request_id".to_owned(), Json::from("req-2"))
            ]
        );
    }
}
