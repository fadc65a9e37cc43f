"""The list of what every worker of a server serves."""

from __future__ import annotations

import json
import os

from recsvc.serving.workers import WorkerRegistry, forget_worker, workers_folder


def test_a_stale_workers_folder_is_not_listed() -> None:
    """A folder left by a killed server whose pid this process now has: its workers'
    pids may belong to other live processes (pid 1 here), yet they are not ours."""
    stale = workers_folder(os.getpid())
    stale.mkdir(exist_ok=True)
    (stale / "1.json").write_text(json.dumps({"worker_pid": 1, "version": "old"}))
    try:
        registry = WorkerRegistry()
        assert registry.workers() == []
    finally:
        forget_worker(os.getpid(), 1)


def test_a_worker_announces_what_it_serves_and_leaves_when_it_exits() -> None:
    registry = WorkerRegistry()
    status = {"worker_pid": os.getpid(), "version": "v1", "loaded_at": "now",
              "failed_version": None, "failure": "not announced"}  # fmt: skip
    registry.announce(status)
    assert registry.workers() == [
        {"worker_pid": os.getpid(), "version": "v1", "loaded_at": "now", "failed_version": None}
    ]
    registry.announce({**status, "version": "v2"})  # replaced, not added
    assert [w["version"] for w in registry.workers()] == ["v2"]
    forget_worker(os.getpid(), os.getpid())
    assert registry.workers() == []


def test_an_exited_process_is_dropped_from_the_list() -> None:
    registry = WorkerRegistry()
    registry.folder.mkdir(exist_ok=True)
    gone = 2**22 + 12345  # above the default pid_max: no such process
    (registry.folder / f"{gone}.json").write_text(json.dumps({"worker_pid": gone}))
    assert registry.workers() == []
    assert not (registry.folder / f"{gone}.json").exists()
