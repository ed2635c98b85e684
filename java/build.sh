#!/bin/sh
# Builds the wxseal Java library, its examples and its tests with the JDK alone (javac --release 17,
# jar). The only dependency is Debian's Jakarta Servlet 5 API jar (package libjakarta-servlet-api-java).
#
#   java/build.sh            -> java/build/wxseal.jar, java/build/examples.jar, java/build/tests.jar
#
# Run the tests:   java/test.sh   (from anywhere)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
servlet=${SERVLET_API_JAR:-/usr/share/java/jakarta-servlet-api.jar}
[ -f "$servlet" ] || { echo "missing $servlet (apt-get install libjakarta-servlet-api-java)" >&2; exit 1; }
out="$here/build"
rm -rf "$out/classes" "$out/examples-classes" "$out/test-classes"
mkdir -p "$out/classes" "$out/examples-classes" "$out/test-classes"

javac --release 17 -Xlint:all -Werror -encoding UTF-8 -cp "$servlet" -d "$out/classes" $(find "$here/src" -name '*.java' | sort)
jar --create --file "$out/wxseal.jar" -C "$out/classes" .

javac --release 17 -Xlint:all -Werror -encoding UTF-8 -cp "$out/wxseal.jar:$servlet" -d "$out/examples-classes" \
  $(find "$here/examples" -name '*.java' | sort)
jar --create --file "$out/examples.jar" -C "$out/examples-classes" .

javac --release 17 -Xlint:all -Werror -encoding UTF-8 -cp "$out/wxseal.jar:$out/examples.jar:$servlet" -d "$out/test-classes" \
  $(find "$here/test" -name '*.java' | sort)
jar --create --file "$out/tests.jar" -C "$out/test-classes" .
echo "built $out/wxseal.jar $out/examples.jar $out/tests.jar"
