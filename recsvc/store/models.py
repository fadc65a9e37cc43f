"""Model versions in the database, for hosts whose filesystems are not shared (Heroku).

A model trained by one dyno reaches the web dynos through the database: a version is
its manifest plus its files in chunks, written with the pointer switch in one
transaction (readers see all of it or none). A serving process fetches a version into
a local cache folder, verifies every checksum, and memory-maps it from there like a
version on disk.

``RECSVC_MODELS=database`` selects it (the database of ``DATABASE_URL``); a folder
path, the default ``models``, keeps versions on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..artifact import Model, ModelStore, VersionStore, verify_version, with_version, write_version
from ..artifact.store import new_version_name, promoted
from ..errors import CorruptVersion, ModelStoreError, UnknownVersion
from .database import connect, database_url, model_chunks, model_pointer, model_versions

#: the model store setting that means "the database"
DATABASE = "database"
CHUNK = 8 << 20
DEFAULT_CACHE = Path("var") / "model-cache"


class DatabaseModelStore(VersionStore):
    """Model versions as rows and chunked blobs, cached on local disk to be memory-mapped."""

    def __init__(self, engine: Engine, *, cache: Path | str = DEFAULT_CACHE) -> None:
        self.engine = engine
        self.cache = Path(cache)

    @property
    def location(self) -> str:
        """The database, without its password."""
        return f"database {self.engine.url.render_as_string(hide_password=True)}"

    def versions(self) -> list[str]:
        """Every published version, oldest first."""
        with self.engine.connect() as conn:
            query = sa.select(model_versions.c.version).order_by(model_versions.c.version)
            return list(conn.execute(query).scalars())

    def read_manifest(self, version: str) -> dict[str, Any]:
        """The manifest of a version, from its row."""
        with self.engine.connect() as conn:
            text = conn.execute(
                sa.select(model_versions.c.manifest).where(model_versions.c.version == version)
            ).scalar()
        if text is None:
            raise UnknownVersion(f"no version {version!r} in {self.location}")
        try:
            manifest: dict[str, Any] = json.loads(text)
        except ValueError as exc:
            raise CorruptVersion(f"{version}: unreadable manifest: {exc}") from exc
        return manifest

    def local(self, version: str) -> Path:
        """The verified local copy of a version (fetched into the cache once)."""
        return self.fetch(version)

    def history(self) -> list[str]:
        """The versions made current, from the pointer row."""
        with self.engine.connect() as conn:
            return _history(conn)

    def change_history(self, change: Callable[[list[str]], list[str]]) -> list[str]:
        """Rewrite the pointer row in one transaction."""
        with self.engine.begin() as conn:
            history = change(_history(conn))
            _write_history(conn, history)
        return history

    def fetch(self, version: str) -> Path:
        """The verified local copy of a version, downloading it if the cache lacks it."""
        folder = self.cache / version
        if folder.is_dir():
            try:
                verify_version(folder)
                return folder
            except CorruptVersion:
                shutil.rmtree(folder, ignore_errors=True)
        manifest = self.manifest(version)
        self.cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".fetch-{version}-", dir=self.cache))
        try:
            self._download(version, manifest, staging)
            verify_version(staging)
            os.rename(staging, folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not folder.is_dir():  # another worker may have renamed its copy first
                raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._prune(keep={version, *self.history()[-2:]})
        return folder

    def _prune(self, *, keep: set[str]) -> None:
        """Remove cached versions other than ``keep`` (the current one, the one before it,
        and the one just fetched): a process that still maps an older one keeps its pages
        until it lets them go."""
        for folder in self.cache.iterdir():
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)

    def publish(self, model: Model, *, promote: bool = True) -> str:
        """Write a model as a new version and, if ``promote``, make it current, in one
        transaction."""
        with self.engine.begin() as conn:
            version = new_version_name(self.versions())
            with tempfile.TemporaryDirectory(dir=_parent(self.cache)) as work:
                folder = Path(work) / version
                manifest = write_version(with_version(model, version), folder)
                conn.execute(model_versions.insert().values(
                    version=version, manifest=json.dumps(manifest, sort_keys=True)))  # fmt: skip
                for name in manifest["files"]:
                    for seq, data in enumerate(_chunks(folder / name)):
                        conn.execute(model_chunks.insert().values(
                            version=version, name=name, seq=seq, data=data))  # fmt: skip
                if promote:
                    _write_history(conn, promoted(_history(conn), version))
                self.cache.mkdir(parents=True, exist_ok=True)
                shutil.move(folder, self.cache / version)  # the publisher needs no download
        return version

    def _download(self, version: str, manifest: Mapping[str, Any], folder: Path) -> None:
        query = (sa.select(model_chunks.c.name, model_chunks.c.data)
                 .where(model_chunks.c.version == version)
                 .order_by(model_chunks.c.name, model_chunks.c.seq))  # fmt: skip
        files: dict[str, Any] = {}
        try:
            with self.engine.connect() as conn:
                for name, data in conn.execution_options(yield_per=4).execute(query):
                    if name not in manifest["files"]:
                        raise CorruptVersion(f"{version}: stray file {name!r} in the database")
                    if name not in files:
                        files[name] = (folder / name).open("wb")
                    files[name].write(data)
        finally:
            for f in files.values():
                f.flush()
                os.fsync(f.fileno())
                f.close()
        with (folder / "manifest.json").open("w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)


def open_model_store(spec: str, *, engine: Engine | None = None) -> VersionStore:
    """The model store a setting names: ``database`` (DATABASE_URL's database, or
    ``engine``), a database URL, or a folder."""
    cache = Path(os.environ.get("RECSVC_MODEL_CACHE", DEFAULT_CACHE))
    if spec == DATABASE:
        return DatabaseModelStore(engine or connect(database_url()), cache=cache)
    if "://" in spec:
        return DatabaseModelStore(connect(database_url({"DATABASE_URL": spec})), cache=cache)
    return ModelStore(spec)


def _history(conn: Connection) -> list[str]:
    text = conn.execute(sa.select(model_pointer.c.history).where(model_pointer.c.id == 1)).scalar()
    if text is None:
        return []
    try:
        history = json.loads(text)
    except ValueError as exc:
        raise ModelStoreError(f"model pointer unreadable: {exc}") from exc
    return [str(v) for v in history]


def _write_history(conn: Connection, history: list[str]) -> None:
    text = json.dumps(history)
    done = conn.execute(model_pointer.update().where(model_pointer.c.id == 1).values(history=text))
    if done.rowcount == 0:
        conn.execute(model_pointer.insert().values(id=1, history=text))


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while data := f.read(CHUNK):
            yield data


def _parent(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
