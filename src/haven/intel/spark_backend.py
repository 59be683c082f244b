"""Score blocked record pairs with Splink on Apache Spark (`haven intel resolve --backend spark`).

Only prediction runs here. The model (every comparison level's m and u, and the prior match
probability) is trained once, in process, by `haven.intel.resolve` with DuckDB, or read from
OPERATION_DIR/model.json; Spark gets it as explicit m/u values in the same Splink settings
(same comparisons, same blocking rules, same term-frequency adjustments). Random sampling for u
is backend-specific (DuckDB's and Spark's samplers pick different pairs for the same seed), so
training on each backend would give two models; predicting from one model gives the same match
weights on both, and the driver clusters them with the same guards (`haven.intel.cluster`).
Jaro-Winkler is computed as DuckDB computes it (`register_jaro_winkler`), not by Splink's jar.

The pairwise predictions come back to the driver as Arrow (one row per blocked pair at or
above the threshold, with each comparison's weight).
"""

from __future__ import annotations

import importlib.util
import logging
import uuid
from typing import Any

import pyarrow as pa

from haven.intel.backends import ScoringJob
from haven.spark import SparkUnavailable, is_local, running
from haven.spark import spark_session as _shared_session

#: Shuffle partitions for local masters (Spark's default of 200 is tuned for clusters; on two
#: cores every partition is a task with a fixed cost).
LOCAL_SHUFFLE_PARTITIONS = 8
# Columns of the normalised table Splink does not compare or block on.
_NOT_FOR_SPLINK = ("phone_explicit", "phone_valid", "ip_version",
                   "card_kind", "card_masked", "card_expiry", "card_hmac")


def spark_session(master: str = "local[2]", conf: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Start (or join) a SparkSession for scoring (`haven.spark`, plus Arrow transfer and,
    on local masters, few shuffle partitions)."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailable(
            "the Spark backend needs PySpark: pip install pyspark (scripts/spark-deps.sh)")
    _require_jellyfish()
    settings = {"spark.sql.execution.arrow.pyspark.enabled": "true"}
    if is_local(master):
        settings["spark.sql.shuffle.partitions"] = str(LOCAL_SHUFFLE_PARTITIONS)
    settings.update(conf or {})
    return _shared_session(master, app_name="haven-intel", conf=settings)


class SparkBackend:
    """Scores the blocked pairs on Spark (`--backend spark`) from the model trained in process.

    `session`: a SparkSession to use (left running); otherwise one is started on `master`
    with `conf` when scoring begins, and stopped at the end unless it was already running.
    """

    name = "spark"

    def __init__(self, master: str = "local[2]", conf: dict[str, str] | None = None,
                 session: Any = None):
        self.master, self.conf, self.session = master, conf, session
        self._own = False

    def open(self, stage) -> None:  # type: ignore[no-untyped-def]
        if self.session is not None:
            return
        stage(f"starting Spark ({self.master})")
        joined = running()
        self.session = spark_session(self.master, self.conf)
        self._own = not joined

    def score(self, job: ScoringJob) -> pa.Table:
        job.connection.close()  # the training tables are not needed: free their memory first
        job.stage("scoring blocked pairs (Spark)")
        return predict(job.normalised, job.settings(), job.threshold, self.session)

    def close(self) -> None:
        if self._own and self.session is not None:
            self.session.stop()
            self.session, self._own = None, False


def _require_jellyfish() -> None:
    if importlib.util.find_spec("jellyfish") is None:
        raise SparkUnavailable(
            "the Spark backend needs jellyfish for DuckDB-identical Jaro-Winkler: "
            "pip install jellyfish"
        )


def _jaro_winkler(a, b):  # type: ignore[no-untyped-def]
    """Vectorised Jaro-Winkler on two pandas Series of strings (None where either is null)."""
    import jellyfish
    import pandas as pd

    return pd.Series(
        [jellyfish.jaro_winkler_similarity(x, y) if isinstance(x, str) and isinstance(y, str)
         else None for x, y in zip(a, b)],
        dtype="float64",
    )


def register_jaro_winkler(spark) -> None:  # type: ignore[no-untyped-def]
    """Register `jaro_winkler` (the name Splink's Spark dialect calls) as DuckDB computes it.

    Splink's Scala jar scores some transpositions differently from DuckDB's
    `jaro_winkler_similarity` (measured: kosnyantin/kostyantin ≥ 0.92 on DuckDB, below on
    the jar), which moves pairs between comparison levels. jellyfish agreed with DuckDB on
    all 23,577 name pairs tried, so executors run it in an Arrow-vectorised UDF.
    """
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import DoubleType

    spark.udf.register("jaro_winkler", pandas_udf(_jaro_winkler, DoubleType()))


def predict(
    normalised: pa.Table,
    settings: Any,
    threshold: float,
    spark: Any,
) -> pa.Table:
    """Score the blocked pairs of `normalised` with `settings` (m/u fixed) on Spark → Arrow."""
    from splink import Linker
    from splink.backends.spark import SparkAPI

    logging.getLogger("splink").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    table = normalised.select([c for c in normalised.column_names if c not in _NOT_FOR_SPLINK])
    # Materialised once on the executors: otherwise the rows stay a local relation in the
    # driver's plan, copied into every query Splink builds (a 50,000-row list ran the 1 GB
    # default driver heap out of memory that way).
    df = _to_spark(spark, table).repartition(spark.sparkContext.defaultParallelism) \
        .localCheckpoint()
    # Intermediate tables are persisted (memory, spilling to the executors' local disks)
    # rather than written as parquet to a checkpoint directory on shared storage.
    db = SparkAPI(spark_session=spark, break_lineage_method="persist",
                  register_udfs_automatically=False)
    register_jaro_winkler(spark)
    name = f"haven_records_{uuid.uuid4().hex[:12]}"  # a session may resolve several operations
    try:
        linker = Linker(db.register(df, table_name=name), settings, log_level=None)
        pred = linker.inference.predict(threshold_match_weight=threshold)
        sdf = pred.as_spark_dataframe()
        keep = [c for c in sdf.columns
                if c in ("record_id_l", "record_id_r", "match_weight", "match_probability")
                or c.startswith("mw_")]
        return _to_arrow(sdf.select(*keep))
    finally:
        _drop_views(spark, name)


def _drop_views(spark, name: str) -> None:  # type: ignore[no-untyped-def]
    # Splink keeps its intermediate tables as persisted temporary views; a joined session
    # (a notebook, a test module) should not carry them into the next run.
    for table in spark.catalog.listTables():
        if table.isTemporary and (table.name == name or table.name.startswith("__splink__")):
            spark.catalog.uncacheTable(table.name)
            spark.catalog.dropTempView(table.name)


def _to_spark(spark, table: pa.Table):  # type: ignore[no-untyped-def]
    try:
        return spark.createDataFrame(table)  # PySpark 4 takes Arrow directly
    except (TypeError, ValueError):
        return spark.createDataFrame(table.to_pandas())


def _to_arrow(sdf) -> pa.Table:  # type: ignore[no-untyped-def]
    if hasattr(sdf, "toArrow"):  # PySpark 4
        return sdf.toArrow()
    return pa.Table.from_pandas(sdf.toPandas(), preserve_index=False)
