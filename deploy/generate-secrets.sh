#!/bin/sh
# Writes every secret the fleet needs into DIR (default deploy/secrets), one file each, named as
# compose.yaml's `secrets:` and k8s/secret.example.yaml expect. Existing files are kept (a second
# run never replaces a master key or a server key). Needs openssl only.
#
#   sh deploy/generate-secrets.sh [DIR] [--postgres-host H] [--db-name N]
#
# The directory is 0700 and the files 0644: compose bind-mounts each file as it is on the host and
# the gateway runs as uid 1000, which may not be the owner; the directory keeps other host users out.
set -eu

dir=deploy/secrets
pg_host=postgres
db_name=wxseal
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres-host) pg_host=$2; shift 2 ;;
    --db-name) db_name=$2; shift 2 ;;
    -*) echo "generate-secrets: unknown option $1" >&2; exit 2 ;;
    *) dir=$1; shift ;;
  esac
done

umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

b64u() { openssl rand "$1" | openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# write NAME: stdin → DIR/NAME, unless it exists.
write() {
  if [ -e "$dir/$1" ]; then
    cat > /dev/null
    echo "kept      $dir/$1"
    return
  fi
  cat > "$dir/$1.tmp"
  chmod 0644 "$dir/$1.tmp"
  mv "$dir/$1.tmp" "$dir/$1"
  echo "generated $dir/$1"
}

# Client secret of keyId bff-prod: 32 random bytes, base64url (give the same to the caller).
b64u 32 | write wxseal-client-bff-prod
# Server RSA key (PKCS#8 PEM); the caller needs its public half: openssl pkey -in … -pubout.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | write wxseal-server-key.pem
# Master key ring (id:key, the first is active): seals client secrets, server keys and device keys at rest.
printf 'm1:%s\n' "$(b64u 32)" | write wxseal-master-keys
# Admin token (>= 32 characters): log in to the admin API and console as "token".
b64u 32 | write wxseal-admin-token

if [ -e "$dir/postgres-password" ]; then
  pg_password=$(cat "$dir/postgres-password")
else
  pg_password=$(b64u 24)
  printf '%s\n' "$pg_password" | write postgres-password
fi
# Both URLs name the same database; the control plane's tables are wxseal_cp_*.
printf 'postgres://wxseal:%s@%s:5432/%s\n' "$pg_password" "$pg_host" "$db_name" | write wxseal-control-plane-db
printf 'postgres://wxseal:%s@%s:5432/%s\n' "$pg_password" "$pg_host" "$db_name" | write wxseal-device-db
