"""SHA-512 signals: a column for them in the service's hash-set entries (haven.signals.types.sha512).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('svc_hash_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sha512', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('svc_hash_entries', schema=None) as batch_op:
        batch_op.drop_column('sha512')
