"""requests for more time keep the hours given (an administrator may give another amount
than asked) and the administrator's answer to the user

Requests granted before keep their asked hours as the hours given.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("session_extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("granted_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("answer", sa.Text(), nullable=False, server_default=""))
    op.execute("UPDATE session_extensions SET granted_hours = hours WHERE state = 'granted'")


def downgrade() -> None:
    with op.batch_alter_table("session_extensions", schema=None) as batch_op:
        batch_op.drop_column("answer")
        batch_op.drop_column("granted_hours")
