"""What counts as claim history (issue 12, item 7): each claim id's state (its latest scrub and what
the billing system said: submitted, voided, replaced), the log of those changes, and on each history
line whether its claim counts; the member's lines by date in one index.

Existing claims get the status of their latest stored scrub: the lines of a claim whose latest scrub
failed stop counting. A claim whose scrubs were purged keeps counting (its status is not known).

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('claim_state',
    sa.Column('claim_id', sa.String(length=80), nullable=False),
    sa.Column('scrub_status', sa.String(length=4), nullable=True),
    sa.Column('scrub_id', sa.String(length=26), nullable=True),
    sa.Column('api_key_id', sa.String(length=40), nullable=True),
    sa.Column('submission', sa.String(length=10), nullable=True),
    sa.Column('replaced_by', sa.String(length=80), nullable=True),
    sa.Column('submission_date', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('claim_id')
    )

    op.create_table('claim_status_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claim_id', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('replaced_by', sa.String(length=80), nullable=True),
    sa.Column('status_date', sa.Date(), nullable=True),
    sa.Column('key_id', sa.String(length=40), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('scrub_id', sa.String(length=26), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('claim_status_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_status_change_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_claim_status_change_claim_id'), ['claim_id'], unique=False)

    with op.batch_alter_table('claim_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counts', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.drop_index(batch_op.f('ix_claim_line_member_hash'))
        batch_op.create_index('ix_claim_line_member_date', ['member_hash', 'service_date'], unique=False)

    # existing claims: the state of their latest stored scrub (scrub ids are ULIDs: in time order)
    scrub = sa.table('scrub', sa.column('scrub_id'), sa.column('claim_id'), sa.column('status'),
                     sa.column('api_key_id'), sa.column('created_at'))
    state = sa.table('claim_state', sa.column('claim_id'), sa.column('scrub_status'), sa.column('scrub_id'),
                     sa.column('api_key_id'), sa.column('updated_at'))
    line = sa.table('claim_line', sa.column('claim_id'), sa.column('counts'))
    newest = sa.select(sa.func.max(scrub.c.scrub_id)).where(scrub.c.claim_id.isnot(None)).group_by(scrub.c.claim_id)
    op.execute(state.insert().from_select(
        ['claim_id', 'scrub_status', 'scrub_id', 'api_key_id', 'updated_at'],
        sa.select(scrub.c.claim_id, scrub.c.status, scrub.c.scrub_id, scrub.c.api_key_id, scrub.c.created_at)
        .where(scrub.c.scrub_id.in_(newest))))
    failed = sa.select(state.c.claim_id).where(state.c.scrub_status == 'fail')
    op.execute(line.update().where(line.c.claim_id.in_(failed)).values(counts=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('claim_line', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_line_member_date')
        batch_op.create_index(batch_op.f('ix_claim_line_member_hash'), ['member_hash'], unique=False)
        batch_op.drop_column('counts')
    op.drop_table('claim_status_change')
    op.drop_table('claim_state')
