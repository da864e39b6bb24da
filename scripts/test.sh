#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts the real servers the tests use
# on 127.0.0.1, runs the whole ctest suite, and stops the servers (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
state=$(mktemp -d /tmp/loaddensity-servers.XXXXXX)
cleanup() { tests/servers.sh stop "$state" || true; rm -rf "$state"; }
trap cleanup EXIT
tests/servers.sh start "$state"
# shellcheck disable=SC1091
source "$state/servers.env"
ctest --preset release -j 2 "$@"
