#!/usr/bin/env bash
# WebSockets over HTTP/2 (RFC 8441) and over HTTP/1.1, through examples/hyper_server (hyper 1 +
# rustls + wsmachine), with real peers. One line per cell, e.g. `interop chromium h2: PASS`:
#   chromium ws   --plain: ws over cleartext HTTP/1.1 (101 upgrade through hyper::upgrade)
#   chromium wss  --http1-only: wss over HTTP/1.1 (ALPN http/1.1 only)
#   chromium h2   https page over h2; the page's WebSocket must be an extended CONNECT stream
#   firefox ws    --plain
#   firefox wss   --http1-only
#   firefox h2    as chromium h2
#   python-h2 h2  tests/h2/h2_client.py: extended CONNECT by hand, frames checked byte for byte
#   python-h2 h2c the same over cleartext HTTP/2 (prior knowledge; hyper_server --plain)
#   chromium fallback, firefox fallback: controls: with --no-extended-connect (no
#                 SETTINGS_ENABLE_CONNECT_PROTOCOL) the browsers must fall back to an HTTP/1.1
#                 upgrade and the log must show it, proving the h2 cells tell the two apart
# Browser cells load /test (tests/browser/test.html, the conformance page): it reports its verdict
# with fetch('/done?...'); the cell passes when the server logged `browser result ID: PASS` AND
# the bootstrap line it expects (`ws via h2 extended CONNECT` for h2: a silent fallback to
# HTTP/1.1 fails the cell), and no line of the other kind.
# Installs (guarded): chromium, firefox-esr, libnss3-tools (apt), h2 (PyPI, target/venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=target/h2
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.html "$OUT"/*.pem

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
missing=()
command -v chromium > /dev/null || missing+=(chromium)
command -v firefox-esr > /dev/null || missing+=(firefox-esr)
command -v certutil > /dev/null || missing+=(libnss3-tools)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" > /dev/null
fi
if ! target/venv/bin/python -c 'import h2' 2> /dev/null; then
  [ -x target/venv/bin/python ] || python3 -m venv target/venv
  target/venv/bin/pip install -q h2
fi
cargo build --release --features http --example hyper_server
SERVER_BIN=${CARGO_TARGET_DIR:-target}/release/examples/hyper_server

PIDS=()
TMPDIRS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -- "-$p" 2> /dev/null || kill "$p" 2> /dev/null || true; done
  for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME ARGS...: starts hyper_server on a free port; sets PORT, LOG, PIN.
start_server() {
  local name=$1
  shift
  PORT=$(free_port)
  LOG="$OUT/server-$name.log"
  : > "$LOG"
  setsid "$SERVER_BIN" --addr "127.0.0.1:$PORT" --cert-out "$OUT/cert-$name.pem" "$@" > "$LOG" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do grep -q '^listening on' "$LOG" && break; sleep 0.1; done
  grep -q '^listening on' "$LOG" || { echo "server $name did not start"; cat "$LOG"; exit 1; }
  PIN=$(sed -n 's/^spki pin: //p' "$LOG")
}

# check_log ID VIA: the page passed, over the expected bootstrap only.
check_log() {
  local id=$1 via=$2 want other
  if [ "$via" = h2 ]; then
    want='^ws via h2 extended CONNECT \(RFC 8441\)'
    other='^ws via HTTP/1.1 upgrade'
  else
    want='^ws via HTTP/1.1 upgrade'
    other='^ws via h2 extended CONNECT'
  fi
  grep -q "^browser result $id: PASS" "$LOG" || { echo "  no PASS from the page:"; grep '^browser result' "$LOG" | sed 's/^/  /'; return 1; }
  grep -Eq "$want" "$LOG" || { echo "  no '$want' line in $LOG"; return 1; }
  if grep -Eq "$other" "$LOG"; then echo "  unexpected '$other' line in $LOG"; return 1; fi
}

FAILED=0
report() { # report CELL STATUS
  if [ "$2" = 0 ]; then echo "interop $1: PASS"; else echo "interop $1: FAIL (see $OUT/)"; FAILED=1; fi
}

# chromium_cell VIA SCHEME CELL SERVER_ARGS...: --dump-dom waits for the load event, which the
# /gate image holds until the page has reported through /done.
chromium_cell() {
  local via=$1 scheme=$2 cell=$3
  shift 3
  local slug=${cell// /-}
  start_server "$slug" "$@"
  local id="$slug-$$" profile
  profile=$(mktemp -d)
  TMPDIRS+=("$profile")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --ignore-certificate-errors-spki-list="$PIN" --user-data-dir="$profile" \
    --dump-dom "$scheme://127.0.0.1:$PORT/test?id=$id" > "$OUT/$slug.html" 2> "$OUT/$slug.log" || true
  local st=0
  grep -q "RESULT: PASS" "$OUT/$slug.html" || { echo "  no RESULT: PASS in the DOM"; st=1; }
  check_log "$id" "$via" || st=1
  report "$cell" $st
}

# A fresh Firefox profile that stays on loopback, trusts CERT (when given) in its NSS db.
firefox_profile() {
  local profile=$1 cert=${2:-}
  cat > "$profile/user.js" << 'EOF'
user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.startup.page", 0);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("browser.region.update.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.server", "");
user_pref("extensions.update.enabled", false);
user_pref("extensions.blocklist.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:9/");
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.http.speculative-parallel-limit", 0);
user_pref("network.trr.mode", 5);
user_pref("network.proxy.type", 0);
user_pref("media.gmp-manager.url", "");
user_pref("security.OCSP.enabled", 0);
user_pref("security.remote_settings.crlite_filters.enabled", false);
EOF
  if [ -n "$cert" ]; then
    # Trusted as an anchor ("C,,": mozilla::pkix ignores NSS's trusted-peer "P", which gave
    # BadCertificate); the self-signed leaf has no basicConstraints, so it may be its own anchor.
    certutil -N -d "sql:$profile" --empty-password
    certutil -A -n wsmachine-test -t "C,," -i "$cert" -d "sql:$profile"
  fi
}

# firefox_cell VIA SCHEME CELL SERVER_ARGS...: Firefox has no --dump-dom, so the test waits for
# the page's /done request in the server log, then ends Firefox (its process group) by PID.
firefox_cell() {
  local via=$1 scheme=$2 cell=$3
  shift 3
  local slug=${cell// /-}
  start_server "$slug" "$@"
  local id="$slug-$$" profile cert="" fpid st=0
  profile=$(mktemp -d)
  TMPDIRS+=("$profile")
  [ "$scheme" = https ] && cert="$OUT/cert-$slug.pem"
  firefox_profile "$profile" "$cert"
  MOZ_HEADLESS=1 setsid timeout 150 firefox-esr --headless --no-remote --profile "$profile" \
    "$scheme://127.0.0.1:$PORT/test?id=$id" > "$OUT/$slug.log" 2>&1 &
  fpid=$!
  PIDS+=($fpid)
  for _ in $(seq 1 1200); do # 120 s
    grep -q "^browser result $id:" "$LOG" && break
    kill -0 "$fpid" 2> /dev/null || break
    sleep 0.1
  done
  # The page reports before its WebSocket's last log lines may land: give them a moment.
  sleep 0.3
  kill -- "-$fpid" 2> /dev/null || true
  wait "$fpid" 2> /dev/null || true
  check_log "$id" "$via" || st=1
  report "$cell" $st
}

START=$(date +%s)
chromium_cell h1 http "chromium ws" --plain
chromium_cell h1 https "chromium wss" --http1-only
chromium_cell h2 https "chromium h2"
firefox_cell h1 http "firefox ws" --plain
firefox_cell h1 https "firefox wss" --http1-only
firefox_cell h2 https "firefox h2"
chromium_cell h1 https "chromium fallback" --no-extended-connect
firefox_cell h1 https "firefox fallback" --no-extended-connect

# python_cell CELL CA_PEM_OR_--plain SERVER_ARGS...
python_cell() {
  local cell=$1 ca=$2 slug=${1// /-} st=0
  shift 2
  start_server "$slug" "$@"
  [ "$ca" = cert ] && ca="$OUT/cert-$slug.pem"
  timeout 60 target/venv/bin/python tests/h2/h2_client.py 127.0.0.1 "$PORT" "$ca" > "$OUT/$slug.log" 2>&1 || st=1
  sed 's/^/  /' "$OUT/$slug.log"
  grep -q '^h2 client: PASS' "$OUT/$slug.log" || st=1
  [ "$(grep -c '^ws via h2 extended CONNECT' "$LOG")" = 3 ] || { echo "  expected 3 extended CONNECT lines in $LOG"; st=1; }
  report "$cell" $st
}
python_cell "python-h2 h2" cert
python_cell "python-h2 h2c" --plain --plain

echo "tests/h2: $(($(date +%s) - START)) s for the cells"
exit $FAILED
