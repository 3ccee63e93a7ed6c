#!/usr/bin/env bash
# Installs what the tests cross-check against on the Java side: a JDK and Debian's Avro Java
# (libavro-java). Idempotent: does nothing when both are there.
set -euo pipefail
if command -v javac >/dev/null && [ -f /usr/share/java/avro.jar ]; then
    echo "setup-java: $(javac -version 2>&1), libavro-java $(dpkg-query -W -f='${Version}' libavro-java 2>/dev/null || echo '?')"
    exit 0
fi
echo "setup-java: installing a JDK and libavro-java" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless libavro-java >/dev/null
echo "setup-java: $(javac -version 2>&1), Avro Java installed"
