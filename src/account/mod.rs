//! The flows several endpoints share, between the handlers (`routes`) and what a request
//! carries (`request`), as zero-to-production's `src/authentication/` is shared by its login
//! and password routes: granting a session (`sign_in`), proving a second factor
//! (`second_factor`), confirming the password before a sensitive change (`password`), the
//! codes the service mails (`codes`), deleting an account (`deletion`), a picture's life (`pictures`), and the attempt budget
//! every secret a user proves draws from (`attempts`). A handler reads like
//! its contract row and calls these; none imports another handler.

pub mod attempts;
pub mod codes;
pub mod deletion;
pub mod federation;
pub mod passkeys;
pub mod password;
pub mod pictures;
pub mod second_factor;
pub mod sign_in;
pub mod ways_in;
