"""What every worker of a server serves, so that any worker can show all of them.

The processes forked from one gunicorn master each write a small status file into a
folder named after the master's pid (an atomic replace on every change); a worker
lists the folder, skipping entries whose process has exited. The master removes the
folder when it exits, and gunicorn's ``child_exit`` hook drops an exited worker's
entry at once (its pid may soon belong to another process).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..processes import alive

log = logging.getLogger(__name__)
#: the fields of a worker's status that it announces
ANNOUNCED = ("worker_pid", "version", "loaded_at", "failed_version")


def workers_folder(master_pid: int) -> Path:
    """Where the processes forked from ``master_pid`` say what they serve."""
    return Path(tempfile.gettempdir()) / f"recsvc-workers-{master_pid}"


def forget_worker(master_pid: int, worker_pid: int) -> None:
    """Drop an exited worker's entry (its pid may soon belong to another process)."""
    (workers_folder(master_pid) / f"{worker_pid}.json").unlink(missing_ok=True)


def _remove_folder(folder: Path, owner: int) -> None:
    """At exit, the process that made the folder removes it (gunicorn's workers
    inherit this exit handler, and must leave it to the master)."""
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)


class WorkerRegistry:
    """The status files of the processes forked from this one."""

    def __init__(self) -> None:
        # A folder left by an earlier process with this pid (killed before it could
        # clean up) is stale.
        self.folder = workers_folder(os.getpid())
        shutil.rmtree(self.folder, ignore_errors=True)
        atexit.register(_remove_folder, self.folder, os.getpid())

    def announce(self, status: dict[str, Any]) -> None:
        """Record what this process serves (an atomic file replace)."""
        entry = {k: status[k] for k in ANNOUNCED}
        try:
            self.folder.mkdir(exist_ok=True)
            temporary = self.folder / f".{os.getpid()}.tmp"
            temporary.write_text(json.dumps(entry))
            os.replace(temporary, self.folder / f"{os.getpid()}.json")
        except OSError as exc:  # /v1/model shows this worker a little less: never fatal
            log.warning("cannot write this worker's status to %s: %s", self.folder, exc)

    def workers(self) -> list[dict[str, Any]]:
        """What every live process of this server serves (as each last announced it)."""
        found = []
        for path in sorted(self.folder.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):  # written or removed meanwhile
                entry = json.loads(path.read_text())
                if alive(int(entry["worker_pid"])):
                    found.append(entry)
                else:
                    path.unlink()
        return found
