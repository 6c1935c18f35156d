#!/usr/bin/env bash
# The entry script behind the README's two commands, on a fresh Debian 12 machine:
#   ./run.sh main   install dependencies, build, run the main job (the support example, offline)
#   ./run.sh test   install dependencies, build, run every test suite (what CI runs)
# Both are idempotent: packages already installed are not reinstalled, the build is incremental.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config libcaf-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libcurl4-openssl-dev libcpp-httplib-dev protobuf-compiler libprotobuf-dev librocksdb-dev libsqlite3-dev
  libpq-dev libhnswlib-dev libssl-dev)
# Only the test suite needs a PostgreSQL server (the journal's shared backend) and the openssl
# command (the cluster tests make their TLS certificates).
TEST_PACKAGES=(postgresql openssl)
BUILD_DIR=${LOOMFLOW_BUILD_DIR:-build}
JOBS=${LOOMFLOW_JOBS:-2}

install_dependencies() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "==> installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The real MCP servers the test suite talks to (server-everything, server-filesystem from npm), at
# the versions tests/mcp/package-lock.json pins.
install_mcp_peers() {
  command -v npm >/dev/null || install_dependencies nodejs npm
  if [ ! -d tests/mcp/node_modules ] || [ tests/mcp/package-lock.json -nt tests/mcp/node_modules ]; then
    echo "==> installing the MCP test servers (npm ci)"
    npm ci --prefix tests/mcp --no-audit --no-fund --loglevel=error
  fi
}

# The official `openai` npm client the OpenAI-compatible endpoint is tested with, pinned by
# tests/openai/package-lock.json.
install_openai_client() {
  command -v npm >/dev/null || install_dependencies nodejs npm
  if [ ! -d tests/openai/node_modules ] || [ tests/openai/package-lock.json -nt tests/openai/node_modules ]; then
    echo "==> installing the openai npm client for the serve tests (npm ci)"
    npm ci --prefix tests/openai --no-audit --no-fund --loglevel=error
  fi
}

build() {
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
}

case "${1:-}" in
  main)
    install_dependencies "${PACKAGES[@]}"
    build --target loomflow
    "$BUILD_DIR/tools_cli/loomflow" run tools_cli/examples/support.json \
      --input "My card was charged twice." --user alice
    ;;
  test)
    install_dependencies "${PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    install_mcp_peers
    install_openai_client
    build
    # A private PostgreSQL on loopback for the journal's PostgreSQL cases; stopped however we exit.
    PG_DIR=$(mktemp -d /tmp/loomflow-pg.XXXXXX)
    trap '.ci/postgres.sh stop "$PG_DIR" || true; rm -rf "$PG_DIR"' EXIT
    LOOMFLOW_TEST_POSTGRES_URI=$(.ci/postgres.sh start "$PG_DIR" "${LOOMFLOW_PG_PORT:-55439}")
    export LOOMFLOW_TEST_POSTGRES_URI LOOMFLOW_REQUIRE_POSTGRES=1 LOOMFLOW_REQUIRE_MCP=1 LOOMFLOW_REQUIRE_OPENAI_CLIENT=1 \
      LOOMFLOW_REQUIRE_OPENSSL=1
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
    ;;
  *)
    echo "usage: $0 main|test" >&2
    exit 2
    ;;
esac
