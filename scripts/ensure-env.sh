#!/usr/bin/env bash
# Makes this machine able to run the platform, then runs the command given.
# Installs what is missing where it can (Node 22 from the npm registry's `node`
# package, the project's packages, ffmpeg and Chromium from apt when root) and
# otherwise stops with one sentence that says what to install.
#
#   scripts/ensure-env.sh [--media] [--browser] -- <command...>
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export WRANGLER_SEND_METRICS=false
export WRANGLER_LOG_SANITIZE=true

need_media=0
need_browser=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --media) need_media=1; shift ;;
    --browser) need_browser=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] %s\n' "$*" >&2; exit 1; }

# --- Node >= 22.18 -------------------------------------------------------------
# wrangler needs Node 22; the scripts and the transcoder run TypeScript with Node's type stripping,
# on by default from 22.18.
node_ok() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' 2>/dev/null
}
command -v node >/dev/null 2>&1 || die "Node.js is not installed: install Node.js 20 or newer with npm, then run this again."
command -v npm >/dev/null 2>&1 || die "npm is not installed: install npm (it ships with Node.js), then run this again."
if ! node_ok; then
  LOCAL_NODE="$ROOT/.tools/node/node_modules/node/bin"
  if [[ ! -x "$LOCAL_NODE/node" ]]; then
    say "Node $(node --version) is older than 22.18; installing Node 22 from the npm registry into .tools/node"
    mkdir -p "$ROOT/.tools/node"
    npm install --prefix "$ROOT/.tools/node" --no-save --no-audit --no-fund --loglevel=error node@22 >&2 \
      || die "Could not install Node 22 from the npm registry: install Node.js 22.18 or newer, then run this again."
  fi
  export PATH="$LOCAL_NODE:$PATH"
  node_ok || die "Node 22 did not start from .tools/node: install Node.js 22.18 or newer, then run this again."
fi

# --- the project's packages ----------------------------------------------------
lock_sum() { sha1sum package-lock.json package.json 2>/dev/null | sha1sum | cut -c1-40; }
stamp="node_modules/.install-stamp"
if [[ ! -d node_modules || ! -f "$stamp" || "$(cat "$stamp")" != "$(lock_sum)" ]]; then
  say "installing the project's packages"
  if [[ -f package-lock.json ]]; then
    # `npm ci` refuses a lock file that lacks other platforms' optional packages (a registry mirror
    # that carries only this platform's binaries writes such locks); `npm install --no-save` then
    # installs the same locked versions without rewriting the lock.
    npm ci --no-audit --no-fund --loglevel=error >&2 2>/dev/null \
      || npm install --no-save --no-audit --no-fund --loglevel=error >&2 \
      || die "Installing the project's packages failed: check your network access to the npm registry, then run this again."
  else
    npm install --no-audit --no-fund --loglevel=error >&2 || die "npm install failed: check your network access to the npm registry, then run this again."
  fi
  lock_sum > "$stamp"
fi

# --- system packages -----------------------------------------------------------
apt_updated=0
apt_install() {
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  if [[ $apt_updated == 0 ]]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
if [[ $need_media == 1 ]] && ! { command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; }; then
  apt_install ffmpeg || die "ffmpeg is missing: install it (sudo apt-get install ffmpeg), then run this again."
fi
# promtool (Debian's prometheus package) checks ops/ in the tests and runs Prometheus locally
# (docs/operations.md). Not fatal: only the ops tests need it, and they say so when it is missing.
if [[ $need_media == 1 ]] && ! command -v promtool >/dev/null; then
  apt_install prometheus || say "promtool is missing (sudo apt-get install prometheus): the ops tests in test/node/metrics will fail until it is installed."
fi
# HAProxy (Debian's haproxy) is the front address of `npm start -- --nodes N` and of the fleet's
# e2e test (docs/deploy.md). Not fatal: a one-node `npm start` does not use it.
if [[ $need_media == 1 ]] && ! command -v haproxy >/dev/null; then
  apt_install haproxy || say "haproxy is missing (sudo apt-get install haproxy): npm start -- --nodes N and the fleet e2e test need it."
fi
if [[ $need_browser == 1 ]]; then
  # Debian's `chromium`; Ubuntu's snap installs `chromium-browser`; CHROMIUM_PATH wins over both.
  find_chromium() { command -v chromium || command -v chromium-browser || true; }
  if [[ -z "${CHROMIUM_PATH:-}" && -z "$(find_chromium)" ]]; then
    apt_install chromium fonts-dejavu-core || true
  fi
  export CHROMIUM_PATH="${CHROMIUM_PATH:-$(find_chromium)}"
  [[ -n "$CHROMIUM_PATH" && -x "$CHROMIUM_PATH" ]] \
    || die "Chromium is missing: install it (Debian: sudo apt-get install chromium; Ubuntu: sudo snap install chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary, then run this again."
fi

exec "$@"
