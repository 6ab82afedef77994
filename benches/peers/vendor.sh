#!/usr/bin/env bash
# Every row of the README's performance table on this machine: three receive races, three send
# races, the handshake in criterion, then their medians as README rows (`rows.py`). About 3
# minutes on the 2-core host. Run on each CPU vendor you get, and put the rows beside the other
# vendor's in README.md (the CPU model is printed first). Logs stay in target/vendor/.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p target/vendor
cargo bench --no-run -q 2>/dev/null
for i in 1 2 3; do
  RECV_RACE=1 cargo bench -q -- recv/ > "target/vendor/recv$i.log" 2>/dev/null
  SEND_RACE=1 cargo bench -q -- send_ > "target/vendor/send$i.log" 2>/dev/null
done
rm -rf target/criterion/handshake_server
cargo bench -q -- handshake --warm-up-time 0.5 --measurement-time 1.5 --sample-size 30 > target/vendor/handshake.log 2>&1
python3 rows.py target/vendor/recv*.log target/vendor/send*.log
