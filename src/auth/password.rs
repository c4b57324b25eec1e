//! bcrypt hashing and verification, always on the bcrypt pool.

use std::sync::Arc;

use crate::{cpu_pool::CpuPool, error::ApiError};

#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    pool: Arc<CpuPool>,
    /// A hash of a random string at the configured cost, made at start: a login for an unknown
    /// email verifies against it, so it costs what a wrong password costs from the first
    /// request on.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new(cost: u32, pool: CpuPool) -> Result<Self, bcrypt::BcryptError> {
        let dummy_hash = bcrypt::hash(uuid::Uuid::new_v4().to_string(), cost)?.into();
        Ok(Passwords { cost, pool: Arc::new(pool), dummy_hash })
    }

    /// The threads bcrypt runs on, for `/metrics`.
    pub fn pool(&self) -> &CpuPool {
        &self.pool
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let cost = self.cost;
        Ok(self.pool.run(move || bcrypt::hash(password, cost)).await??)
    }

    /// Whether a stored hash was made at another cost than the configured one: a login that
    /// proves the password then stores it again at today's cost.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        cost_of(stored) != Some(self.cost)
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user) it spends one
    /// verification anyway and answers false. A hash cheaper than today's cost is padded with
    /// a verification of the dummy, so an old account does not answer faster than an unknown
    /// address.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let (dummy, cost) = (Arc::clone(&self.dummy_hash), self.cost);
        // An account without a password (`no_password`) answers as an unknown address does.
        let stored = stored.filter(|hash| is_set(hash));
        self.pool
            .run(move || match stored {
                Some(hash) => {
                    let matches = bcrypt::verify(&password, &hash)?;
                    if cost_of(&hash).is_some_and(|stored_cost| stored_cost < cost) {
                        let _ = bcrypt::verify(&password, &dummy);
                    }
                    Ok(matches)
                }
                None => {
                    let _ = bcrypt::verify(password, &dummy);
                    Ok(false)
                }
            })
            .await?
    }
}

/// What `users.password_hash` holds for an account whose password was removed: no bcrypt hash
/// (nothing verifies against it), and unique, so that a session whose start checked the hash
/// before the removal is refused (`sessions::start`).
pub fn no_password() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(format!("!{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// Whether a stored hash is a password's (not `no_password`'s).
pub fn is_set(stored: &str) -> bool {
    stored.starts_with('$')
}

/// The cost a bcrypt hash (`$2b$12$…`) was made at.
fn cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::cost_of;

    #[test]
    fn the_cost_is_read_from_the_hash() {
        let hash = bcrypt::hash("correct horse battery", 5).unwrap();
        assert_eq!(cost_of(&hash), Some(5));
        assert_eq!(cost_of("$2y$12$abcdefghijklmnopqrstuu"), Some(12));
        assert_eq!(cost_of("not a hash"), None);
    }
}
