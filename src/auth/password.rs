//! bcrypt hashing and verification, always on the bcrypt pool.

use std::sync::{Arc, OnceLock};

use super::bcrypt_pool::BcryptPool;
use crate::error::ApiError;

#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    pool: Arc<BcryptPool>,
    /// A hash of a random string at the configured cost, made on first use: a login for an
    /// unknown email verifies against it, so it costs what a wrong password costs.
    dummy_hash: Arc<OnceLock<String>>,
}

impl Passwords {
    pub fn new(cost: u32, pool: BcryptPool) -> Self {
        Passwords { cost, pool: Arc::new(pool), dummy_hash: Arc::new(OnceLock::new()) }
    }

    /// bcrypt jobs submitted and not finished.
    pub fn queued(&self) -> usize {
        self.pool.in_flight()
    }

    pub fn stats(&self) -> &super::bcrypt_pool::BcryptStats {
        self.pool.stats()
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let cost = self.cost;
        Ok(self.pool.run(move || bcrypt::hash(password, cost)).await??)
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user) it spends one
    /// verification anyway and answers false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let this = self.clone();
        self.pool
            .run(move || match stored {
                Some(hash) => Ok(bcrypt::verify(password, &hash)?),
                None => {
                    let dummy = this.dummy_hash.get_or_init(|| {
                        let random = uuid::Uuid::new_v4().to_string();
                        bcrypt::hash(random, this.cost).unwrap_or_default()
                    });
                    // An empty dummy (hashing failed) still must not log anyone in.
                    let _ = bcrypt::verify(password, dummy);
                    Ok(false)
                }
            })
            .await?
    }
}
