"""work tags: the installation's and each user's never-reused names for their work on
resources (processes, terminals, apps were tagged with the reusable numeric user id)

Existing users keep their old tag (``user:<id>``) as an alias, so that what they started
before the upgrade stays theirs; new users never get one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    installation = op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        installation, [{"id": 1, "tag": secrets.token_hex(8), "created_at": datetime.now(UTC)}]
    )
    # Added in place (no batch copy of the users table: on SQLite that would drop the
    # table its sessions, keys and memberships refer to); the default only fills the
    # column until each user gets a tag of their own just below.
    op.add_column(
        "users",
        sa.Column("work_tag", sa.String(length=32), nullable=False, server_default=""),
    )
    op.add_column("users", sa.Column("legacy_work_tag", sa.String(length=32), nullable=True))
    bind = op.get_bind()
    for (user_id,) in bind.execute(sa.text("SELECT id FROM users")).all():
        bind.execute(
            sa.text("UPDATE users SET work_tag = :tag, legacy_work_tag = :legacy WHERE id = :id"),
            {"tag": secrets.token_hex(8), "legacy": f"user:{user_id}", "id": user_id},
        )
    op.create_index("ix_users_work_tag", "users", ["work_tag"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_users_work_tag", table_name="users")
    op.drop_column("users", "legacy_work_tag")
    op.drop_column("users", "work_tag")
    op.drop_table("installation")
