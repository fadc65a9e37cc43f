from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from recsvc.cli import main
from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.evaluation.compare import report_dataset
from recsvc.evaluation.report import write_report
from recsvc.evaluation.selection import candidates
from recsvc.pipeline import read_dataset


def test_report_figures_and_page(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig, tmp_path: Path
) -> None:
    data = read_dataset(Files(*small_shop), fast_config)
    figures = report_dataset(data, fast_config)
    assert list(figures.metrics) == ["popularity", "als (library defaults)",
                                     "recsvc (als + next items, served)"]  # fmt: skip
    assert [label.split()[0] for label in figures.segments] == ["new", "light", "heavy"]
    for values in figures.popularity.values():
        assert np.all((values >= 0) & (values <= 100))
    # the popularity baseline recommends the most popular items
    assert (
        figures.popularity["popularity"].mean() > figures.popularity["bought (ground truth)"].mean()
    )
    page = tmp_path / "report.html"
    write_report(page, figures)
    text = page.read_text()
    assert text.count("<img") == 2
    assert "NDCG@10 by user activity" in text
    assert "recsvc (als + next items, served)" in text


def test_evaluate_writes_the_report_with_the_tuning_trials(
    small_shop: tuple[Path, Path], tmp_path: Path
) -> None:
    trials = tmp_path / "trials.csv"
    trials.write_text("trial,model,ndcg@10,coverage\n1,als,0.1,0.2\n2,blend,0.12,0.3\n")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, [
        "evaluate", "--events", str(small_shop[0]), "--items", str(small_shop[1]),
        "--factors", "8", "--iterations", "3", "--report", str(page),
        "--trials", str(trials)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert page.read_text().count("<img") == 3
    assert f"report: {page}" in result.output


def test_the_report_shows_the_models_choice(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig, tmp_path: Path
) -> None:
    config = fast_config.replace(model="auto")
    data = read_dataset(Files(*small_shop), config)
    figures = report_dataset(data, config)
    first_round = len(candidates(config, items=len(data.items)))
    assert len(figures.candidates) >= first_round  # and the winner's refinements, if any
    chosen = figures.candidates[0]["name"]
    page = tmp_path / "report.html"
    write_report(page, figures)
    text = page.read_text()
    assert "The model's choice" in text
    assert text.count("<tr>") >= len(figures.candidates)
    assert chosen.replace("+", "") in text.replace("+", "")
    assert not report_dataset(data, fast_config).candidates  # a fixed model: no choice
