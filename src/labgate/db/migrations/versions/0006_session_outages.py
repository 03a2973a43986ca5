"""sessions remember since when their scheduler does not answer, and how a stop ends

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unknown_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("final_state", sa.String(length=16), nullable=False, server_default="stopped")
        )


def downgrade() -> None:
    with op.batch_alter_table("app_sessions", schema=None) as batch_op:
        batch_op.drop_column("final_state")
        batch_op.drop_column("unknown_since")
