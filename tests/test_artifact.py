from __future__ import annotations

import json
import os
from pathlib import Path

import implicit.cpu.als
import numpy as np
import pytest

from recsvc.artifact import POINTER, Model, ModelStore, load_version, verify_version
from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.errors import CorruptVersion, ModelStoreError, NoCurrentVersion, UnknownVersion
from recsvc.pipeline import train
from recsvc.training.models import AlsModel, fit_als


@pytest.fixture
def store(tmp_path: Path, small_shop: tuple[Path, Path], fast_config: TrainingConfig) -> ModelStore:
    """A store with one published version."""
    store = ModelStore(tmp_path / "models")
    train(Files(*small_shop), config=fast_config, store=store)
    return store


def als_of(model: Model) -> AlsModel:
    """implicit's ALS over a loaded version's factors, as training would rank with them."""
    als = implicit.cpu.als.AlternatingLeastSquares(factors=model.item_factors.shape[1],
                                                   num_threads=1)  # fmt: skip
    als.user_factors, als.item_factors = model.user_factors, model.item_factors
    return AlsModel(als)


def publish_again(store: ModelStore) -> str:
    model = store.load()
    return store.publish(model)


def test_loaded_version_recommends_exactly_as_before_saving(
    tmp_path: Path, small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    store = ModelStore(tmp_path / "models")
    # the version's ALS from random factors (not the holdout's), as a refit here is
    config = fast_config.replace(als_warm_iterations=0)
    report = train(Files(*small_shop), config=config, store=store)
    loaded = store.load()
    assert loaded.version == report.version == store.current()
    # refit in memory with the same settings and seed, then compare with what was saved
    refit = fit_als(loaded.user_items.copy(), config)
    users = np.arange(len(loaded.users))
    before = refit.recommend(users, loaded.user_items[users], 10)
    after = als_of(loaded).recommend(users, loaded.user_items[users], 10)
    assert np.array_equal(before, after)
    assert np.array_equal(refit.item_factors, loaded.item_factors)


def test_arrays_are_memory_mapped_and_never_pickled(store: ModelStore) -> None:
    model = store.load()
    assert isinstance(model.item_factors, np.memmap)
    assert isinstance(model.items.ids, np.memmap)
    # nothing to run threads with is loaded: the manifest tells serving to use one
    assert model.manifest["serving"]["num_threads"] == 1
    folder = store.path(store.current() or "")
    for path in folder.glob("*.npy"):
        np.load(path, allow_pickle=False)  # raises for an object (pickled) array
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["serving"] == {"num_threads": 1, "blas_threads": 1}
    assert set(manifest) >= {"version", "created", "data_window", "counts", "parameters",
                             "metrics", "files"}  # fmt: skip
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())


def test_checksum_failure_names_the_file(store: ModelStore) -> None:
    folder = store.path(store.current() or "")
    target = folder / "item_factors.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # same size, one bit pattern changed
    target.write_bytes(bytes(data))
    with pytest.raises(CorruptVersion, match=r"item_factors\.npy fails its checksum"):
        store.load()


def test_missing_and_truncated_files_are_named(store: ModelStore) -> None:
    folder = store.path(store.current() or "")
    (folder / "user_ids.npy").unlink()
    with pytest.raises(CorruptVersion, match=r"user_ids\.npy is missing"):
        verify_version(folder)
    (folder / "user_ids.npy").write_bytes(b"")
    with pytest.raises(CorruptVersion, match=r"user_ids\.npy has 0 bytes"):
        load_version(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptVersion, match=r"manifest\.json: unreadable"):
        load_version(folder)


def test_crash_before_rename_leaves_no_version(
    store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = store.current()
    model = store.load()

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # the process dies between writing and renaming

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        store.publish(model)
    monkeypatch.undo()
    assert store.versions() == [current]
    assert store.current() == current
    assert not list(store.root.glob(".staging-*"))


def test_crash_before_pointer_switch_keeps_the_old_current(
    store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = store.current()
    model = store.load()
    real_replace = os.replace

    def crash(src: str, dst: str) -> None:
        if str(dst).endswith(POINTER):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.publish(model)
    monkeypatch.undo()
    assert store.current() == current  # readers still see the old version, whole
    assert len(store.versions()) == 2  # the new one is complete, and can be promoted
    store.load(current)


def test_leftover_staging_of_a_dead_process_is_ignored_then_cleaned(store: ModelStore) -> None:
    leftover = store.root / ".staging-20990101T000000Z-999999999"
    leftover.mkdir()
    (leftover / "item_factors.npy").write_bytes(b"half")
    assert ".staging" not in " ".join(store.versions())
    publish_again(store)
    assert not leftover.exists()


def test_a_corrupt_version_can_never_become_current(store: ModelStore) -> None:
    good = store.current()
    bad = store.publish(store.load(), promote=False)
    (store.path(bad) / "item_popularity.npy").write_bytes(b"garbage")
    with pytest.raises(CorruptVersion):
        store.promote(bad)
    assert store.current() == good


def test_promote_and_rollback(store: ModelStore) -> None:
    first = store.current()
    second = publish_again(store)
    third = publish_again(store)
    assert store.versions() == [first, second, third]
    assert store.current() == third
    assert store.rollback() == second
    assert store.rollback() == first
    with pytest.raises(ModelStoreError, match="no earlier version"):
        store.rollback()
    store.promote(third)
    assert store.current() == third
    assert store.rollback() == first  # back to what was current before the promote


def test_rollback_skips_a_corrupt_version(store: ModelStore) -> None:
    first = store.current()
    second = publish_again(store)
    publish_again(store)
    (store.path(second) / "item_ids.npy").unlink()
    assert store.rollback() == first


def test_empty_store_and_unknown_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "nothing")
    assert store.versions() == []
    assert store.current() is None
    with pytest.raises(NoCurrentVersion, match="recsvc train"):
        store.load()
    with pytest.raises(NoCurrentVersion):
        store.rollback()
    with pytest.raises(UnknownVersion, match="no version 'v9'"):
        store.promote("v9")
    with pytest.raises(UnknownVersion):
        store.path("../etc")


def test_unreadable_pointer_is_reported(store: ModelStore) -> None:
    (store.root / POINTER).write_text("[1, 2")
    with pytest.raises(ModelStoreError, match="CURRENT: unreadable"):
        store.current()


def test_a_version_from_before_next_items_loads_and_serves_without_them(
    store: ModelStore,
) -> None:
    from recsvc.artifact import MANIFEST
    from recsvc.serving.recommender import Recommender

    folder = store.path(store.current())
    manifest = json.loads((folder / MANIFEST).read_text())
    for name in [n for n in manifest["files"] if n.startswith("next_items_")]:
        (folder / name).unlink()
        del manifest["files"][name]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    model = load_version(folder)
    assert model.next_items.shape == (len(model.items), len(model.items))
    assert model.next_items.nnz == 0
    recommender = Recommender(model)
    assert recommender.taste.next_weight == 0
    assert recommender.recommend(recent_items=["p3"], n=5).strategy == "session"


def _replace_array(folder: Path, name: str, array: np.ndarray) -> None:
    """Swap an array for another and make the manifest agree (size and checksum), as a
    tampered or mis-built version would."""
    from recsvc.artifact.layout import sha256

    path = folder / f"{name}.npy"
    np.save(path, array, allow_pickle=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][path.name].update(sha256=sha256(path), bytes=path.stat().st_size)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("name", "change", "words"),
    [
        ("similar_items", lambda a: a[:-1], "similar_items.npy has shape"),
        ("item_factors", lambda a: a[:, :-1], "its factors is"),
        ("user_top_items", lambda a: a.astype(np.int64), "has dtype int64, expected int32"),
        ("user_items_indices", lambda a: a[:-1], "its user_items.nnz is"),
        ("item_available", lambda a: a.reshape(-1, 1), "has 2 dimensions"),
    ],
)
def test_an_array_of_the_wrong_shape_or_dtype_never_loads(
    store: ModelStore, name: str, change: object, words: str
) -> None:
    folder = store.path(store.current() or "")
    original = np.load(folder / f"{name}.npy")
    _replace_array(folder, name, change(original))  # type: ignore[operator]
    verify_version(folder)  # its checksum matches...
    with pytest.raises(CorruptVersion, match=words):  # ...but it is not what the model needs
        load_version(folder)


def test_every_array_written_is_described_once() -> None:
    from recsvc.artifact import ARRAYS

    names = [spec.name for spec in ARRAYS]
    assert len(names) == len(set(names))
    assert [spec.name for spec in ARRAYS if spec.optional] == [
        "next_items_indptr", "next_items_indices", "next_items_data"]  # fmt: skip


def test_promote_and_rollback_refuse_a_version_that_would_not_load(store: ModelStore) -> None:
    """A checksum edited to match a truncated array passes verify_version; promoting it
    (or rolling back to it) loads it fully, and refuses."""
    good = store.current() or ""
    bad = publish_again(store)
    store.promote(good)
    folder = store.path(bad)
    _replace_array(folder, "similar_items", np.load(folder / "similar_items.npy")[:-3])
    with pytest.raises(CorruptVersion, match=r"similar_items\.npy has shape"):
        store.promote(bad)
    assert store.current() == good


def test_an_index_outside_the_catalog_never_loads(store: ModelStore) -> None:
    folder = store.path(store.current() or "")
    top = np.load(folder / "user_top_items.npy")
    top[0, 0] = top.max() + 10_000
    _replace_array(folder, "user_top_items", top)
    with pytest.raises(CorruptVersion, match=r"user_top_items\.npy names items outside"):
        load_version(folder)
