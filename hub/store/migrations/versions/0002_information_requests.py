"""information requests: agencies, requests, links, answers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 05:22:54.150596
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('agencies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('emails', sa.JSON(), nullable=False),
    sa.Column('shares_systems', sa.Boolean(), nullable=False),
    sa.Column('response_hours', sa.Integer(), nullable=False),
    sa.Column('box_public_key', sa.String(length=100), nullable=True),
    sa.Column('verify_key', sa.String(length=100), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agencies')),
    sa.UniqueConstraint('slug', name=op.f('uq_agencies_slug'))
    )
    op.create_table('info_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ref', sa.String(length=40), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('urgency', sa.String(length=20), nullable=False),
    sa.Column('template', sa.String(length=80), nullable=True),
    sa.Column('lawful_basis', sa.String(length=400), nullable=False),
    sa.Column('requested_by', sa.String(length=320), nullable=False),
    sa.Column('authorised_by', sa.String(length=320), nullable=False),
    sa.Column('document_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('signature_kid', sa.String(length=40), nullable=False),
    sa.Column('signature_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_action_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_info_requests_agency_id_agencies')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_info_requests_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_info_requests')),
    sa.UniqueConstraint('ref', name=op.f('uq_info_requests_ref'))
    )
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.create_index('ix_info_requests_case', ['case_id'], unique=False)
        batch_op.create_index('ix_info_requests_next_action', ['next_action_at'], unique=False)

    op.create_table('answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dedupe_key', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('receipt_digest', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['info_requests.id'], name=op.f('fk_answers_request_id_info_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answers')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_answers_dedupe_key'))
    )
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answers_request_id'), ['request_id'], unique=False)

    op.create_table('request_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('code_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_tries', sa.Integer(), nullable=False),
    sa.Column('codes_sent', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['info_requests.id'], name=op.f('fk_request_links_request_id_info_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_request_links_token_hash'))
    )
    with op.batch_alter_table('request_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_links_request_id'), ['request_id'], unique=False)

    op.create_table('unmatched_replies',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('inbound_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound_messages.id'], name=op.f('fk_unmatched_replies_inbound_id_inbound_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unmatched_replies')),
    sa.UniqueConstraint('inbound_id', name=op.f('uq_unmatched_replies_inbound_id'))
    )
    


def downgrade() -> None:
    
    op.drop_table('unmatched_replies')
    with op.batch_alter_table('request_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_links_request_id'))

    op.drop_table('request_links')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answers_request_id'))

    op.drop_table('answers')
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_info_requests_next_action')
        batch_op.drop_index('ix_info_requests_case')

    op.drop_table('info_requests')
    op.drop_table('agencies')
    
