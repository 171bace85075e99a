"""due rule and hub state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 05:27:54.382006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('hub_state',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('value', sa.String(length=400), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_hub_state'))
    )
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_rule', sa.String(length=20), nullable=False, server_default='explicit'))

    


def downgrade() -> None:
    
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.drop_column('due_rule')

    op.drop_table('hub_state')
    
