"""The audit trail, findings for analytics, the claim-line history and API keys.

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 16:47:17.221685
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('key_id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('claim_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.String(length=80), nullable=False),
    sa.Column('scrub_id', sa.String(length=26), nullable=False),
    sa.Column('member_hash', sa.String(length=64), nullable=False),
    sa.Column('payer_id', sa.String(length=40), nullable=True),
    sa.Column('line_number', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('procedure_code', sa.String(length=40), nullable=False),
    sa.Column('modifiers', sa.Text(), nullable=False),
    sa.Column('units', sa.String(length=20), nullable=False),
    sa.Column('billing_npi', sa.String(length=40), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('claim_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_line_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_line_member_hash'), ['member_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_line_service_date'), ['service_date'], unique=False)

    op.create_table('scrub',
    sa.Column('scrub_id', sa.String(length=26), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claim_id', sa.String(length=80), nullable=True),
    sa.Column('payer_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=4), nullable=False),
    sa.Column('revision', sa.String(length=40), nullable=False),
    sa.Column('api_key_id', sa.String(length=40), nullable=True),
    sa.Column('finding_count', sa.Integer(), nullable=False),
    sa.Column('claim', sa.Text(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('scrub_id')
    )
    with op.batch_alter_table('scrub', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrub_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scrub_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scrub_payer_id'), ['payer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scrub_status'), ['status'], unique=False)

    op.create_table('finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scrub_id', sa.String(length=26), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payer_id', sa.String(length=40), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['scrub_id'], ['scrub.scrub_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_scrub_id'), ['scrub_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_scrub_id'))
        batch_op.drop_index(batch_op.f('ix_finding_rule_id'))
        batch_op.drop_index(batch_op.f('ix_finding_created_at'))
        batch_op.drop_index(batch_op.f('ix_finding_category'))

    op.drop_table('finding')
    with op.batch_alter_table('scrub', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrub_status'))
        batch_op.drop_index(batch_op.f('ix_scrub_payer_id'))
        batch_op.drop_index(batch_op.f('ix_scrub_created_at'))
        batch_op.drop_index(batch_op.f('ix_scrub_claim_id'))

    op.drop_table('scrub')
    with op.batch_alter_table('claim_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_line_service_date'))
        batch_op.drop_index(batch_op.f('ix_claim_line_member_hash'))
        batch_op.drop_index(batch_op.f('ix_claim_line_claim_id'))

    op.drop_table('claim_line')
    op.drop_table('api_key')
