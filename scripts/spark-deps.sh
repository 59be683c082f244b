#!/bin/sh
# What the Spark scan engine (haven scan --engine spark) needs: a Java 17 runtime from Debian
# (only when no `java` is found) and PySpark from pip into the project's venv.
# Uses sudo when not root. Safe to run repeatedly.
#   scripts/spark-deps.sh            install what is missing
#   eval "$(scripts/spark-deps.sh --env)"   also export JAVA_HOME into this shell
set -eu

PYTHON="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"
PYSPARK_SPEC="${PYSPARK_SPEC:-pyspark>=3.5,<4.1}"
say() { echo "spark-deps: $*" >&2; }

java_bin() {
    if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
        echo "$JAVA_HOME/bin/java"
    elif command -v java >/dev/null 2>&1; then
        command -v java
    fi
}

if [ -z "$(java_bin)" ]; then
    "$(dirname "$0")/apt-install.sh" openjdk-17-jre-headless
else
    say "java present: $(java_bin)"
fi

JAVA="$(java_bin)"
if [ -z "$JAVA" ]; then
    # Installed but not on PATH (alternatives not set up): use the package's own directory.
    for d in /usr/lib/jvm/java-17-openjdk-*; do
        [ -x "$d/bin/java" ] && JAVA="$d/bin/java" && break
    done
fi
[ -n "$JAVA" ] || { say "java still not found after install"; exit 1; }
JAVA_HOME_FOUND="$(dirname "$(dirname "$(readlink -f "$JAVA")")")"

if "$PYTHON" -c "import pyspark" >/dev/null 2>&1; then
    say "pyspark present: $("$PYTHON" -c 'import pyspark; print(pyspark.__version__)')"
else
    say "installing $PYSPARK_SPEC into $PYTHON"
    "$PYTHON" -m pip install -q "$PYSPARK_SPEC" >&2
fi
# the intel Spark backend scores Jaro-Winkler with jellyfish in a pandas UDF (same values as DuckDB)
"$PYTHON" -c "import jellyfish, pandas" >/dev/null 2>&1 || "$PYTHON" -m pip install -q "jellyfish>=1.0" "pandas>=2.0" >&2

if [ "${1:-}" = "--env" ]; then
    echo "export JAVA_HOME='$JAVA_HOME_FOUND'"
else
    say "JAVA_HOME=$JAVA_HOME_FOUND (export it if java is not on PATH)"
fi
