"""impressions, and the served list each event is credited to

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "impressions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("recommendation_id", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(128)),
        sa.Column("session_id", sa.String(128)),
        sa.Column("placement", sa.String(64), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("experiment", sa.String(128)),
        sa.Column("variant", sa.String(64)),
        sa.Column("items", sa.Text(), nullable=False),
    )
    op.create_index("impressions_created", "impressions", ["created"])
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("attributed_id", sa.String(128)))
        batch.create_index("events_attributed", ["attributed_id"])
    # events stored before this migration are credited to the id they carry
    op.execute(
        "UPDATE events SET attributed_id = recommendation_id WHERE recommendation_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("events_attributed")
        batch.drop_column("attributed_id")
    op.drop_index("impressions_created", "impressions")
    op.drop_table("impressions")
