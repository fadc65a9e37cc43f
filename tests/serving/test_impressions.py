"""Recording served lists: buffered in memory, written in batches in the background."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from recsvc.serving.impressions import ImpressionRecorder
from recsvc.serving.recommender import Recommendations
from recsvc.store.database import connect, impressions, upgrade
from recsvc.store.impressions import ImpressionStore


def served(n: int = 0, placement: str = "home") -> Recommendations:
    items = [{"item_id": f"i{k}", "score": 1.0 - k / 10} for k in range(3)]
    return Recommendations(items=items, strategy="personalized",  # type: ignore[arg-type]
                           placement=placement, model_version="v1")  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'shop.db'}")
    yield engine
    engine.dispose()


def stored(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(impressions)).mappings()]


def test_lists_are_buffered_then_written_with_their_items_in_order(engine: sa.Engine) -> None:
    upgrade(engine)
    recorder = ImpressionRecorder(ImpressionStore(engine), clock=lambda: 1_800_000_000.7)
    first = served()
    recorder.record(first, user_id="u1", session_id="s1")
    recorder.record(served(placement="cart"), user_id=None, session_id="s2")
    assert stored(engine) == []
    assert recorder.buffered == 2
    assert recorder.flush() == 2
    rows = {r["recommendation_id"]: r for r in stored(engine)}
    row = rows[first.recommendation_id]
    assert (row["user_id"], row["session_id"], row["placement"], row["model_version"],
            row["strategy"], row["created"], row["variant"]) == (
        "u1", "s1", "home", "v1", "personalized", 1_800_000_000, None)  # fmt: skip
    assert row["items"] == '["i0", "i1", "i2"]'
    assert recorder.status()["written"] == 2
    assert recorder.buffered == 0


def test_a_dead_database_keeps_them_buffered_and_a_full_buffer_drops_new_ones(
    engine: sa.Engine,
) -> None:
    recorder = ImpressionRecorder(ImpressionStore(engine), capacity=3)
    for _ in range(5):
        recorder.record(served(), user_id="u1", session_id=None)
    assert (recorder.buffered, recorder.dropped) == (3, 2)
    with pytest.raises(sa.exc.OperationalError):  # no schema yet: the write fails
        recorder.flush()
    assert (recorder.buffered, recorder.written) == (3, 0)  # kept for the next attempt
    upgrade(engine)
    assert recorder.flush() == 3
    assert len(stored(engine)) == 3
    assert recorder.dropped == 2


def test_the_background_writer_and_the_sample_rate(engine: sa.Engine) -> None:
    upgrade(engine)
    recorder = ImpressionRecorder(ImpressionStore(engine), sample_rate=0.25, interval=0.05)
    recorder.start()
    lists = [served() for _ in range(2_000)]
    for result in lists:
        recorder.record(result, user_id="u", session_id=None)
    kept = [r.recommendation_id for r in lists if recorder.sampled(r.recommendation_id)]
    assert 400 < len(kept) < 600  # a quarter, chosen by id
    assert recorder.unsampled == 2_000 - len(kept)
    deadline = time.monotonic() + 60
    while len(stored(engine)) < len(kept) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(r["recommendation_id"] for r in stored(engine)) == sorted(kept)


def test_the_items_are_written_as_a_json_array_whatever_their_ids() -> None:
    import json

    from recsvc.serving.impressions import json_array

    for ids in [
        (),
        ("p1",),
        ("p1", "p 2", "é", "日本"),
        ('say "hi"', "back\\slash"),
        ("tab\there",),
    ]:
        assert json.loads(json_array(ids)) == list(ids)
    assert json_array(("p1", "p2")) == json.dumps(["p1", "p2"])
    assert json_array(("é",)) == '["é"]'  # joined directly (json.dumps writes \\u00e9)
