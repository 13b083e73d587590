//! The data generator (bench/run): placeholder until written.
fn main() {}
