#!/usr/bin/env bash
# Miri over the crate's `unsafe` (the leaf modules src/mask/avx2.rs, src/mask/append.rs,
# src/utf8/unchecked.rs, src/utf8/avx512.rs, and the `&str`s they vouch for) and the masking and
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
# `recv_buffer::tests::a_`: the `&str` a waiting text frame is delivered as (src/recv_buffer.rs),
# moved to the front with the buffer, and with two connections sharing one buffer.
# `mask::tests::dispatched_`/`ascii_reporting_` and `mask::avx2`: the masking loops behind the AVX2 dispatch;
# `mask::append`: the masked append into a `Vec`'s spare capacity and its `set_len`.
# `assembly::tests::a_recycled`: a buffer handed back and text delivered from it as `&str`.
PROPTEST_CASES=16 MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test --lib -- \
  utf8 mask::tests::dispatched_masking_agrees_with_bytewise mask::tests::ascii_reporting_masking_sees_every_high_bit \
  mask::avx2 mask::append recv_buffer::tests::a_ assembly::tests::binary_pieces assembly::tests::a_recycled
