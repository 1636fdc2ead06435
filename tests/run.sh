#!/usr/bin/env bash
# Every test of the repository, on a fresh machine too: installs what the tests need
# beyond cargo (idempotently: nothing is fetched twice), makes sure PostgreSQL is up, then
# runs them all. A test never skips itself because a tool is missing; this script is what
# makes the tools present. `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# The pinned toolchain with the wasm32 target the plug-ins build for.
rustup toolchain install

# Debian tools: xmllint validates the SEPA files against the ISO 20022 schemas; Chromium
# runs the dashboard's browser test (tests/browser, driven by playwright-core, which never
# downloads a browser of its own).
missing=()
command -v xmllint >/dev/null || missing+=(libxml2-utils)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo apt-get install -y "${missing[@]}"
fi

# A Python virtualenv for the independent checkers (achkit, schemathesis).
export ACCRUE_VENV="${ACCRUE_VENV:-$PWD/.venv}"
if [ ! -x "$ACCRUE_VENV/bin/python" ]; then
    python3 -m venv "$ACCRUE_VENV"
fi
stamp="$ACCRUE_VENV/.requirements"
if ! cmp -s tests/requirements.txt "$stamp"; then
    "$ACCRUE_VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
    cp tests/requirements.txt "$stamp"
fi

# playwright-core for the browser test, from the committed lock file (node_modules is not
# committed; the stamp inside it is the lock file it was installed from).
stamp=tests/browser/node_modules/.package-lock.stamp
if ! cmp -s tests/browser/package-lock.json "$stamp"; then
    (cd tests/browser && npm ci --no-audit --no-fund)
    cp tests/browser/package-lock.json "$stamp"
fi

# PostgreSQL for the conformance and end-to-end tests.
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 1 30); do
        pg_isready -h 127.0.0.1 -p 5432 -q && break
        sleep 1
    done
fi
pg_isready -h 127.0.0.1 -p 5432

cargo test --workspace "$@"
