"""The JSON API, one router per resource; `include(app)` mounts them all.

Routes live under `/api/v1`, plus HMA's shapes (`/m/…`, `/h/…`) and the health probes.
Every route is thin: it checks the caller with `authz`, calls a domain function
(`workflow`, `lookup`, `audit`, …), records an audit entry and answers JSON.
"""

from __future__ import annotations

from fastapi import FastAPI

from haven.service.api import (accounts, audit, cases, deconfliction, health, hma, lookup,
                               operations, outcomes, packages)

ROUTERS = (health, accounts, cases, operations, deconfliction, packages, outcomes, lookup, hma,
           audit)


def include(app: FastAPI) -> None:
    """Mount every API router on `app`."""
    for module in ROUTERS:
        app.include_router(module.router)
