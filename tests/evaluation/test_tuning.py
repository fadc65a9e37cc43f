from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from recsvc.cli import main
from recsvc.config import TrainingConfig, write_settings
from recsvc.data.dataset import Dataset, Files
from recsvc.errors import ConfigError
from recsvc.evaluation.holdout import DEFAULT_SPLIT, holdout_mask
from recsvc.evaluation.tuning import Trial, best, tune
from recsvc.pipeline import read_dataset

SMALL_SPACE = {"model": ("als", "itemknn"), "als_regularization": (1.0, 10.0),
               "knn_neighbours": (20, 50)}  # fmt: skip


def test_tuning_never_reads_the_test_part(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    data = read_dataset(Files(*small_shop), fast_config)
    first = tune(data, fast_config, seconds=120, max_trials=5, space=SMALL_SPACE)
    # scramble every test-part event: a tuner that read them would score differently
    test = holdout_mask(data.events, split=DEFAULT_SPLIT, fraction=fast_config.holdout_fraction)
    items = data.events.item_id.to_numpy(zero_copy_only=False).astype(str)
    rng = np.random.default_rng(0)
    items[test] = rng.permutation(items[test])
    events = data.events
    scrambled = type(events)(
        user_id=events.user_id, item_id=pa.chunked_array([pa.array(items)]),
        event_type=events.event_type, event_types=events.event_types,
        timestamp=events.timestamp, quantity=events.quantity,
    )  # fmt: skip
    second = tune(Dataset(scrambled, data.catalog, data.items), fast_config, seconds=120,
                  max_trials=5, space=SMALL_SPACE)  # fmt: skip
    assert [(t.number, t.metrics) for t in first] == [(t.number, t.metrics) for t in second]
    assert first[0].config == second[0].config
    assert len(first) == 4  # the small space holds four distinct trials
    assert first[0].metrics["ndcg@10"] >= first[-1].metrics["ndcg@10"]


def test_best_respects_the_coverage_floor() -> None:
    config = TrainingConfig()
    trials = [Trial(1, config, {"ndcg@10": 0.20, "coverage": 0.10}, 1.0),
              Trial(2, config, {"ndcg@10": 0.18, "coverage": 0.30}, 1.0)]  # fmt: skip
    assert best(trials).number == 1
    assert best(trials, min_coverage=0.25).number == 2
    with pytest.raises(ConfigError, match=r"no trial reached catalog coverage 0\.5"):
        best(trials, min_coverage=0.5)


def test_settings_files_configure_training(tmp_path: Path) -> None:
    tuned = TrainingConfig(model="blend", blend_weight=0.5, als_regularization=3.0,
                           half_life_days=None, knn_weighting="bm25")  # fmt: skip
    path = tmp_path / "tuned.env"
    write_settings(path, tuned, comment="from a test")
    assert TrainingConfig.from_env({"RECSVC_SETTINGS": str(path)}) == tuned
    override = TrainingConfig.from_env({"RECSVC_SETTINGS": str(path), "RECSVC_MODEL": "als"})
    assert override.model == "als"  # the environment wins over the file
    path.write_text("RECSVC_MODEL=als\nnonsense\n")
    with pytest.raises(ConfigError, match="line 2: expected RECSVC_NAME=value"):
        TrainingConfig.from_env({"RECSVC_SETTINGS": str(path)})


def test_tune_command_writes_settings_and_trials(
    small_shop: tuple[Path, Path], tmp_path: Path
) -> None:
    out, table = tmp_path / "tuned.env", tmp_path / "trials.csv"
    result = CliRunner().invoke(main, [
        "tune", "--events", str(small_shop[0]), "--items", str(small_shop[1]),
        "--seconds", "30", "--trials", "3", "--out", str(out), "--table", str(table),
        "--factors", "8", "--iterations", "3", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "RECSVC_MODEL=" in out.read_text()
    assert len(table.read_text().splitlines()) == 4  # header and three trials
    assert TrainingConfig.from_env({"RECSVC_SETTINGS": str(out)}).als_iterations == 3


def test_more_folds_move_the_validation_window_back(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    from recsvc.evaluation.tuning import validate, validation_data

    part = validation_data(read_dataset(Files(*small_shop), fast_config), fast_config)
    one = validate(part, fast_config, folds=1)
    three = validate(part, fast_config, folds=3)
    assert set(one) == set(three)
    assert one != three  # the earlier windows score differently, and are averaged in
    data = read_dataset(Files(*small_shop), fast_config)
    assert tune(data, fast_config, seconds=60, max_trials=2,
                folds=2, space=SMALL_SPACE)[0].metrics["ndcg@10"] > 0  # fmt: skip


def test_tuning_from_the_default_settings_starts_from_als(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    data = read_dataset(Files(*small_shop), fast_config)
    trials = tune(data, fast_config.replace(model="auto"), seconds=60, max_trials=1,
                  space=SMALL_SPACE)  # fmt: skip
    assert [t.config.model for t in trials] == ["als"]
