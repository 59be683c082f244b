"""The one authorisation layer: every route reaches subjects, packages, outcomes, cases and
hash lookups through these functions, never by querying the tables itself.

Two kinds of refusal:
- `Forbidden` (403) when the caller's role may never use the route; decided before any object
  is looked up, so the answer cannot depend on whether the object exists.
- `NotFound` (404) when the object is outside the caller's scope; identical to "absent", so a
  country liaison cannot learn that another country's package, subject or outcome exists.

Scope, by role:
- coordinator: every operation, package, subject, outcome and overlap; no case findings.
- liaison (one country): packages of that country once disseminated; their subjects and
  outcomes; overlaps of those subjects, naming the other country only.
- analyst (one case): that case's findings; nothing of operations.
- lookup (API key): the matching API only.
"""

from __future__ import annotations

from sqlalchemy import Select, and_, false, select, true
from sqlalchemy.orm import Session

from haven.service.accounts import Principal
from haven.service.errors import Forbidden, NotFound
from haven.service.models import Case, Operation, Package, Subject

COORDINATOR, LIAISON, ANALYST, LOOKUP = "coordinator", "liaison", "analyst", "lookup"


def require(p: Principal, *roles: str) -> None:
    """The caller's role is one of `roles`, or 403 (before any lookup)."""
    if p.role not in roles:
        raise Forbidden(f"a {p.role} may not use this route")


def package_scope(p: Principal):
    """SQL condition on `Package` selecting exactly what `p` may see."""
    if p.role == COORDINATOR:
        return true()
    if p.role == LIAISON and p.country:
        return and_(Package.country == p.country, Package.sent_at.is_not(None))
    return false()


def packages(p: Principal) -> Select:
    require(p, COORDINATOR, LIAISON)
    return select(Package).where(package_scope(p)).order_by(Package.id)


def package(s: Session, p: Principal, package_id: int) -> Package:
    require(p, COORDINATOR, LIAISON)
    row = s.scalar(select(Package).where(Package.id == package_id, package_scope(p)))
    if row is None:
        raise NotFound(f"no package {package_id}")
    return row


def subject(s: Session, p: Principal, pkg: Package, subject_id: str) -> Subject:
    """A subject of a package the caller already holds through `package()`."""
    row = s.scalar(select(Subject).where(Subject.package_id == pkg.id,
                                         Subject.subject_id == subject_id))
    if row is None:
        raise NotFound(f"no subject {subject_id} in package {pkg.id}")
    return row


def operation(s: Session, p: Principal, operation_id: int) -> Operation:
    require(p, COORDINATOR)
    row = s.get(Operation, operation_id)
    if row is None:
        raise NotFound(f"no operation {operation_id}")
    return row


def coordinator(p: Principal) -> None:
    require(p, COORDINATOR)


def liaison_of(p: Principal, pkg: Package) -> None:
    """Workflow steps only the receiving country takes (download happens for both)."""
    require(p, LIAISON)
    if pkg.country != p.country:  # unreachable through package(), kept as a second lock
        raise NotFound(f"no package {pkg.id}")


def case(s: Session, p: Principal, case_id: int) -> Case:
    require(p, ANALYST)
    row = s.get(Case, case_id)
    if row is None or row.id != p.case_id:
        raise NotFound(f"no case {case_id}")
    return row


def cases(p: Principal) -> Select:
    require(p, ANALYST, COORDINATOR)
    q = select(Case).order_by(Case.id)
    return q if p.role == COORDINATOR else q.where(Case.id == p.case_id)


def lookup(p: Principal) -> None:
    require(p, LOOKUP)


def user_pages(p: Principal) -> None:
    """Pages every signed-in person has (their own settings); not API keys."""
    require(p, COORDINATOR, LIAISON, ANALYST)


def in_case(row, what: str, ident) -> object:
    """An object of a case the caller already holds through `case()` (media, face, series):
    absent is 404, as for an object of another case."""
    if row is None:
        raise NotFound(f"no {what} {ident} in this case")
    return row
