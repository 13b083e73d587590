//! The load generator (bench/run): placeholder until written.
fn main() {}
