"""Hash-set entry ids are never handed out twice on SQLite (AUTOINCREMENT).

Without it SQLite gives a new row the id of a deleted top row, and a serving library that
applies changes in place must then rebuild (haven.service.lookup). PostgreSQL sequences never
reuse ids: nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("svc_hash_entries", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
