//! Empty: this crate exists only for `benches/peers.rs`.
