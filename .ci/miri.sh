#!/usr/bin/env bash
# Miri over the crate's `unsafe` (src/accel.rs, src/utf8/unchecked.rs and the `&str`s it vouches for) and the masking and
# UTF-8 code around it.
# Installs a minimal nightly toolchain with miri when it is missing (Miri needs nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --toolchain nightly --installed 2> /dev/null | grep -q '^miri' \
  || rustup component add --toolchain nightly miri rust-src
# Proptest persists failures on disk (needs the file system); few cases, since Miri is slow.
# Miri detects no CPU features, so the AVX-512 kernel is not run (nor required) here.
unset WSMACHINE_REQUIRE_AVX512
# `recv_buffer::tests::a_`: the `&str` a waiting text frame is delivered as (src/connection/waiting.rs),
# including two connections sharing one buffer.
PROPTEST_CASES=16 MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test --lib -- accel utf8 recv_buffer::tests::a_
