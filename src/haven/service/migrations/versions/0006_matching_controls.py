"""Matching controls and key revocation: hash-set owner, PDQ threshold, negative sets and
what they suppress, feed; entry series; entry flags (feedback counts, quarantine) and votes;
when an API key was revoked.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('svc_api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('svc_hashsets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('pdq_threshold', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('negative', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('suppresses', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('feed', sa.String(length=200), nullable=True))
    with op.batch_alter_table('svc_hash_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series', sa.String(length=200), nullable=True))
    op.create_table('svc_entry_flags',
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('confirms', sa.Integer(), nullable=False),
    sa.Column('deconfirms', sa.Integer(), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('released_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['svc_hash_entries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id')
    )
    op.create_table('svc_entry_votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('verdict', sa.String(length=10), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['svc_hash_entries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entry_id', 'party')
    )


def downgrade() -> None:
    op.drop_table('svc_entry_votes')
    op.drop_table('svc_entry_flags')
    with op.batch_alter_table('svc_hash_entries', schema=None) as batch_op:
        batch_op.drop_column('series')
    with op.batch_alter_table('svc_hashsets', schema=None) as batch_op:
        batch_op.drop_column('feed')
        batch_op.drop_column('suppresses')
        batch_op.drop_column('negative')
        batch_op.drop_column('pdq_threshold')
        batch_op.drop_column('owner')
    with op.batch_alter_table('svc_api_keys', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
