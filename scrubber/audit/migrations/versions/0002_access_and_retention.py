"""Key expiry and revocation time, the claim-access log, shared service state (the rule set
revision every worker must run) and the per-day roll-ups that keep /v1/stats after a purge.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scrub', schema=None) as batch_op:  # a submitter lists only its own scrubs
        batch_op.create_index(batch_op.f('ix_scrub_api_key_id'), ['api_key_id'], unique=False)

    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('claim_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('scrub_id', sa.String(length=26), nullable=True),
    sa.Column('claim_id', sa.String(length=80), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('claim_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_access_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_access_key_id'), ['key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_access_scrub_id'), ['scrub_id'], unique=False)

    op.create_table('service_state',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )

    op.create_table('scrub_rollup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('payer_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=4), nullable=False),
    sa.Column('scrubs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scrub_rollup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrub_rollup_day'), ['day'], unique=False)

    op.create_table('finding_rollup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('payer_id', sa.String(length=40), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('findings', sa.Integer(), nullable=False),
    sa.Column('scrubs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('finding_rollup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_rollup_day'), ['day'], unique=False)


def downgrade() -> None:
    op.drop_table('finding_rollup')
    op.drop_table('scrub_rollup')
    op.drop_table('service_state')
    op.drop_table('claim_access')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('scrub', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrub_api_key_id'))
