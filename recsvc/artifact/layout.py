"""The file format of a model version: which arrays, how they are written, verified, loaded.

A version is a folder of plain ``.npy`` arrays (loaded with ``mmap_mode="r"`` so
gunicorn workers share the pages, never with pickle) and a ``manifest.json``
(version, created, data window, counts, parameters, metrics, and per file its
SHA-256 checksum, size, dtype and shape). :data:`ARRAYS` is the one description of
the arrays: writing follows it, and loading checks every array against it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.catalog import Catalog
from ..data.ids import IdMap
from ..errors import CorruptVersion
from .model import Model

FORMAT = 2
MANIFEST = "manifest.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArraySpec:
    """One array of a version: its file name (without ``.npy``), dtype and shape.

    A shape names its dimensions: ``users`` and ``items`` are the id maps' lengths,
    ``users+1`` one more; any other name is free but must be the same wherever it
    appears (``factors`` in both factor matrices, a matrix's ``nnz`` in its indices
    and data). ``dtype`` "text" is any numpy string dtype.
    """

    name: str
    dtype: str
    shape: tuple[str, ...]
    #: versions written before it existed load without it
    optional: bool = False


def _csr_specs(name: str, rows: str, *, optional: bool = False) -> list[ArraySpec]:
    nnz = f"{name}.nnz"
    return [
        ArraySpec(f"{name}_indptr", "int64", (f"{rows}+1",), optional),
        ArraySpec(f"{name}_indices", "int32", (nnz,), optional),
        ArraySpec(f"{name}_data", "float32", (nnz,), optional),
    ]


#: every array a version folder holds
ARRAYS: tuple[ArraySpec, ...] = (
    ArraySpec("user_ids", "text", ("users",)),
    ArraySpec("item_ids", "text", ("items",)),
    ArraySpec("user_factors", "float32", ("users", "factors")),
    ArraySpec("item_factors", "float32", ("items", "factors")),
    ArraySpec("item_popularity", "float32", ("items",)),
    ArraySpec("user_top_items", "int32", ("users", "candidates")),
    ArraySpec("user_top_scores", "float32", ("users", "candidates")),
    ArraySpec("similar_items", "int32", ("items", "neighbours")),
    ArraySpec("similar_scores", "float32", ("items", "neighbours")),
    ArraySpec("item_title", "text", ("items",)),
    ArraySpec("item_category", "text", ("items",)),
    ArraySpec("item_price", "float64", ("items",)),
    ArraySpec("item_available", "bool", ("items",)),
    *_csr_specs("user_items", "users"),
    *_csr_specs("purchased", "users"),
    *_csr_specs("bought_together", "items"),
    *_csr_specs("next_items", "items", optional=True),
)
#: the CSR matrices among them: (name, rows, columns)
MATRICES = (("user_items", "users", "items"), ("purchased", "users", "items"),
            ("bought_together", "items", "items"), ("next_items", "items", "items"))  # fmt: skip


def model_arrays(model: Model) -> dict[str, np.ndarray]:
    """The arrays a version folder holds, by file name (without ``.npy``), as ARRAYS types them."""
    plain = {
        "user_ids": model.users.ids,
        "item_ids": model.items.ids,
        "user_factors": model.user_factors,
        "item_factors": model.item_factors,
        "item_popularity": model.popularity,
        "user_top_items": model.user_top_items,
        "user_top_scores": model.user_top_scores,
        "similar_items": model.similar_items,
        "similar_scores": model.similar_scores,
        "item_title": model.catalog.title,
        "item_category": model.catalog.category,
        "item_price": model.catalog.price,
        "item_available": model.catalog.available,
    }
    for name, _, _ in MATRICES:
        matrix: sp.csr_matrix = getattr(model, name)
        plain.update({f"{name}_indptr": matrix.indptr, f"{name}_indices": matrix.indices,
                      f"{name}_data": matrix.data})  # fmt: skip
    arrays = {}
    for spec in ARRAYS:
        array = np.asarray(plain[spec.name])
        if spec.dtype != "text":
            array = np.ascontiguousarray(array, dtype=spec.dtype)
        arrays[spec.name] = array
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
            "sha256": sha256(path),
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
    fsync_dir(folder)
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
        digest = sha256(path)
        if digest != expected["sha256"]:
            raise CorruptVersion(
                f"{folder.name}: {name} fails its checksum"
                f" (sha256 {digest[:12]}…, the manifest says {expected['sha256'][:12]}…)"
            )
    return manifest


def load_version(folder: Path, *, verify: bool = True) -> Model:
    """Load a version folder, memory-mapped; verified against its manifest first by default.

    Every array is checked against :data:`ARRAYS` (present unless optional, its dtype,
    and its shape against the id maps and the other arrays), and every item index it
    holds against the catalog's size.
    """
    manifest = verify_version(folder) if verify else read_manifest(folder)
    arrays: dict[str, np.ndarray] = {}
    for spec in ARRAYS:
        name = f"{spec.name}.npy"
        if name not in manifest["files"]:
            if spec.optional:
                continue
            raise CorruptVersion(f"{folder.name}: {name} is missing from the manifest")
        try:
            arrays[spec.name] = np.load(folder / name, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CorruptVersion(f"{folder.name}: {name} is unreadable: {exc}") from exc
    check_arrays(arrays, source=folder.name)
    check_values(arrays, source=folder.name)
    users, items = IdMap(arrays["user_ids"]), IdMap(arrays["item_ids"])
    empty = sp.csr_matrix((len(items), len(items)), dtype=np.float32)
    csr = {name: _csr(arrays, name, (len(users) if rows == "users" else len(items), len(items)))
           if f"{name}_data" in arrays else empty for name, rows, _ in MATRICES}  # fmt: skip
    return Model(
        users=users,
        items=items,
        user_factors=arrays["user_factors"],
        item_factors=arrays["item_factors"],
        user_items=csr["user_items"],
        purchased=csr["purchased"],
        bought_together=csr["bought_together"],
        next_items=csr["next_items"],
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


def check_arrays(arrays: Mapping[str, np.ndarray], *, source: str) -> None:
    """Every array's dtype and shape as :data:`ARRAYS` describes them; :class:`CorruptVersion`
    naming the first that is not."""
    sizes = {"users": len(arrays["user_ids"]), "items": len(arrays["item_ids"])}
    for spec in _present(arrays):
        array = arrays[spec.name]
        kind_ok = array.dtype.kind == "U" if spec.dtype == "text" else array.dtype == spec.dtype
        if not kind_ok:
            raise CorruptVersion(f"{source}: {spec.name}.npy has dtype {array.dtype},"
                                 f" expected {spec.dtype}")  # fmt: skip
        if array.ndim != len(spec.shape):
            raise CorruptVersion(f"{source}: {spec.name}.npy has {array.ndim} dimensions,"
                                 f" expected {len(spec.shape)} {spec.shape}")  # fmt: skip
        for dimension, size in zip(spec.shape, array.shape, strict=True):
            base, plus, _ = dimension.partition("+")
            expected = sizes.setdefault(base, size - 1 if plus else size) + (1 if plus else 0)
            if size != expected:
                raise CorruptVersion(
                    f"{source}: {spec.name}.npy has shape {list(array.shape)}: its {dimension}"
                    f" is {size}, expected {expected}"
                )


def check_values(arrays: Mapping[str, np.ndarray], *, source: str) -> None:
    """Every item index points at an item (or is the -1 pad of a fixed-width list), and
    every CSR matrix's row pointers are whole; :class:`CorruptVersion` otherwise."""
    items = len(arrays["item_ids"])
    for name in ("user_top_items", "similar_items"):
        _in_range(arrays[name], -1, items, f"{name}.npy", source)
    for name, _, _ in MATRICES:
        if f"{name}_indptr" not in arrays:
            continue
        indptr, indices = arrays[f"{name}_indptr"], arrays[f"{name}_indices"]
        if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
            raise CorruptVersion(f"{source}: {name}_indptr.npy is not a valid row pointer"
                                 f" for {len(indices)} entries")  # fmt: skip
        _in_range(indices, 0, items, f"{name}_indices.npy", source)


def _in_range(array: np.ndarray, low: int, items: int, name: str, source: str) -> None:
    if array.size and (int(array.min()) < low or int(array.max()) >= items):
        raise CorruptVersion(f"{source}: {name} names items outside 0..{items - 1}")


def _present(arrays: Mapping[str, np.ndarray]) -> Iterable[ArraySpec]:
    return (spec for spec in ARRAYS if spec.name in arrays)


def _csr(arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
        shape=shape,
        copy=False,
    )


def sha256(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
