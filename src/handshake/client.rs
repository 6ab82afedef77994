//! Client side (RFC 6455 §4.1).
