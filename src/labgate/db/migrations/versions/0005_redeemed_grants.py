"""redeemed grants: an app origin's grant is taken once across all replicas

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redeemed_grants",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_redeemed_grants_expires_at", "redeemed_grants", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_redeemed_grants_expires_at", table_name="redeemed_grants")
    op.drop_table("redeemed_grants")
