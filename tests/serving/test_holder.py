"""The model holder's list of what every worker serves."""

from __future__ import annotations

import json
import os
from pathlib import Path

from recsvc.artifact import ModelStore
from recsvc.serving.holder import ModelHolder, forget_worker, workers_folder
from recsvc.serving.placements import DEFAULT_PLACEMENTS


def test_a_stale_workers_folder_is_not_listed(tmp_path: Path) -> None:
    """A folder left by a killed server whose pid this process now has: its workers'
    pids may belong to other live processes (pid 1 here), yet they are not ours."""
    stale = workers_folder(os.getpid())
    stale.mkdir(exist_ok=True)
    (stale / "1.json").write_text(json.dumps({"worker_pid": 1, "version": "old"}))
    try:
        holder = ModelHolder(ModelStore(tmp_path), DEFAULT_PLACEMENTS, check_interval=60)
        assert holder.workers() == []
    finally:
        forget_worker(os.getpid(), 1)
