"""Model versions on disk: write, verify, publish atomically, list, promote, roll back, load.

A version is a folder ``<store>/<version>/`` of plain ``.npy`` arrays (loaded with
``mmap_mode="r"`` so gunicorn workers share the pages, never with pickle) and a
``manifest.json`` (version, created, data window, counts, parameters, metrics,
and a SHA-256 checksum per file). ``<store>/CURRENT`` names the version being
served and the ones before it, for rollback.

Publishing writes the folder under a hidden staging name, fsyncs every file,
renames it into place, verifies it, and only then switches ``CURRENT`` (itself
replaced atomically). A crash at any point leaves either the old current version
or the new one, never half of one; leftover staging folders are ignored and
cleaned up by the next publish.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from .data.catalog import Catalog
from .errors import CorruptVersion, ModelStoreError, NoCurrentVersion, UnknownVersion
from .processes import alive
from .training.matrix import IdMap
from .training.models import AlsModel, BoughtTogetherModel

FORMAT = 2
MANIFEST = "manifest.json"
POINTER = "CURRENT"
STAGING_PREFIX = ".staging-"
_CHUNK = 1 << 20


@dataclass(frozen=True, eq=False)
class Model:
    """Everything one model version holds, in memory or memory-mapped from disk.

    Rows of the user matrices follow ``users``; columns and every per-item array
    follow ``items``.
    """

    users: IdMap
    items: IdMap
    als: AlsModel
    #: weighted training interactions (user x item)
    user_items: sp.csr_matrix
    #: what each user bought (user x item, 1 where bought)
    purchased: sp.csr_matrix
    bought_together: BoughtTogetherModel
    #: what users touched after each item (item x item, rows summing to 1; empty when
    #: the next-items model is off, or in versions written before it existed)
    next_items: sp.csr_matrix
    #: summed event weight per item: the popularity ranking
    popularity: np.ndarray
    #: each user's best untouched items by ALS score, best first (user x K, -1 padded)
    user_top_items: np.ndarray
    user_top_scores: np.ndarray
    #: each item's nearest items by cosine of ALS factors (item x K, -1 padded)
    similar_items: np.ndarray
    similar_scores: np.ndarray
    catalog: Catalog
    manifest: Mapping[str, Any]

    @property
    def version(self) -> str:
        """The version name, e.g. ``20261125T173400Z``."""
        return str(self.manifest["version"])


def model_arrays(model: Model) -> dict[str, np.ndarray]:
    """The arrays a version folder holds, by file name (without ``.npy``)."""
    arrays = {
        "user_ids": model.users.ids,
        "item_ids": model.items.ids,
        "user_factors": np.ascontiguousarray(model.als.user_factors, dtype=np.float32),
        "item_factors": np.ascontiguousarray(model.als.item_factors, dtype=np.float32),
        "item_popularity": model.popularity.astype(np.float32),
        "user_top_items": model.user_top_items.astype(np.int32),
        "user_top_scores": model.user_top_scores.astype(np.float32),
        "similar_items": model.similar_items.astype(np.int32),
        "similar_scores": model.similar_scores.astype(np.float32),
        "item_title": model.catalog.title,
        "item_category": model.catalog.category,
        "item_price": model.catalog.price.astype(np.float64),
        "item_available": model.catalog.available.astype(bool),
    }
    for name, matrix in (
        ("user_items", model.user_items),
        ("purchased", model.purchased),
        ("bought_together", model.bought_together.similarity),
        ("next_items", model.next_items),
    ):
        arrays[f"{name}_indptr"] = matrix.indptr.astype(np.int64)
        arrays[f"{name}_indices"] = matrix.indices.astype(np.int32)
        arrays[f"{name}_data"] = matrix.data.astype(np.float32)
    return arrays


def write_version(model: Model, folder: Path) -> dict[str, Any]:
    """Write a model into a new folder, every file fsynced; returns the manifest written."""
    folder.mkdir(parents=True)
    files = {}
    for name, array in model_arrays(model).items():
        path = folder / f"{name}.npy"
        with path.open("wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        files[path.name] = {
            "sha256": _sha256(path),
            "bytes": path.stat().st_size,
            "dtype": str(array.dtype),
            "shape": list(array.shape),
        }
    manifest = dict(model.manifest, format=FORMAT, files=files)
    path = folder / MANIFEST
    with path.open("w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(folder)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a version folder; :class:`CorruptVersion` if missing or unreadable."""
    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorruptVersion(f"{folder}: no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise CorruptVersion(f"{path}: unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise CorruptVersion(f"{path}: not a recsvc manifest (no 'files')")
    if manifest.get("format") != FORMAT:
        raise CorruptVersion(
            f"{path}: artifact format {manifest.get('format')!r}, this recsvc reads {FORMAT}"
        )
    return manifest


def verify_version(folder: Path) -> dict[str, Any]:
    """Check every file against the manifest's sizes and checksums; returns the manifest.

    Raises :class:`CorruptVersion` naming the first file that is missing, the wrong
    size, or fails its checksum.
    """
    manifest = read_manifest(folder)
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise CorruptVersion(f"{folder.name}: {name} is missing")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise CorruptVersion(
                f"{folder.name}: {name} has {size} bytes, the manifest says {expected['bytes']}"
            )
        digest = _sha256(path)
        if digest != expected["sha256"]:
            raise CorruptVersion(
                f"{folder.name}: {name} fails its checksum"
                f" (sha256 {digest[:12]}…, the manifest says {expected['sha256'][:12]}…)"
            )
    return manifest


def load_version(folder: Path, *, verify: bool = True) -> Model:
    """Load a version folder, memory-mapped; verified against its manifest first by default."""
    manifest = verify_version(folder) if verify else read_manifest(folder)
    arrays: dict[str, np.ndarray] = {}
    for name in manifest["files"]:
        if name.endswith(".npy"):
            try:
                arrays[name[:-4]] = np.load(folder / name, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise CorruptVersion(f"{folder.name}: {name} is unreadable: {exc}") from exc
    try:
        users, items = IdMap(arrays["user_ids"]), IdMap(arrays["item_ids"])
        shape = (len(users), len(items))
        return Model(
            users=users,
            items=items,
            als=AlsModel(
                arrays["user_factors"],
                arrays["item_factors"],
                regularization=float(manifest["parameters"]["als_regularization"]),
                alpha=float(manifest["parameters"]["als_alpha"]),
                num_threads=1,
            ),
            user_items=_csr(arrays, "user_items", shape),
            purchased=_csr(arrays, "purchased", shape),
            bought_together=BoughtTogetherModel(
                _csr(arrays, "bought_together", (len(items), len(items)))
            ),
            next_items=(
                _csr(arrays, "next_items", (len(items), len(items)))
                if "next_items_data" in arrays
                else sp.csr_matrix((len(items), len(items)), dtype=np.float32)
            ),
            popularity=arrays["item_popularity"],
            user_top_items=arrays["user_top_items"],
            user_top_scores=arrays["user_top_scores"],
            similar_items=arrays["similar_items"],
            similar_scores=arrays["similar_scores"],
            catalog=Catalog(
                item_id=items.ids,
                title=arrays["item_title"],
                category=arrays["item_category"],
                price=arrays["item_price"],
                available=arrays["item_available"],
            ),
            manifest=manifest,
        )
    except (KeyError, ValueError) as exc:
        raise CorruptVersion(f"{folder.name}: inconsistent arrays: {exc}") from exc


def _csr(arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
        shape=shape,
        copy=False,
    )


class VersionStore(Protocol):
    """Where model versions are published and loaded from: a folder (:class:`ModelStore`)
    or the database (:class:`recsvc.store.models.DatabaseModelStore`)."""

    @property
    def location(self) -> str:
        """Where the store is, for messages."""
        ...

    def versions(self) -> list[str]:
        """Every complete version, oldest first."""
        ...

    def current(self) -> str | None:
        """The version being served, or None before the first publish."""
        ...

    def manifest(self, version: str | None = None) -> dict[str, Any]:
        """The manifest of a version (default: the current one)."""
        ...

    def load(self, version: str | None = None) -> Model:
        """Load and verify a version (default: the current one)."""
        ...

    def publish(self, model: Model, *, promote: bool = True) -> str:
        """Write a model as a new version, atomically; current if ``promote``."""
        ...

    def promote(self, version: str) -> None:
        """Make a version current after verifying it."""
        ...

    def rollback(self) -> str:
        """Make the previously current version current again; returns it."""
        ...


class ModelStore:
    """A folder of model versions with a pointer to the current one."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        """The folder."""
        return str(self.root)

    def versions(self) -> list[str]:
        """Every complete version, oldest first (names sort by creation time)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()
        )

    def current(self) -> str | None:
        """The version being served, or None before the first publish."""
        history = self._history()
        return history[-1] if history else None

    def path(self, version: str) -> Path:
        """The folder of a version; :class:`UnknownVersion` if the store does not hold it."""
        folder = self.root / version
        if version.startswith(".") or "/" in version or not (folder / MANIFEST).is_file():
            known = ", ".join(self.versions()) or "none"
            raise UnknownVersion(f"no version {version!r} in {self.root} (versions: {known})")
        return folder

    def manifest(self, version: str | None = None) -> dict[str, Any]:
        """The manifest of a version (default: the current one)."""
        return read_manifest(self.path(version or self._require_current()))

    def load(self, version: str | None = None) -> Model:
        """Load and verify a version (default: the current one)."""
        return load_version(self.path(version or self._require_current()))

    def publish(self, model: Model, *, promote: bool = True) -> str:
        """Write a model as a new version, atomically, and make it current if ``promote``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._clean_staging()
        version = self._new_version_name()
        staging = self.root / f"{STAGING_PREFIX}{version}-{os.getpid()}"
        try:
            write_version(with_version(model, version), staging)
            os.rename(staging, self.root / version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_dir(self.root)
        if promote:
            self.promote(version)
        return version

    def promote(self, version: str) -> None:
        """Make a version current after verifying it; the one it replaces can be rolled back to."""
        verify_version(self.path(version))
        self._write_history(promoted(self._history(), version))

    def rollback(self) -> str:
        """Make the previously current version current again; returns it.

        Versions that have since been deleted or fail verification are skipped.
        """
        history = rolled_back(self._history(), lambda v: verify_version(self.path(v)),
                              location=self.location)  # fmt: skip
        self._write_history(history)
        return history[-1]

    def _require_current(self) -> str:
        version = self.current()
        if version is None:
            raise NoCurrentVersion(f"nothing published in {self.root}; run `recsvc train`")
        return version

    def _history(self) -> list[str]:
        path = self.root / POINTER
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ModelStoreError(f"{path}: unreadable: {exc}") from exc
        history = data.get("history") if isinstance(data, dict) else None
        if not isinstance(history, list) or not all(isinstance(v, str) for v in history):
            raise ModelStoreError(f"{path}: expected {{'history': [versions...]}}")
        return history

    def _write_history(self, history: list[str]) -> None:
        pointer = self.root / POINTER
        temporary = self.root / f".{POINTER}.{os.getpid()}.tmp"
        with temporary.open("w", encoding="utf-8") as f:
            json.dump({"current": history[-1], "history": history}, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, pointer)
        _fsync_dir(self.root)

    def _new_version_name(self) -> str:
        return new_version_name(self.versions())

    def _clean_staging(self) -> None:
        """Remove staging folders left by publishes that crashed (their process is gone)."""
        for path in self.root.glob(f"{STAGING_PREFIX}*"):
            pid = path.name.rsplit("-", 1)[-1]
            if not (pid.isdigit() and alive(int(pid))):
                shutil.rmtree(path, ignore_errors=True)


def promoted(history: list[str], version: str) -> list[str]:
    """The pointer history once ``version`` is made current."""
    return [*(v for v in history if v != version), version]


def rolled_back(history: list[str], verify: Callable[[str], object], *, location: str) -> list[str]:
    """The pointer history once the previous usable version is current again.

    Versions that have since been deleted or fail ``verify`` are skipped.
    """
    if not history:
        raise NoCurrentVersion(f"nothing published in {location}")
    for i in range(len(history) - 2, -1, -1):
        with contextlib.suppress(ModelStoreError):
            verify(history[i])
            return history[: i + 1]
    raise ModelStoreError(f"no earlier version to roll back to from {history[-1]} in {location}")


def new_version_name(existing: list[str]) -> str:
    """A version name from the UTC time (sorting by name sorts by creation), unique."""
    base = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    taken = set(existing)
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def with_manifest(model: Model, manifest: Mapping[str, Any]) -> Model:
    """The same model with another manifest."""
    return Model(**{**model.__dict__, "manifest": manifest})


def with_version(model: Model, version: str) -> Model:
    """The same model, its manifest naming ``version``."""
    return with_manifest(model, dict(model.manifest, version=version))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_manifests(store: VersionStore) -> Iterator[tuple[str, dict[str, Any] | Exception]]:
    """Each version with its manifest, or the error reading it (for listings)."""
    for version in store.versions():
        try:
            yield version, store.manifest(version)
        except CorruptVersion as exc:
            yield version, exc
