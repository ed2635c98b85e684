#!/bin/sh
# Builds the wxseal Java library, its examples and its tests with the JDK (javac --release 17, jar).
# Dependencies: Debian's Jakarta Servlet 5 API jar (package libjakarta-servlet-api-java; override with
# SERVLET_API_JAR) and Bouncy Castle's bcprov for the SM suite of SPEC 6.6 (package libbcprov-java;
# override with BCPROV_JAR). bcprov is needed to build; at run time only when an SM2 key is used.
#
#   java/build.sh            -> java/build/wxseal.jar, java/build/examples.jar, java/build/tests.jar
#
# Run the tests:   java/test.sh   (from anywhere)
# -Xlint:-path: Debian's bcprov.jar manifest names jars (javax.mail, jakarta-activation) that need not exist.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
servlet=${SERVLET_API_JAR:-/usr/share/java/jakarta-servlet-api.jar}
[ -f "$servlet" ] || { echo "missing $servlet (apt-get install libjakarta-servlet-api-java)" >&2; exit 1; }
bcprov=${BCPROV_JAR:-/usr/share/java/bcprov.jar}
[ -f "$bcprov" ] || { echo "missing $bcprov: Bouncy Castle, for the SM suite (apt-get install libbcprov-java, or set BCPROV_JAR)" >&2; exit 1; }
out="$here/build"
rm -rf "$out/classes" "$out/examples-classes" "$out/test-classes"
mkdir -p "$out/classes" "$out/examples-classes" "$out/test-classes"

javac --release 17 -Xlint:all,-path -Werror -encoding UTF-8 -cp "$servlet:$bcprov" -d "$out/classes" $(find "$here/src" -name '*.java' | sort)
jar --create --file "$out/wxseal.jar" -C "$out/classes" .

javac --release 17 -Xlint:all,-path -Werror -encoding UTF-8 -cp "$out/wxseal.jar:$servlet:$bcprov" -d "$out/examples-classes" \
  $(find "$here/examples" -name '*.java' | sort)
jar --create --file "$out/examples.jar" -C "$out/examples-classes" .

javac --release 17 -Xlint:all,-path -Werror -encoding UTF-8 -cp "$out/wxseal.jar:$out/examples.jar:$servlet:$bcprov" -d "$out/test-classes" \
  $(find "$here/test" -name '*.java' | sort)
jar --create --file "$out/tests.jar" -C "$out/test-classes" .
echo "built $out/wxseal.jar $out/examples.jar $out/tests.jar"
