"""The ML engineer's workflows in scripts/, run as they are run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "--model",
    "als",
    "--factors",
    "8",
    "--iterations",
    "5",
    "--neighbours",
    "20",
    "--no-progress",
]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, env=env, cwd=ROOT
    )


def test_sample_data_script_writes_a_shop(tmp_path: Path) -> None:
    done = run(sys.executable, "scripts/sample_data.py", "--out", tmp_path, "--events", "3000",
               "--format", "parquet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "events.parquet").stat().st_size > 0
    assert (tmp_path / "items.parquet").stat().st_size > 0


def test_retrain_publishes_then_refuses_a_worse_model(
    tmp_path: Path, small_shop: tuple[Path, Path]
) -> None:
    events, items = small_shop
    models = tmp_path / "models"
    first = run("scripts/retrain.sh", events, items, "--models", models, *FAST)
    assert first.returncode == 0, first.stderr
    assert "retrain: published" in first.stdout
    current = (models / "CURRENT").read_text()
    worse = run("scripts/retrain.sh", events, items, "--models", models, *FAST,
                "--factors", "1", "--iterations", "1", "--max-ndcg-drop", "0")  # fmt: skip
    assert worse.returncode == 3
    assert "refused by the quality gate" in worse.stderr
    assert (models / "CURRENT").read_text() == current
    assert worse.stdout.count("\n") == 1  # the listing: still one version


def test_retrain_finds_the_projects_environment_and_explains_itself(
    tmp_path: Path, small_shop: tuple[Path, Path]
) -> None:
    """Without the environment on the PATH (a cron job), the script uses .venv's recsvc."""
    venv = ROOT / ".venv" / "bin" / "recsvc"
    if not venv.exists():
        pytest.skip("no .venv in the project (make test creates it)")
    bare = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["scripts/retrain.sh", "--help"], capture_output=True, text=True,
                          check=False, env=bare, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0
    assert "scripts/retrain.sh EVENTS" in done.stdout
    events, items = small_shop
    run_ = subprocess.run(["scripts/retrain.sh", str(events), str(items), "--models",
                           str(tmp_path / "models"), *FAST], capture_output=True, text=True,
                          check=False, env=bare, cwd=ROOT)  # fmt: skip
    assert run_.returncode == 0, run_.stderr
    assert "retrain: published" in run_.stdout
    assert subprocess.run(["scripts/retrain.sh"], capture_output=True, env=bare, cwd=ROOT,
                          check=False).returncode == 2  # fmt: skip


def test_best_items_benchmark_finds_the_same_lists_both_ways(tmp_path: Path) -> None:
    done = run(sys.executable, "scripts/benchmark_best_items.py", "--events", "20000",
               "--items", "800", "--users", "200", "--data", tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    both, low_rank = done.stdout.split("\n\n")
    rows = [line.split("|") for line in both.splitlines() if line.startswith("| ")]
    assert [row[1].strip() for row in rows[1:]] == [
        "ALS", "ALS + next items", "ALS + next items + popularity (7-day)",
        "item-kNN + next items", "item-kNN + next items + popularity (7-day)",
    ]  # fmt: skip
    for row in rows[1:]:
        assert float(row[4]) >= 0.99, row
    # ALS's top 100 over every item and in bands of falling norm: the same lists
    row = [line.split("|") for line in low_rank.splitlines() if line.startswith("| ")][-1]
    assert row[1].strip() == "200 shoppers x 800 items"
    assert float(row[4]) >= 0.99, row


@pytest.mark.parametrize("script", ["compare_engines.py", "benchmark_engines.py"])
def test_the_engine_scripts_explain_themselves(script: str) -> None:
    done = run(sys.executable, f"scripts/{script}", "--help")
    assert done.returncode == 0, done.stderr
    assert "spark" in done.stdout.lower()


def test_the_holdout_benchmark_scores_a_sample_and_every_shopper(tmp_path: Path) -> None:
    done = run(sys.executable, "scripts/benchmark_holdout.py", "--events", "20000",
               "--holdout-max-shoppers", "50", "--data", tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row[1].strip() for row in rows[1:]] == ["a sample", "every shopper"]
    assert int(rows[1][2].replace(",", "")) == 50 < int(rows[2][2].replace(",", ""))


def test_the_validation_windows_script_compares_designs(tmp_path: Path) -> None:
    shop = run(sys.executable, "scripts/sample_data.py", "--out", tmp_path, "--events", "20000")
    assert shop.returncode == 0, shop.stderr
    done = run(sys.executable, "scripts/validation_windows.py", "--events",
               tmp_path / "events.csv", "--items", tmp_path / "items.csv",
               "--designs", "1x0.2,2x0.2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row[1].strip() for row in rows[1:]] == ["1x0.2", "2x0.2"]
    one, two = (int(row[2].replace(",", "")) for row in rows[1:])
    assert two > one > 0  # the second window adds its shoppers


def test_the_warm_start_script_scores_cold_and_warm_fits_on_the_future(tmp_path: Path) -> None:
    shop = run(sys.executable, "scripts/sample_data.py", "--out", tmp_path, "--events", "20000")
    assert shop.returncode == 0, shop.stderr
    done = run(sys.executable, "scripts/warm_start.py", "--events", tmp_path / "events.csv",
               "--items", tmp_path / "items.csv", "--warm", "1,2", "--short", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row[1].strip() for row in rows[1:]] == [
        "cold", "cold, another seed", "cold, 2 iterations", "warm, 1 iteration",
        "warm, 2 iterations",
    ]  # fmt: skip
    assert float(rows[1][5]) == 1.0  # the cold fit against itself
    for row in rows[2:]:
        assert 0 < float(row[3]) < 1
        assert 0 < float(row[5]) < 1
