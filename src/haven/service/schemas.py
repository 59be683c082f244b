"""Request bodies of the REST API (pydantic): strict shapes, so bad input is a clear 422.

Names (users, operations, hash sets) take a restricted alphabet; free text (notes,
descriptions) takes any printable text up to a length and is stored and returned verbatim
(JSON-escaped, never interpreted). Control characters other than tab and newlines are refused
everywhere: PostgreSQL cannot store NUL and nobody types the others.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


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
Count = Annotated[int, Field(ge=0, le=1_000_000)]
SubjectId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")]


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
