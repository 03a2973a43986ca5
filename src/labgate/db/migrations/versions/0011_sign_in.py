"""institution sign-in: identities at sign-in providers (PAM, LDAP, OpenID Connect)
linked to accounts, the identity a login session began with, guest invitations, and
guests' accounts' end; why an account is disabled

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recheck_secret", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "subject"),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identities_user_id"), ["user_id"], unique=False)
    op.create_table(
        "guest_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    with op.batch_alter_table("guest_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_guest_invitations_expires_at"), ["expires_at"], unique=False
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("invitation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("disabled_reason", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_expires_at"), ["expires_at"], unique=False)
        batch_op.create_foreign_key(
            "fk_users_invitation_id_guest_invitations",
            "guest_invitations",
            ["invitation_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_login_sessions_identity_id"), ["identity_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_login_sessions_identity_id_identities",
            "identities",
            ["identity_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_login_sessions_identity_id_identities", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_login_sessions_identity_id"))
        batch_op.drop_column("identity_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("fk_users_invitation_id_guest_invitations", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_users_expires_at"))
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("invitation_id")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("guest_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guest_invitations_expires_at"))
    op.drop_table("guest_invitations")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities_user_id"))
    op.drop_table("identities")
