"""Wellness: per-user blur/greyscale defaults for media views, and audited unblur grants.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('svc_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blur_media', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))
        batch_op.add_column(sa.Column('grey_media', sa.Boolean(), server_default=sa.true(),
                                      nullable=False))
    op.create_table('svc_unblur_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['svc_cases.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['svc_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_svc_unblur_grants_lookup', 'svc_unblur_grants',
                    ['session_hash', 'case_id', 'media_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_svc_unblur_grants_lookup', table_name='svc_unblur_grants')
    op.drop_table('svc_unblur_grants')
    with op.batch_alter_table('svc_users', schema=None) as batch_op:
        batch_op.drop_column('grey_media')
        batch_op.drop_column('blur_media')
