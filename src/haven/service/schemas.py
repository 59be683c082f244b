"""Request bodies and path ids of the REST API and pages: strict shapes, so bad input is a
clear 422, never a 500.

Names (users, operations, hash sets) take a restricted alphabet; free text (notes,
descriptions) takes any printable text up to a length and is stored and returned verbatim
(JSON-escaped, never interpreted). Control characters other than tab and newlines are refused
everywhere: PostgreSQL cannot store NUL and nobody types the others. Counts are JSON integers
only (strict: `"1"`, `true` and `1.0` are refused, not read as 1). Object ids in paths are
bounded to a signed 32-bit integer, the range of every id column (`Integer`, int4 on
PostgreSQL): a larger number was a 500 (SQLite's OverflowError past 2^63, PostgreSQL's
"integer out of range" past 2^31).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt,
                      StringConstraints)


def _no_controls(value: str) -> str:
    if any((ord(c) < 32 and c not in "\t\r\n") or ord(c) == 127 for c in value):
        raise ValueError("control characters are not allowed")
    return value


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,199}$")]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
FreeText = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_no_controls)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024),
                     AfterValidator(_no_controls)]
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
ObjectId = Annotated[int, Path(ge=-(2**31), le=2**31 - 1)]
SUBJECT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$"
SubjectId = Annotated[str, StringConstraints(pattern=SUBJECT_ID)]
SubjectIdPath = Annotated[str, Path(pattern=SUBJECT_ID)]  # NUL in a path was a PostgreSQL 500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    username: Username
    password: Password


class UserIn(Strict):
    username: Username
    password: Annotated[str, StringConstraints(min_length=12, max_length=1024),
                        AfterValidator(_no_controls)]
    role: Literal["coordinator", "liaison", "analyst"]
    country: Country | None = None
    case: Name | None = None


class ApiKeyIn(Strict):
    name: Name


class OperationIn(Strict):
    name: Name
    description: FreeText = ""


class DisseminateIn(Strict):
    countries: list[Country] | None = Field(default=None, max_length=300)


class Counts(Strict):
    searches: Count = 0
    arrests: Count = 0
    cases_opened: Count = 0
    children_safeguarded: Count = 0
    material_seized: Count = 0


class SubjectOutcome(Counts):
    subject_id: SubjectId
    notes: FreeText = ""


class OutcomesIn(Strict):
    totals: Counts | None = None
    subjects: list[SubjectOutcome] = Field(default_factory=list, max_length=100_000)
    notes: FreeText = ""


class SignalIn(Strict):
    signal_type: Annotated[str, StringConstraints(max_length=20)]
    signal: Annotated[str, StringConstraints(max_length=200)]


class LookupIn(Strict):
    signals: list[SignalIn] = Field(min_length=1)


class UnlockIn(Strict):
    """One of: an account name (as people type it at login) or a source address."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=200),
                        AfterValidator(_no_controls)] | None = None
    address: Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f.:]{2,45}$")] | None = None


HashSetPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,199}$")]


class HashSetControlsIn(Strict):
    """A hash set's matching controls, set by its owner; only the fields given change.

    `pdq_threshold`: the set's own PDQ distance limit (0-63; null: the service's default).
    `negative`: the set lists known false positives. `suppresses`: the sets a negative set's
    matches remove from an answer (empty: every set). `feed`: where the set comes from.
    """

    pdq_threshold: Annotated[StrictInt, Field(ge=0, le=63)] | None = None
    negative: StrictBool | None = None
    suppresses: Annotated[list[Name], Field(max_length=100)] | None = None
    feed: Annotated[str, StringConstraints(max_length=200),
                    AfterValidator(_no_controls)] | None = None
