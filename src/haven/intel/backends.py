"""Where `intel resolve` scores blocked record pairs: a backend object, as Splink's Linker
takes a database API.

The model is always trained in process on DuckDB (bounded: sampled pairs and two blocks);
a backend only scores every blocked pair from it. `DuckDBBackend` scores in the training
connection; `haven.intel.spark_backend.SparkBackend` scores on Spark from the same m/u values.
A new backend is one class with `name`, `open`, `score` and `close`, named in `_BACKENDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from haven.intel.errors import OperationError

#: Prediction columns the links are made of (besides the per-comparison `mw_*` weights).
PREDICTION_COLUMNS = ("record_id_l", "record_id_r", "match_weight", "match_probability")


@dataclass
class ScoringJob:
    """What a backend scores: the model as trained, the records, the threshold."""

    linker: Any  # the Splink Linker trained (or loaded) in process on DuckDB
    connection: Any  # its DuckDB connection (a backend may close it once done with it)
    normalised: pa.Table  # the normalised records
    settings: Callable[[], Any]  # the model as Splink settings with explicit m/u, for another engine
    threshold: float  # match weight at or above which a pair comes back
    stage: Callable[[str], None]  # tells the user what is running


class ScoringBackend(Protocol):
    """Scores the blocked pairs of a `ScoringJob` into an Arrow table of predictions."""

    name: str

    def open(self, stage: Callable[[str], None]) -> None:
        """Get ready to score (start an engine); called only when there is something to score."""
        ...

    def score(self, job: ScoringJob) -> pa.Table:
        """One row per blocked pair at or above the threshold: `PREDICTION_COLUMNS` and `mw_*`."""
        ...

    def close(self) -> None:
        """Release what `open` started."""
        ...


class DuckDBBackend:
    """Scores in process, in the DuckDB connection the model was trained in (the default)."""

    name = "duckdb"

    def __init__(self, **spark_options: Any):
        pass  # the Spark options a command line may pass (master, conf) mean nothing here

    def open(self, stage: Callable[[str], None]) -> None:
        pass

    def score(self, job: ScoringJob) -> pa.Table:
        job.stage("scoring blocked pairs")
        pred = job.linker.inference.predict(threshold_match_weight=job.threshold)
        # only what the links need: the prediction also holds both sides' values and every
        # gamma/bf column, which would double the peak memory as an Arrow copy at 400k rows
        con = job.connection
        cols = [c for c in con.sql(f"SELECT * FROM {pred.physical_name} LIMIT 0").columns
                if c.startswith("mw_") or c in PREDICTION_COLUMNS]
        arrow = con.sql(f"SELECT {', '.join(cols)} FROM {pred.physical_name}").to_arrow_table()
        con.close()
        return arrow

    def close(self) -> None:
        pass


# name -> "module:class"; imported when chosen, so DuckDB runs never import the Spark side.
_BACKENDS = {
    "duckdb": "haven.intel.backends:DuckDBBackend",
    "spark": "haven.intel.spark_backend:SparkBackend",
}
BACKENDS = tuple(_BACKENDS)


def backend_named(name: str, **options: Any) -> ScoringBackend:
    """The backend called `name`, built with `options` (Spark: master, conf, session)."""
    try:
        module, cls = _BACKENDS[name].split(":")
    except KeyError:
        raise OperationError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}") \
            from None
    return getattr(importlib.import_module(module), cls)(**options)
