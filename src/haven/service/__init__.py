"""`haven serve`: the coordination service and the matching API (issue 5).

Layers, outside in: `app` (FastAPI routes, thin) → `authz` (the one authorisation layer) →
domain modules (`workflow`, `deconflict`, `lookup`, `audit`, `accounts`) → `models` (SQLAlchemy
2, migrated by Alembic). The domain modules never import FastAPI, so they are tested alone.
"""
