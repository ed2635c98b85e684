#!/usr/bin/env bash
# Makes sure the services the integration tests use are running on their standard loopback ports:
# Redis 6379, PostgreSQL 5432 (trust auth, database `test`), MariaDB 3306 (root, no password,
# database `test`), etcd 2379; Chromium and a JDK for the browser and interop tests.
# Starts what is stopped; installs from Debian's packages what is absent. Idempotent: running it when everything is up changes nothing.
# Also installs stress-ng, to check that the suite passes on a busy machine (`stress-ng --cpu 2` beside `npm test`).
#
# With WXSEAL_SERVICES_RECORD=FILE it appends one line per service it started itself to FILE;
# `scripts/services.sh --stop FILE` stops exactly those (newest first) and nothing that was
# already running. .ci/run uses the pair so a CI run leaves no service behind.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
record() { if [ -n "${WXSEAL_SERVICES_RECORD:-}" ]; then echo "$*" >>"$WXSEAL_SERVICES_RECORD"; fi; }
wait_for() { # name, command, seconds
  local name=$1 cmd=$2 secs=${3:-30}
  for _ in $(seq 1 $((secs * 4))); do
    if eval "$cmd" >/dev/null 2>&1; then log "$name is up"; return 0; fi
    sleep 0.25
  done
  log "$name did not come up within ${secs}s"; return 1
}

# --- --stop FILE: stop the services listed in FILE ---------------------------------------------
stop_recorded() {
  local file=$1 line name arg
  [ -f "$file" ] || return 0
  tac "$file" | while read -r name arg; do
    case "$name" in
      redis) log "stopping redis"; redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true ;;
      postgresql) log "stopping postgresql $arg"; pg_ctlcluster --skip-systemctl-redirect "$arg" main stop -m fast >/dev/null 2>&1 || true ;;
      mariadb) log "stopping mariadb"; mariadb-admin -uroot shutdown >/dev/null 2>&1 || start-stop-daemon --stop --oknodo --retry 10 --exec /usr/sbin/mariadbd >/dev/null || true ;;
      etcd) log "stopping etcd (pid $arg)"; kill "$arg" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$arg" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$arg" 2>/dev/null || true ;;
      *) log "unknown service in $file: $name" ;;
    esac
  done
}
if [ "${1:-}" = "--stop" ]; then stop_recorded "${2:?usage: services.sh --stop FILE}"; exit 0; fi

# --- Redis -----------------------------------------------------------------------------------
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! command -v redis-server >/dev/null; then log "installing redis"; apt_install redis-server; fi
if ! redis_up; then
  log "starting redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  record redis
  wait_for redis redis_up
else log "redis is up"; fi

# --- PostgreSQL ------------------------------------------------------------------------------
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! command -v pg_ctlcluster >/dev/null; then log "installing postgresql"; apt_install postgresql; fi
if ! pg_up; then
  log "starting postgresql"
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  if [ -z "$ver" ]; then log "no postgresql cluster found"; exit 1; fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  record postgresql "$ver"
  wait_for postgresql pg_up
else log "postgresql is up"; fi
if ! psql -h 127.0.0.1 -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1; then
  log "configuring postgresql: trust auth on loopback, database test"
  hba=$(su postgres -c "psql -Atqc 'show hba_file'")
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    su postgres -c "psql -Atqc 'select pg_reload_conf()'" >/dev/null
  fi
  su postgres -c "psql -Atqc \"select 1 from pg_database where datname='test'\"" | grep -q 1 \
    || su postgres -c "createdb test"
fi

# --- MariaDB ---------------------------------------------------------------------------------
my_up() { mariadb -h 127.0.0.1 -P 3306 -uroot -e 'select 1' >/dev/null 2>&1; }
if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
  log "installing mariadb"; apt_install mariadb-server
fi
if ! my_up; then
  if ! mariadb -uroot -e 'select 1' >/dev/null 2>&1; then
    log "starting mariadb"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    record mariadb
    wait_for mariadb-socket "mariadb -uroot -e 'select 1'"
  fi
  # Root over TCP without a password, as the tests expect.
  mariadb -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" 2>/dev/null || true
  wait_for mariadb my_up
else log "mariadb is up"; fi
mariadb -h 127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test' 

# --- etcd (certificate sync for WeChat Pay across instances) ---------------------------------
etcd_up() { curl -fsS --max-time 2 http://127.0.0.1:2379/health 2>/dev/null | grep -q '"health":"true"'; }
if ! command -v etcd >/dev/null; then log "installing etcd"; apt_install etcd-server etcd-client; fi
if ! etcd_up; then
  log "starting etcd"
  mkdir -p /var/lib/etcd-ci /var/log/etcd
  # Debian's package may start its own unit; on machines without systemd start one by hand.
  nohup etcd --name ci --data-dir /var/lib/etcd-ci \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 >/var/log/etcd/ci.log 2>&1 &
  record etcd "$!"
  wait_for etcd etcd_up
else log "etcd is up"; fi

# --- Chromium (browser tests of the admin console, driven by playwright-core) ------------------
if [ ! -x /usr/bin/chromium ]; then log "installing chromium for the browser tests"; apt_install chromium; fi
# CJK fonts so the zh-CN console renders readable screenshots.
if ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then log "installing CJK fonts"; apt_install fonts-noto-cjk; fi
log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"

# --- stress-ng (to run the suite on a busy machine) --------------------------------------------
if ! command -v stress-ng >/dev/null; then log "installing stress-ng"; apt_install stress-ng; fi

# --- Java (the independent protocol implementation in interop/java) ---------------------------
if ! command -v javac >/dev/null; then log "installing a JDK for the interop tests"; apt_install default-jdk-headless; fi
log "javac: $(javac -version 2>&1)"
# The Jakarta Servlet API for the Java library's servlet filter (Debian's package: no Maven Central).
if [ ! -f /usr/share/java/jakarta-servlet-api.jar ]; then log "installing the Jakarta Servlet API"; apt_install libjakarta-servlet-api-java; fi
# Bouncy Castle for the Java library's SM suite (JDK 17 has no SM2/SM3/SM4; Debian ships bcprov 1.72).
if [ ! -f /usr/share/java/bcprov.jar ]; then log "installing Bouncy Castle (SM2/SM3/SM4 for Java)"; apt_install libbcprov-java; fi

# --- Go (the native Go verifier in go/; Debian's packages only, no Go proxy) -----------------
if ! command -v go >/dev/null; then log "installing Go"; apt_install golang-go; fi
if [ ! -d /usr/share/gocode/src/golang.org/x/crypto ]; then log "installing golang.org/x/crypto"; apt_install golang-golang-x-crypto-dev; fi
# tjfoc/gmsm for the Go library's SM suite (SM2/SM3/SM4 from Debian's package).
if [ ! -d /usr/share/gocode/src/github.com/tjfoc/gmsm ]; then log "installing github.com/tjfoc/gmsm"; apt_install golang-github-tjfoc-gmsm-dev; fi
log "go: $(go version 2>&1)"

log "all services ready"
