"""Model version stores: publish atomically, list, promote, roll back, load.

:class:`VersionStore` holds what every store does; a store says only where versions
and the pointer to the current one live. :class:`ModelStore` keeps them in a folder:
``<store>/<version>/`` and ``<store>/CURRENT`` (the version served and the ones
before it, for rollback). The database store (``recsvc.store.models``) keeps them in
the event store's database, for hosts whose disks are not shared.

Publishing to a folder writes the version under a hidden staging name, fsyncs every
file, renames it into place, verifies it, and only then switches ``CURRENT``
(itself replaced atomically). A crash at any point leaves either the old current
version or the new one, never half of one; leftover staging folders are ignored and
cleaned up by the next publish.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import CorruptVersion, ModelStoreError, NoCurrentVersion, UnknownVersion
from ..processes import alive
from .layout import MANIFEST, fsync_dir, load_version, read_manifest, write_version
from .model import Model, with_version

POINTER = "CURRENT"
STAGING_PREFIX = ".staging-"


class VersionStore(ABC):
    """Where model versions are published and loaded from."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store is, for messages."""

    @abstractmethod
    def versions(self) -> list[str]:
        """Every complete version, oldest first."""

    @abstractmethod
    def publish(self, model: Model, *, promote: bool = True) -> str:
        """Write a model as a new version, atomically; current if ``promote``."""

    @abstractmethod
    def local(self, version: str) -> Path:
        """A verified-to-exist folder of the version on this machine, to load from;
        :class:`UnknownVersion` if the store does not hold it."""

    @abstractmethod
    def read_manifest(self, version: str) -> dict[str, Any]:
        """The manifest of a version, without reading its files."""

    @abstractmethod
    def history(self) -> list[str]:
        """The versions made current, oldest first: the last one is current."""

    @abstractmethod
    def change_history(self, change: Callable[[list[str]], list[str]]) -> list[str]:
        """Replace the history by ``change(history)``, atomically; returns the new one."""

    def current(self) -> str | None:
        """The version being served, or None before the first publish."""
        history = self.history()
        return history[-1] if history else None

    def require_current(self) -> str:
        """The current version; :class:`NoCurrentVersion` before the first publish."""
        version = self.current()
        if version is None:
            raise NoCurrentVersion(f"nothing published in {self.location}; run `recsvc train`")
        return version

    def manifest(self, version: str | None = None) -> dict[str, Any]:
        """The manifest of a version (default: the current one)."""
        return self.read_manifest(version or self.require_current())

    def load(self, version: str | None = None) -> Model:
        """Load and verify a version (default: the current one), memory-mapped."""
        return load_version(self.local(version or self.require_current()))

    def promote(self, version: str) -> None:
        """Make a version current once it loads (checksums, and every array's dtype, shape
        and indices); the one it replaces can be rolled back to."""
        load_version(self.local(version))
        self.change_history(lambda history: promoted(history, version))

    def rollback(self) -> str:
        """Make the previously current version current again; returns it.

        Versions that have since been deleted or fail verification are skipped.
        """

        def back(history: list[str]) -> list[str]:
            return rolled_back(history, lambda v: load_version(self.local(v)),
                               location=self.location)  # fmt: skip

        return self.change_history(back)[-1]


class ModelStore(VersionStore):
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

    def path(self, version: str) -> Path:
        """The folder of a version; :class:`UnknownVersion` if the store does not hold it."""
        folder = self.root / version
        if version.startswith(".") or "/" in version or not (folder / MANIFEST).is_file():
            known = ", ".join(self.versions()) or "none"
            raise UnknownVersion(f"no version {version!r} in {self.root} (versions: {known})")
        return folder

    def local(self, version: str) -> Path:
        """The version's folder."""
        return self.path(version)

    def read_manifest(self, version: str) -> dict[str, Any]:
        """The manifest of a version."""
        return read_manifest(self.path(version))

    def publish(self, model: Model, *, promote: bool = True) -> str:
        """Write a model as a new version, atomically, and make it current if ``promote``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._clean_staging()
        version = new_version_name(self.versions())
        staging = self.root / f"{STAGING_PREFIX}{version}-{os.getpid()}"
        try:
            write_version(with_version(model, version), staging)
            os.rename(staging, self.root / version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self.root)
        if promote:
            self.promote(version)
        return version

    def history(self) -> list[str]:
        """The versions made current, from ``CURRENT``."""
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

    def change_history(self, change: Callable[[list[str]], list[str]]) -> list[str]:
        """Rewrite ``CURRENT`` (a file replaced atomically)."""
        history = change(self.history())
        pointer = self.root / POINTER
        temporary = self.root / f".{POINTER}.{os.getpid()}.tmp"
        with temporary.open("w", encoding="utf-8") as f:
            json.dump({"current": history[-1], "history": history}, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, pointer)
        fsync_dir(self.root)
        return history

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


def iter_manifests(
    store: VersionStore, versions: Sequence[str] | None = None
) -> Iterator[tuple[str, dict[str, Any] | Exception]]:
    """Each version (of ``versions``, default all) with its manifest, or the error
    reading it (for listings)."""
    for version in store.versions() if versions is None else versions:
        try:
            yield version, store.manifest(version)
        except CorruptVersion as exc:
            yield version, exc
