#!/bin/sh
# Builds (build.sh) and runs the Java test runner: every case of the vector files the library covers,
# RFC 9180 A.1.1, the SM suite (sm.json, OpenSSL cross-checks live in tests/e2e), and the unit tests (RedisNonceStore needs the Redis at 127.0.0.1:6379, or --redis host:port;
# without it the run FAILS). Exit status 0 only when everything passed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/build.sh" >/dev/null
servlet=${SERVLET_API_JAR:-/usr/share/java/jakarta-servlet-api.jar}
bcprov=${BCPROV_JAR:-/usr/share/java/bcprov.jar}
[ -f "$bcprov" ] || { echo "missing $bcprov: Bouncy Castle, for the SM suite (apt-get install libbcprov-java, or set BCPROV_JAR)" >&2; exit 1; }
exec java -cp "$here/build/wxseal.jar:$here/build/examples.jar:$here/build/tests.jar:$servlet:$bcprov" \
  dev.wxseal.test.TestRunner "$here/../spec/vectors" "$@"
