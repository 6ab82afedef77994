//! http crate conversions.
