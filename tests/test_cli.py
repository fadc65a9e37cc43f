from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from recsvc.artifact import ModelStore
from recsvc.cli import EXIT_GATE_FAILED, main

FAST = ["--model", "als", "--factors", "8", "--iterations", "5", "--neighbours", "20"]


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_train_prints_metrics_and_publishes(small_shop: tuple[Path, Path], models: Path) -> None:
    events, items = small_shop
    # the real console script, as a user runs it
    done = subprocess.run(
        [Path(sys.executable).with_name("recsvc"), "train", "--events", events, "--items", items,
         "--models", models, *FAST, "--no-progress"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "published " in done.stdout
    assert "popularity" in done.stdout
    assert "ndcg@10" in done.stdout
    assert "fit ALS: done in" in done.stderr
    code, out = run("models", "list", "--models", str(models))
    assert code == 0
    assert out.startswith("* ")
    # beyond --holdout-max-shoppers, a sample of the shoppers is scored, and it says so
    code, out = run("train", "--events", str(events), "--items", str(items), "--models",
                    str(models), *FAST, "--holdout-max-shoppers", "50", "--force")  # fmt: skip
    assert code == 0, out
    assert "50 shoppers scored (a sample of " in out
    holdout = ModelStore(models).manifest()["metrics"]["holdout"]
    assert holdout["users_scored"] == 50 < holdout["sampled_from"]


def test_bad_input_is_one_clear_line(tmp_path: Path, models: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,event_type,timestamp\nu1,i1,view,soon\n")
    code, out = run("train", "--events", str(events), "--models", str(models))
    assert code == 1
    assert f"Error: {events}, row 1, field 'timestamp': not an ISO 8601" in out
    assert "Traceback" not in out
    assert not models.exists() or not any(models.iterdir())


def test_gate_failure_exit_status(small_shop: tuple[Path, Path], models: Path) -> None:
    events, items = small_shop
    base = ["train", "--events", str(events), "--items", str(items), "--models", str(models),
            "--model", "als"]  # fmt: skip
    assert run(*base, *FAST)[0] == 0
    code, out = run(*base, "--factors", "1", "--iterations", "1", "--max-ndcg-drop", "0")
    assert code == EXIT_GATE_FAILED
    assert "not published" in out
    assert "--force" in out
    code, out = run(*base, "--factors", "1", "--iterations", "1", "--max-ndcg-drop", "0",
                    "--force")  # fmt: skip
    assert code == 0


def test_models_commands(small_shop: tuple[Path, Path], models: Path) -> None:
    events, _ = small_shop
    base = ["train", "--events", str(events), "--models", str(models), *FAST]
    assert run(*base)[0] == 0
    assert run(*base)[0] == 0
    versions = sorted(p.name for p in models.iterdir() if not p.name.startswith((".", "C")))
    code, out = run("models", "show", "--models", str(models))
    assert code == 0
    assert json.loads(out)["version"] == versions[1]
    assert run("models", "rollback", "--models", str(models)) == (
        0,
        f"current version: {versions[0]}\n",
    )
    assert run("models", "promote", versions[1], "--models", str(models))[0] == 0
    code, out = run("models", "verify", "--models", str(models))
    assert (code, out.split(":")[0]) == (0, versions[1])
    code, out = run("models", "promote", "nope", "--models", str(models))
    assert code == 1
    assert "no version 'nope'" in out


def test_evaluate_prints_baselines_in_one_table(small_shop: tuple[Path, Path]) -> None:
    events, items = small_shop
    code, out = run("evaluate", "--events", str(events), "--items", str(items), *FAST, "--json")
    assert code == 0
    rows = json.loads(out)
    assert list(rows) == ["popularity", "popularity (30-day half-life)",
                          "popularity (7-day half-life)", "als (library defaults)",
                          "bought-together", "als", "als (tuned)", "item-kNN (cosine)",
                          "item-kNN (bm25)",
                          "ease", "blend (als + item-kNN)", "als + next items", "next items",
                          "recsvc (als + next items, served)"]  # fmt: skip
    served = rows["recsvc (als + next items, served)"]
    assert set(served) == {"ndcg@10", "precision@10", "recall@10", "map@10", "coverage",
                           "users", "ndcg@10 low", "ndcg@10 high"}  # fmt: skip
    assert served["ndcg@10 low"] <= served["ndcg@10"] <= served["ndcg@10 high"]


def test_evaluate_on_the_forward_split(small_shop: tuple[Path, Path]) -> None:
    events, items = small_shop
    code, out = run("evaluate", "--events", str(events), "--items", str(items), *FAST,
                    "--split", "forward", "--test-days", "20")  # fmt: skip
    assert code == 0, out
    assert "split: forward, holdout last 20 days:" in out
    assert "new shoppers who bought (not scored)" in out
    assert "ndcg@10 95% interval" in out
    code, out = run("evaluate", "--events", str(events), *FAST, "--split", "user-time",
                    "--test-days", "20")  # fmt: skip
    assert code == 2
    assert "--test-days goes with --split forward" in out


def test_help_explains_the_options() -> None:
    code, out = run("train", "--help")
    assert code == 0
    for words in ("--events", "--half-life-days", "[default: 32]", "--max-ndcg-drop", "--force",
                  "--reuse-choice-days", "--warm-iterations"):  # fmt: skip
        assert words in out
    # what only a retrain reads is not offered where nothing is retrained
    for command in ("evaluate", "tune"):
        code, out = run(command, "--help")
        assert code == 0
        assert "--budget" in out
        assert "--reuse-choice-days" not in out
        assert "--warm-iterations" not in out


def test_train_every_keeps_retraining(small_shop: tuple[Path, Path], models: Path) -> None:
    events, items = small_shop
    worker = subprocess.Popen(
        [Path(sys.executable).with_name("recsvc"), "train", "--events", events, "--items", items,
         "--models", models, *FAST, "--no-progress", "--every", "0.0002"],  # every 0.7 s
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        published = 0
        assert worker.stdout is not None
        for line in worker.stdout:
            published += line.startswith("published ")
            if published == 2:
                break
        assert published == 2
        assert worker.poll() is None  # still running, as a worker process does
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        if worker.stdout:
            worker.stdout.close()
    assert len([p for p in models.iterdir() if p.name[0].isdigit()]) >= 2


@pytest.mark.parametrize("where", ["environment", "option", "settings file"])
def test_an_unknown_model_is_a_clear_error_naming_the_valid_ones(
    where: str, small_shop: tuple[Path, Path], models: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    events, _ = small_shop
    # FAST less its --model: the environment and the settings file must be what names it
    args = ["train", "--events", str(events), "--models", str(models), *FAST[2:]]
    if where == "environment":
        monkeypatch.setenv("RECSVC_MODEL", "alss")
    elif where == "option":
        args += ["--model", "alss"]
    else:
        (tmp_path / "tuned.env").write_text("RECSVC_MODEL=alss\n")
        monkeypatch.setenv("RECSVC_SETTINGS", str(tmp_path / "tuned.env"))
    code, out = run(*args)
    assert code != 0
    assert "alss" in out
    for name in ("als", "itemknn", "ease", "blend"):
        assert name in out
    assert not models.exists()  # nothing trained, nothing published


def test_import_items_if_empty_keeps_a_catalog_already_there(
    small_shop: tuple[Path, Path], tmp_path: Path
) -> None:
    _, items = small_shop
    database = f"sqlite:///{tmp_path / 'shop.db'}"
    assert run("db", "upgrade", "--database", database)[0] == 0
    code, out = run("import-items", "--if-empty", str(items), "--database", database)
    assert code == 0
    assert "imported 300 items" in out
    from recsvc.store.database import connect
    from recsvc.store.shop import ShopStore

    shop = ShopStore(connect(database))
    shop.patch_item("p3", {"available": False})  # a change made since
    code, out = run("import-items", "--if-empty", str(items), "--database", database)
    assert (code, "nothing imported" in out) == (0, True)
    assert shop.patch_item("p3", {})["available"] is False
    shop.engine.dispose()


def shop_with_one_list(folder: Path) -> str:
    """A SQLite event store holding one recorded home list (2027-01-15); its URL."""
    from recsvc.store.database import connect, upgrade
    from recsvc.store.impressions import Impression, ImpressionStore

    url = f"sqlite:///{folder / 'shop.db'}"
    engine = connect(url)
    upgrade(engine)
    ImpressionStore(engine).add([Impression("r1", 1_800_000_000, "home", "personalized", "v1",
                                            "[]")])  # fmt: skip
    engine.dispose()
    return url


def test_stats_prints_what_recommendations_earned(tmp_path: Path) -> None:
    import json as json_

    url = shop_with_one_list(tmp_path)
    code, out = run("stats", "--database", url, "--start", "2027-01-01", "--end", "2027-02-01")
    assert code == 0, out
    assert "home" in out
    assert "v1" in out
    assert "2027-01-01 00:00 to 2027-02-01 00:00 UTC" in out
    code, out = run("stats", "--database", url, "--start", "1800000000", "--end", "1800000001",
                    "--json")  # fmt: skip
    assert json_.loads(out)["groups"][0]["impressions"] == 1
    code, out = run("stats", "--database", url, "--start", "tomorrow")
    assert code == 2
    assert "neither ISO 8601 nor epoch seconds" in out


def test_experiments_from_the_command_line(tmp_path: Path, trained_store: ModelStore) -> None:
    import shutil

    store = ModelStore(shutil.copytree(trained_store.root, tmp_path / "models"))
    store.publish(store.load(), promote=False)
    old, new = store.versions()[:2]
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    where = ("--database", url)
    assert run("db", "upgrade", *where)[0] == 0
    code, out = run("experiments", "start", "ab", "--variant", f"a={old}:50",
                    "--variant", f"b={new}:50", "--models", str(store.root), *where)  # fmt: skip
    assert code == 0, out
    assert f"started ab on home: a={old} (50), b={new} (50)" in out
    code, out = run("experiments", "start", "bad", "--variant", "a", "--variant", "b=x",
                    "--models", str(store.root), *where)  # fmt: skip
    assert code == 2
    assert "expected NAME=VERSION[:WEIGHT]" in out
    code, out = run("experiments", "show", "ab", *where)
    assert code == 0
    assert "verdict on purchases: no difference yet" in out
    code, out = run("experiments", "list", *where)
    assert out.startswith("ab  home  started")
    assert "running" in out
    code, out = run("experiments", "promote", "ab", "--models", str(store.root), *where)
    assert code == 1
    assert "has no winner yet" in out
    code, out = run("experiments", "promote", "ab", "--variant", "b", "--models",
                    str(store.root), *where)  # fmt: skip
    assert code == 0
    assert f"{new} is current" in out
    assert store.current() == new
    assert "stopped" in run("experiments", "list", *where)[1]


def test_an_experiment_between_placement_rules(tmp_path: Path, trained_store: ModelStore) -> None:
    import shutil

    store = ModelStore(shutil.copytree(trained_store.root, tmp_path / "models"))
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    where = ("--database", url, "--models", str(store.root))
    assert run("db", "upgrade", "--database", url)[0] == 0
    start = ("experiments", "start", "taste", "--placement", "product", "--variant", "a=current",
             "--variant", "b=current")  # fmt: skip
    code, out = run(*start, "--rules", 'b={"taste_weight": 0}', *where)
    assert code == 0, out
    assert f'b={store.current()} {{"taste_weight": 0}} (1)' in out
    for rules, words in [('c={"taste_weight": 0}', "NAME one of the variants (a, b)"),
                         ("b=[1]", "expected a JSON object"), ("b={", "not JSON")]:  # fmt: skip
        code, out = run(*start[:2], "other", *start[3:], "--rules", rules, *where)
        assert code == 2
        assert words in out
    code, out = run(*start[:2], "other", "--variant", "a=current", "--variant", "b=current",
                    "--rules", 'b={"taste_weight": "none"}', *where)  # fmt: skip
    assert code == 1
    assert "variant 'b': taste_weight must be a float, not 'none'" in out
    assert '{"taste_weight": 0}' in run("experiments", "show", "taste", "--database", url)[1]
    code, out = run("experiments", "promote", "taste", "--variant", "b", *where)
    assert code == 0, out
    assert 'set RECSVC_PLACEMENTS to include {"product": {"taste_weight": 0}}' in out


def test_db_recount_rebuilds_the_counters(tmp_path: Path) -> None:
    url = shop_with_one_list(tmp_path)
    code, out = run("db", "recount", "--database", url)
    assert code == 0, out
    assert "counted 1 hour-and-group rows" in out
