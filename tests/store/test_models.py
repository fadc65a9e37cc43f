from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from recsvc.artifact import ModelStore
from recsvc.errors import CorruptVersion, NoCurrentVersion
from recsvc.store import models as db_models
from recsvc.store.database import connect, model_chunks
from recsvc.store.models import DatabaseModelStore, open_model_store


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[DatabaseModelStore]:
    engine = connect(db_url)
    yield DatabaseModelStore(engine, cache=tmp_path / "cache")
    engine.dispose()


def test_publish_and_load_give_the_same_model(
    store: DatabaseModelStore, trained_store: ModelStore, tmp_path: Path
) -> None:
    with pytest.raises(NoCurrentVersion):
        store.load()
    original = trained_store.load()
    version = store.publish(original)
    assert store.current() == version
    assert store.versions() == [version]
    # another process, with an empty cache: the version comes from the database
    other = DatabaseModelStore(store.engine, cache=tmp_path / "other-cache")
    loaded = other.load()
    assert loaded.version == version
    assert isinstance(loaded.item_factors, np.memmap)
    assert np.array_equal(loaded.item_factors, original.item_factors)
    assert np.array_equal(loaded.user_top_items, original.user_top_items)
    assert other.manifest()["files"] == store.manifest()["files"]


def test_a_corrupt_chunk_is_caught_and_never_made_current(
    store: DatabaseModelStore, trained_store: ModelStore, tmp_path: Path
) -> None:
    good = store.publish(trained_store.load())
    bad = store.publish(trained_store.load(), promote=False)
    with store.engine.begin() as conn:
        conn.execute(model_chunks.update()
                     .where(model_chunks.c.version == bad, model_chunks.c.name == "item_ids.npy")
                     .values(data=b"corrupt"))  # fmt: skip
    fresh = DatabaseModelStore(store.engine, cache=tmp_path / "fresh")
    with pytest.raises(CorruptVersion, match=r"item_ids\.npy"):
        fresh.promote(bad)
    assert fresh.current() == good


def test_a_crash_while_publishing_leaves_nothing(
    store: DatabaseModelStore, trained_store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = store.publish(trained_store.load())
    written = []

    def dying(path: Path) -> Iterator[bytes]:
        if written:
            raise KeyboardInterrupt  # the process dies in the middle of the files
        written.append(path)
        yield path.read_bytes()

    monkeypatch.setattr(db_models, "_chunks", dying)
    with pytest.raises(KeyboardInterrupt):
        store.publish(trained_store.load())
    assert store.versions() == [good]
    assert store.current() == good
    with store.engine.connect() as conn:
        versions = conn.execute(sa.select(model_chunks.c.version).distinct()).scalars().all()
    assert versions == [good]


def test_rollback_and_a_damaged_cache(store: DatabaseModelStore, trained_store: ModelStore) -> None:
    first = store.publish(trained_store.load())
    second = store.publish(trained_store.load())
    assert store.rollback() == first
    assert store.current() == first
    store.promote(second)
    (store.cache / second / "item_factors.npy").write_bytes(b"damaged")
    assert store.load().version == second  # fetched again, verified


def test_the_setting_picks_the_store(tmp_path: Path, db_url: str) -> None:
    assert isinstance(open_model_store(str(tmp_path / "models")), ModelStore)
    engine = connect(db_url)
    chosen = open_model_store("database", engine=engine)
    assert isinstance(chosen, DatabaseModelStore)
    assert "database" in chosen.location
    assert "password" not in chosen.location
    engine.dispose()


def test_the_cache_keeps_the_current_and_previous_versions(
    store: DatabaseModelStore, trained_store: ModelStore, tmp_path: Path
) -> None:
    model = trained_store.load()
    versions = [store.publish(model) for _ in range(4)]
    reader = DatabaseModelStore(store.engine, cache=tmp_path / "reader")
    for version in versions:  # a serving process following each publish
        reader.fetch(version)
    cached = sorted(p.name for p in reader.cache.iterdir() if not p.name.startswith("."))
    assert cached == versions[-2:]
