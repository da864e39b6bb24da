#!/usr/bin/env bash
# Installs every Debian package loaddensity uses (idempotent: only missing ones, one
# `apt-get update`), then configures and builds the release preset (binary and tests).
#   scripts/setup.sh            install + build
#   scripts/setup.sh --no-build install only
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain
  g++ cmake make ccache pkg-config
  # libraries
  libboost1.74-dev libssl-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev googletest
  libsqlite3-dev libpq-dev libmariadb-dev libnghttp2-dev libspdlog-dev zlib1g-dev
  libgrpc++-dev libprotobuf-dev libprotoc-dev protobuf-compiler protobuf-compiler-grpc
  librdkafka-dev libmongoc-dev libbson-dev libzmq3-dev cppzmq-dev
  liburing-dev libsimdjson-dev libyaml-cpp-dev libpugixml-dev
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev libnghttp3-dev
  # test and benchmark servers and tools
  nginx python3 python3-httpbin gunicorn python3-websockets wrk nghttp2-client openssl curl procps util-linux time
  postgresql mariadb-server redis-server redis-tools python3-grpcio
  kcat python3-confluent-kafka
  mosquitto mosquitto-clients
  python3-pymongo prometheus influxdb influxdb-client python3-zmq
  ngtcp2-server ngtcp2-client python3-jsonschema python3-botocore python3-jwt yamllint
  # report tests: HTML in a headless browser, XML/JUnit schema checks, Locust's own CSV headers
  chromium libxml2-utils python3-locust
  # MCP and editor tests: the MCP SDK client and vsce come from npm at test time
  nodejs
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm ships inside NodeSource's nodejs; Debian packages it apart.
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--no-build" ]; then exit 0; fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
echo "setup: built build/release/loaddensity"
