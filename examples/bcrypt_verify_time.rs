//! Prints the median time of one `bcrypt::verify` at a cost, in seconds: the bench's bcrypt
//! limit is cores ÷ this. Usage: bcrypt_verify_time COST ROUNDS
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let cost: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(12);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let hash = bcrypt::hash("correct horse battery staple", cost).expect("hash");
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            assert!(bcrypt::verify("correct horse battery staple", &hash).expect("verify"));
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("{:.6} s median of {rounds} at cost {cost}", times[rounds / 2]);
}
