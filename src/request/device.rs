//! `Device`: where a login or a refresh comes from, as the user sees it in their session list
//! and as a "new sign-in" notice judges it.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header};

use crate::{auth::opaque_token, client_ip::ClientIp, db::sessions::SeenFrom, error::ApiError};

/// Longer user agents are cut: the text is shown, not parsed.
const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The client's /24 or /64 (`ClientIp::network`), never its address.
    pub network: String,
    /// `User-Agent`, without control characters, at most 256 characters; `None` when empty.
    pub user_agent: Option<String>,
}

impl Device {
    pub fn new(client: ClientIp, user_agent: &str) -> Device {
        let cleaned: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_USER_AGENT_CHARS)
            .collect::<String>()
            .trim()
            .to_owned();
        Device { network: client.network(), user_agent: Some(cleaned).filter(|ua| !ua.is_empty()) }
    }

    /// What its session keeps of it.
    pub fn seen(&self) -> SeenFrom {
        SeenFrom { ip: self.network.clone(), user_agent: self.user_agent.clone() }
    }

    /// The key of `known_devices`: the network and the browser's family (a browser that
    /// updated itself is the same device; another browser, or another system, is not), hashed.
    /// Free User-Agent text would make every login with a new one a "new device" and a notice.
    pub fn key(&self) -> String {
        opaque_token::hash(&format!("{}\n{}", self.network, self.family()))
    }

    /// The browser and system, coarsely: "Firefox on Linux", "Safari on iOS". Only names from
    /// these lists, so a notice never carries text a client chose.
    pub fn family(&self) -> String {
        let agent = self.user_agent.as_deref().unwrap_or_default();
        let browser = [
            ("Edg/", "Edge"),
            ("OPR/", "Opera"),
            ("Firefox/", "Firefox"),
            ("FxiOS/", "Firefox"),
            ("CriOS/", "Chrome"),
            ("Chrome/", "Chrome"),
            ("Safari/", "Safari"),
            ("curl/", "curl"),
            ("node", "Node.js"),
        ];
        let system = [
            ("Windows", "Windows"),
            ("iPhone", "iOS"),
            ("iPad", "iOS"),
            ("Mac OS X", "macOS"),
            ("Android", "Android"),
            ("CrOS", "ChromeOS"),
            ("Linux", "Linux"),
        ];
        let first = |names: &[(&str, &'static str)], otherwise: &'static str| {
            names.iter().find(|(mark, _)| agent.contains(mark)).map_or(otherwise, |(_, name)| name)
        };
        let browser = first(&browser, "another browser");
        format!("{browser} on {}", first(&system, "another system"))
    }
}

impl FromRequest for Device {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let client = match ClientIp::from_request(req, payload).into_inner() {
            Ok(client) => client,
            Err(error) => return ready(Err(error)),
        };
        let user_agent = req.headers().get(header::USER_AGENT).map(|value| value.as_bytes());
        let user_agent = String::from_utf8_lossy(user_agent.unwrap_or_default());
        ready(Ok(Device::new(client, &user_agent)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(ip: &str, user_agent: &str) -> Device {
        Device::new(ClientIp(ip.parse().unwrap()), user_agent)
    }

    const FIREFOX_120: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
    const FIREFOX_121: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/120.0.0.0 Safari/537.36";

    #[test]
    fn an_updated_browser_on_the_same_network_is_the_same_device() {
        let before = device("203.0.113.7", FIREFOX_120);
        assert_eq!(before.key(), device("203.0.113.200", FIREFOX_121).key());
        assert_ne!(before.key(), device("203.0.113.7", CHROME).key());
        assert_ne!(before.key(), device("198.51.100.7", FIREFOX_120).key());
        assert_ne!(before.key(), device("203.0.113.7", "").key());
    }

    #[test]
    fn a_device_is_named_by_family_never_by_its_own_text() {
        let phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                     (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                    Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91";
        let named = |agent: &str| device("203.0.113.7", agent).family();
        assert_eq!(named(FIREFOX_120), "Firefox on Linux");
        assert_eq!(named(CHROME), "Chrome on Linux");
        assert_eq!(named(phone), "Safari on iOS");
        assert_eq!(named(edge), "Edge on Windows");
        assert_eq!(named("curl/8.5.0"), "curl on another system");
        // Text a sender chose is not repeated: a new one each login is the same device.
        let bait = "URGENT: your account is locked, call +1 555 0100 at once";
        assert_eq!(named(bait), "another browser on another system");
        assert_eq!(device("203.0.113.7", bait).key(), device("203.0.113.9", "x").key());
    }

    #[test]
    fn the_user_agent_is_kept_short_and_on_one_line() {
        let long = format!("curl/8.5.0\n\u{0}{}", "x".repeat(300));
        let kept = device("2001:db8::1", &long);
        assert_eq!(kept.network, "2001:db8::/64");
        let user_agent = kept.user_agent.unwrap();
        assert_eq!(user_agent.chars().count(), 256);
        assert!(user_agent.starts_with("curl/8.5.0x"));
        assert_eq!(device("203.0.113.7", " \t ").user_agent, None);
    }
}
