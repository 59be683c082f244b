"""Apache Spark plumbing shared by the scan engine and the resolver's Spark backend.

One place starts (or joins) a SparkContext or SparkSession the same way for both: local
masters bind to 127.0.0.1 with the web UI off and run executors on this interpreter; PySpark
and Java are checked first, and their absence is one clear `SparkUnavailable` error naming
scripts/spark-deps.sh. Nothing here imports PySpark until a context is asked for.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

from haven.errors import HavenError


class SparkUnavailable(HavenError):
    """PySpark or Java is missing; scripts/spark-deps.sh installs both."""


def is_local(master: str) -> bool:
    """True for `local`, `local[N]`, `local[*]`: executors on this machine."""
    return master.startswith("local")


def java_available() -> bool:
    """True when Spark can start a JVM; sets JAVA_HOME to Debian's JRE if only that is found."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    if shutil.which("java") is not None:
        return True
    for candidate in sorted(glob.glob("/usr/lib/jvm/java-*-openjdk-*"), reverse=True):
        if os.access(os.path.join(candidate, "bin", "java"), os.X_OK):
            os.environ["JAVA_HOME"] = candidate
            return True
    return False


def spark_context(master: str = "local[2]", app_name: str = "haven",
                  conf: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Start (or join) a SparkContext; local masters bind to 127.0.0.1 with the UI off."""
    try:
        from pyspark import SparkConf, SparkContext
    except ImportError as exc:
        raise SparkUnavailable(
            "Spark needs PySpark: pip install pyspark (scripts/spark-deps.sh)"
        ) from exc
    if not java_available():
        raise SparkUnavailable(
            "Spark needs Java 17: run scripts/spark-deps.sh or set JAVA_HOME"
        )
    sc_conf = SparkConf().setMaster(master).setAppName(app_name)
    sc_conf.set("spark.ui.enabled", "false")
    sc_conf.set("spark.ui.showConsoleProgress", "false")
    # One job's results (the scan's Analysis objects, a few hundred bytes each without vPDQ rows).
    sc_conf.set("spark.driver.maxResultSize", "1g")
    if is_local(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        sc_conf.set("spark.driver.host", "127.0.0.1")
        sc_conf.set("spark.driver.bindAddress", "127.0.0.1")
        # Executors run on this machine: their Python is ours, where haven is importable.
        # (PySpark reads the worker's interpreter from PYSPARK_PYTHON, not from the conf.)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in (conf or {}).items():
        sc_conf.set(key, value)
    sc = SparkContext.getOrCreate(sc_conf)
    sc.setLogLevel("ERROR")
    return sc


def spark_session(master: str = "local[2]", app_name: str = "haven",
                  conf: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Start (or join) a SparkSession on the context `spark_context` starts."""
    sc = spark_context(master, app_name=app_name, conf=conf)  # says so when PySpark is missing
    from pyspark.sql import SparkSession
    return SparkSession.getActiveSession() or SparkSession(sc)


def running() -> bool:
    """True when this process already has a SparkContext (then it is joined, not stopped)."""
    try:
        from pyspark import SparkContext
    except ImportError:
        return False
    return SparkContext._active_spark_context is not None
