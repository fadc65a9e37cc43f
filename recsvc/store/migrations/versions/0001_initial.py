"""the schema before migrations: events, catalog, model store

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), unique=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("session_id", sa.String(128)),
        sa.Column("recommendation_id", sa.String(128)),
    )
    op.create_index("events_user_time", "events", ["user_id", "timestamp"])
    op.create_index("events_time", "events", ["timestamp"])
    op.create_table(
        "items",
        sa.Column("item_id", sa.String(128), primary_key=True),
        sa.Column("title", sa.String(512)),
        sa.Column("category", sa.String(256)),
        sa.Column("price", sa.Float()),
        sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "item_changes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(128), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("manifest", sa.Text(), nullable=False),
    )
    op.create_table(
        "model_chunks",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "model_pointer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("history", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "model_pointer",
        "model_chunks",
        "model_versions",
        "item_changes",
        "items",
        "events",
    ):
        op.drop_table(table)
