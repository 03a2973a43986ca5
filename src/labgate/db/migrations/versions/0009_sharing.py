"""sharing sessions: shares with users and groups, invitation links, who is connected
now, and the owner's leave for support staff to join

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("support_allowed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("help_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("help_message", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "share_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_session_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["app_session_id"], ["app_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_share_invitations_app_session_id", "share_invitations", ["app_session_id"])
    op.create_table(
        "shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_session_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["app_session_id"], ["app_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invitation_id"], ["share_invitations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_session_id", "user_id"),
        sa.UniqueConstraint("app_session_id", "group_id"),
    )
    op.create_index("ix_shares_app_session_id", "shares", ["app_session_id"])
    op.create_index("ix_shares_user_id", "shares", ["user_id"])
    op.create_index("ix_shares_group_id", "shares", ["group_id"])
    op.create_index("ix_shares_invitation_id", "shares", ["invitation_id"])
    op.create_table(
        "share_presence",
        sa.Column("app_session_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_session_id"], ["app_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("app_session_id", "user_id", "replica"),
    )
    op.create_index("ix_share_presence_seen_at", "share_presence", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_share_presence_seen_at", table_name="share_presence")
    op.drop_table("share_presence")
    op.drop_index("ix_shares_invitation_id", table_name="shares")
    op.drop_index("ix_shares_group_id", table_name="shares")
    op.drop_index("ix_shares_user_id", table_name="shares")
    op.drop_index("ix_shares_app_session_id", table_name="shares")
    op.drop_table("shares")
    op.drop_index("ix_share_invitations_app_session_id", table_name="share_invitations")
    op.drop_table("share_invitations")
    with op.batch_alter_table("app_sessions", schema=None) as batch_op:
        batch_op.drop_column("help_message")
        batch_op.drop_column("help_requested_at")
        batch_op.drop_column("support_allowed")
