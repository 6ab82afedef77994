#!/usr/bin/env bash
# no_std proven on bare metal: the library builds for a Cortex-M4F target (no `std` there at all)
# without default features (heap-free) and with `alloc`, with warnings denied. `deflate` implies
# `std` (Cargo.toml), so it has no bare-metal build.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=thumbv7em-none-eabihf
rustup target list --installed | grep -q "^$TARGET\$" || rustup target add "$TARGET"
# `cargo rustc --lib -- -D warnings` denies warnings in this crate only (not in dependencies).
cargo rustc --lib --target "$TARGET" --no-default-features -- -D warnings
cargo rustc --lib --target "$TARGET" --no-default-features --features alloc -- -D warnings
