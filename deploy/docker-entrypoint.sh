#!/bin/sh
# Entrypoint of the wxseal gateway image: exports NAME from the file named by NAME__FILE, then
# runs the command it was given (exec, so the gateway is PID 1 and receives SIGTERM itself).
#
# Why: the gateway reads client secrets, server keys, master keys and the admin token from files,
# but takes the database and Redis URLs (which may carry a password) from environment variables
# (urlEnv). Orchestrators hand secrets over as files (compose `secrets:`, Kubernetes Secret
# volumes), so WXSEAL_DATABASE_URL__FILE=/run/secrets/wxseal-database-url exports
# WXSEAL_DATABASE_URL with that file's content. Two underscores: WXSEAL_DEVICE_MASTER_KEY_FILE
# already means "the ring is in this file" to the gateway and is left alone.
# Values are never printed; a missing or empty file stops the container with the variable's name.
set -eu

for file_var in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)__FILE=.*$/\1/p'); do
  eval "path=\${${file_var}__FILE}"
  if [ ! -r "$path" ]; then
    echo "wxseal-entrypoint: ${file_var}__FILE names $path, which cannot be read" >&2
    exit 2
  fi
  # $(...) drops the trailing newline an editor or `echo` leaves in a secret file.
  value=$(cat "$path")
  if [ -z "$value" ]; then
    echo "wxseal-entrypoint: $path (${file_var}__FILE) is empty" >&2
    exit 2
  fi
  export "$file_var=$value"
  unset "${file_var}__FILE"
done

exec "$@"
