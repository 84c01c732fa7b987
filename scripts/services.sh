#!/usr/bin/env bash
# Make sure the services the integration tests talk to are up: Redis, PostgreSQL and MariaDB on loopback.
# Starts a stopped local install the way this machine's images do; never touches a running one.
set -euo pipefail

port_open() {  # host port
  python3 - "$1" "$2" <<'PY'
import socket, sys
with socket.socket() as s:
    s.settimeout(1)
    sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)
PY
}

wait_port() {  # name host port
  for _ in $(seq 1 60); do
    port_open "$2" "$3" && return 0
    sleep 0.5
  done
  echo "services: $1 did not come up on $2:$3" >&2
  return 1
}

if ! port_open 127.0.0.1 6379; then
  if command -v redis-server >/dev/null; then
    echo "services: starting redis-server"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/dativo-redis.log"
    wait_port redis 127.0.0.1 6379
  else
    echo "services: Redis is not running on 127.0.0.1:6379 and redis-server is not installed" >&2
    echo "          (apt-get install redis-server, or set DATIVO_TEST_REDIS_URL)" >&2
    exit 1
  fi
fi

if ! port_open 127.0.0.1 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_port postgres 127.0.0.1 5432
  else
    echo "services: PostgreSQL is not running on 127.0.0.1:5432 and no local cluster was found" >&2
    echo "          (apt-get install postgresql, or set DATIVO_TEST_POSTGRES_URL)" >&2
    exit 1
  fi
fi

if ! port_open 127.0.0.1 3306; then
  if [ -x /etc/init.d/mariadb ] || [ -x /etc/init.d/mysql ]; then
    echo "services: starting MariaDB"
    if [ -x /etc/init.d/mariadb ]; then /etc/init.d/mariadb start; else /etc/init.d/mysql start; fi
    wait_port mariadb 127.0.0.1 3306
  else
    echo "services: MariaDB/MySQL is not running on 127.0.0.1:3306 and no local install was found" >&2
    echo "          (apt-get install mariadb-server, or set DATIVO_TEST_MYSQL_HOST/DATIVO_TEST_MYSQL_PORT)" >&2
    exit 1
  fi
fi

# The dashboard's browser test (tests/integration/test_ui.py) drives Debian's chromium through its
# chromedriver: installed here when missing and this shell may (root, apt-get); otherwise that test
# fails naming them (DATIVO_TEST_ALLOW_SKIP=1 skips it, as for a missing service).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "services: installing chromium and chromium-driver (the dashboard's browser test)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
  else
    echo "services: chromium/chromedriver missing (apt-get install chromium chromium-driver as root);" \
      "the dashboard's browser test will fail (DATIVO_TEST_ALLOW_SKIP=1 skips it)" >&2
  fi
fi
