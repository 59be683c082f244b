"""Fixtures for the referral tests (the hand-made operation lives in refer_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from refer_fixtures import write_operation


@pytest.fixture
def operation(tmp_path: Path) -> Path:
    return write_operation(tmp_path / "op")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """One build of the hand-made operation with JM on the no-legislation list."""
    from haven.refer.build import BuildOptions, build_packages

    base = tmp_path_factory.mktemp("built")
    op = write_operation(base / "op")
    out = base / "packages"
    build_packages(op, out, BuildOptions(no_legislation=frozenset({"JM"}),
                                         timestamp="2026-01-10T09:00:00Z", pdf=True))
    return op, out
