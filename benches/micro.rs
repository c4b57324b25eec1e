//! Micro-benchmarks of the per-request pieces that do not touch the database: token issue and
//! validation, `secure_filename`, and the magic-byte sniff. Run by bench/run.sh.

use std::hint::black_box;

use auth_service::{
    auth::token::{SignIn, Subject, TokenKeys},
    uploads::{filename::secure_filename, sniff::ImageType},
};
use criterion::{Criterion, criterion_group, criterion_main};

fn tokens(c: &mut Criterion) {
    let keys = TokenKeys::from_secret(b"bench-secret-0123456789abcdef0123456789", 3600);
    let subject = Subject {
        user_id: 42,
        email: "user@example.com".into(),
        email_verified: true,
        session_id: "session".into(),
        sign_in: SignIn::Password,
        session_ends_at: i64::MAX,
    };
    c.bench_function("token issue (HS256)", |b| b.iter(|| keys.issue(black_box(&subject))));
    let token = keys.issue(&subject).unwrap();
    c.bench_function("token validate (HS256)", |b| {
        b.iter(|| keys.validate(black_box(&token)).unwrap())
    });
}

fn uploads(c: &mut Criterion) {
    c.bench_function("secure_filename (short)", |b| {
        b.iter(|| secure_filename(black_box("My cool picture (1).png")))
    });
    let hostile = format!("{}évil\\..\\pic.png", "../".repeat(40));
    c.bench_function("secure_filename (traversal, 130 chars)", |b| {
        b.iter(|| secure_filename(black_box(&hostile)))
    });
    let head = *b"\x89PNG\r\n\x1a\n\0\0\0\r";
    c.bench_function("magic-byte sniff", |b| b.iter(|| ImageType::from_magic(black_box(&head))));
}

criterion_group!(benches, tokens, uploads);
criterion_main!(benches);
