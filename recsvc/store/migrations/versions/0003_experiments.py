"""experiments between model versions

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("placement", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("variants", sa.Text(), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("stopped", sa.BigInteger()),
        sa.Column("promoted", sa.String(64)),
    )
    op.create_table(
        "experiment_shoppers",
        sa.Column("experiment", sa.String(128), primary_key=True),
        sa.Column("variant", sa.String(64), primary_key=True),
        sa.Column("shopper", sa.String(128), primary_key=True),
        sa.Column("impressions", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("views", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("add_to_carts", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("purchases", sa.BigInteger(), nullable=False, server_default="0"),
    )
    # at most one running experiment per placement, enforced by the database
    op.create_index("experiments_running", "experiments", ["placement"], unique=True,
                    sqlite_where=sa.text("stopped IS NULL"),
                    postgresql_where=sa.text("stopped IS NULL"))  # fmt: skip


def downgrade() -> None:
    op.drop_table("experiment_shoppers")
    op.drop_index("experiments_running", "experiments")
    op.drop_table("experiments")
