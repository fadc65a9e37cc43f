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
    op.create_table(
        "recommendation_counts",
        sa.Column("hour", sa.BigInteger(), primary_key=True),
        sa.Column("placement", sa.String(64), primary_key=True),
        sa.Column("model_version", sa.String(64), primary_key=True),
        sa.Column("experiment", sa.String(128), primary_key=True),
        sa.Column("variant", sa.String(64), primary_key=True),
        sa.Column("impressions", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("views", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("add_to_carts", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("purchases", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("revenue", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_table(
        "impression_outcomes",
        sa.Column("recommendation_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(64), primary_key=True),
    )
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("attributed_id", sa.String(128)))
        batch.add_column(
            sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("events_attributed", ["attributed_id"])
    uncounted = sa.text("attributed_id IS NOT NULL AND NOT counted")
    op.create_index("events_uncounted", "events", ["timestamp"],
                    sqlite_where=uncounted, postgresql_where=uncounted)  # fmt: skip
    # events stored before this migration are credited to the id they carry
    op.execute(
        "UPDATE events SET attributed_id = recommendation_id WHERE recommendation_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("events_uncounted", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_index("events_attributed")
        batch.drop_column("counted")
        batch.drop_column("attributed_id")
    op.drop_table("impression_outcomes")
    op.drop_table("recommendation_counts")
    op.drop_table("impressions")
