"""Initial service schema: accounts, operations, packages, subjects, outcomes, audit, hash sets.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('svc_api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    op.create_table('svc_audit',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('prev_hash')
    )
    op.create_table('svc_audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The chain starts at a fixed genesis hash; appends update this one row.
    op.bulk_insert(sa.table('svc_audit_head', sa.column('id', sa.Integer),
                            sa.column('seq', sa.Integer), sa.column('last_hash', sa.String)),
                   [{'id': 1, 'seq': 0, 'last_hash': '0' * 64}])
    op.create_table('svc_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('directory', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('svc_hashsets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('scheme', sa.String(length=40), nullable=True),
    sa.Column('known_good', sa.Boolean(), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=True),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('svc_hash_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hashset_id', sa.Integer(), nullable=False),
    sa.Column('md5', sa.String(length=32), nullable=True),
    sa.Column('sha1', sa.String(length=40), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('pdq', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=60), nullable=True),
    sa.Column('source_id', sa.String(length=200), nullable=True),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hashset_id'], ['svc_hashsets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('svc_hash_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_svc_hash_entries_hashset_id'), ['hashset_id'], unique=False)
        batch_op.create_index('ix_svc_hash_entries_source', ['hashset_id', 'source_id'], unique=False)

    op.create_table('svc_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['svc_cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('svc_operations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['svc_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('svc_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['svc_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('svc_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_svc_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('svc_packages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operation_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('storage', sa.Text(), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('signer_key_id', sa.String(length=80), nullable=True),
    sa.Column('subject_count', sa.Integer(), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('has_archive', sa.Boolean(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('downloaded_at', sa.DateTime(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('outcomes_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['operation_id'], ['svc_operations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('operation_id', 'country')
    )
    with op.batch_alter_table('svc_packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_svc_packages_country'), ['country'], unique=False)
        batch_op.create_index('ix_svc_packages_op_country', ['operation_id', 'country'], unique=False)
        batch_op.create_index(batch_op.f('ix_svc_packages_operation_id'), ['operation_id'], unique=False)

    op.create_table('svc_subjects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.String(length=80), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('confidence', sa.Double(), nullable=True),
    sa.Column('names', sa.JSON(), nullable=False),
    sa.Column('shared_with', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['svc_packages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('package_id', 'subject_id')
    )
    with op.batch_alter_table('svc_subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_svc_subjects_package_id'), ['package_id'], unique=False)

    op.create_table('svc_identifiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_row_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['subject_row_id'], ['svc_subjects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('svc_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_svc_identifiers_digest'), ['digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_svc_identifiers_subject_row_id'), ['subject_row_id'], unique=False)

    op.create_table('svc_outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('subject_row_id', sa.Integer(), nullable=True),
    sa.Column('searches', sa.Integer(), nullable=False),
    sa.Column('arrests', sa.Integer(), nullable=False),
    sa.Column('cases_opened', sa.Integer(), nullable=False),
    sa.Column('children_safeguarded', sa.Integer(), nullable=False),
    sa.Column('material_seized', sa.Integer(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=False),
    sa.Column('reported_by', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['package_id'], ['svc_packages.id'], ),
    sa.ForeignKeyConstraint(['reported_by'], ['svc_users.id'], ),
    sa.ForeignKeyConstraint(['subject_row_id'], ['svc_subjects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('svc_outcomes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_svc_outcomes_package_id'), ['package_id'], unique=False)

    op.create_table('svc_overlaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_a', sa.Integer(), nullable=False),
    sa.Column('country_a', sa.String(length=2), nullable=False),
    sa.Column('subject_b', sa.Integer(), nullable=False),
    sa.Column('country_b', sa.String(length=2), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('found_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_a'], ['svc_subjects.id'], ),
    sa.ForeignKeyConstraint(['subject_b'], ['svc_subjects.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subject_a', 'subject_b', 'kind')
    )
    with op.batch_alter_table('svc_overlaps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_svc_overlaps_subject_a'), ['subject_a'], unique=False)
        batch_op.create_index(batch_op.f('ix_svc_overlaps_subject_b'), ['subject_b'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('svc_overlaps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_svc_overlaps_subject_b'))
        batch_op.drop_index(batch_op.f('ix_svc_overlaps_subject_a'))

    op.drop_table('svc_overlaps')
    with op.batch_alter_table('svc_outcomes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_svc_outcomes_package_id'))

    op.drop_table('svc_outcomes')
    with op.batch_alter_table('svc_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_svc_identifiers_subject_row_id'))
        batch_op.drop_index(batch_op.f('ix_svc_identifiers_digest'))

    op.drop_table('svc_identifiers')
    with op.batch_alter_table('svc_subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_svc_subjects_package_id'))

    op.drop_table('svc_subjects')
    with op.batch_alter_table('svc_packages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_svc_packages_operation_id'))
        batch_op.drop_index('ix_svc_packages_op_country')
        batch_op.drop_index(batch_op.f('ix_svc_packages_country'))

    op.drop_table('svc_packages')
    with op.batch_alter_table('svc_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_svc_sessions_user_id'))

    op.drop_table('svc_sessions')
    op.drop_table('svc_operations')
    op.drop_table('svc_users')
    with op.batch_alter_table('svc_hash_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_svc_hash_entries_source')
        batch_op.drop_index(batch_op.f('ix_svc_hash_entries_hashset_id'))

    op.drop_table('svc_hash_entries')
    op.drop_table('svc_hashsets')
    op.drop_table('svc_cases')
    op.drop_table('svc_audit_head')
    op.drop_table('svc_audit')
    op.drop_table('svc_api_keys')
