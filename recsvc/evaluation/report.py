"""The evaluation report for people: one self-contained HTML page with tables and plots.

What it shows, all from one holdout in one run: the metrics of the served model beside
the baselines; NDCG@10 by user activity (the scored users split into thirds by their
number of training events: new, light, heavy); popularity bias (how popular the
recommended items are, against the items users went on to buy); and, given the CSV of
a `recsvc tune` run, every trial's validation NDCG@10 against its coverage.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .metrics import METRICS


@dataclass(frozen=True)
class ReportData:
    """What the report shows."""

    title: str
    #: model name -> metric -> value
    metrics: Mapping[str, Mapping[str, float]]
    #: segment label -> model name -> mean NDCG@10
    segments: Mapping[str, Mapping[str, float]]
    #: model name -> popularity percentile (0-100) of each recommended item; "bought"
    #: holds the ground truth's
    popularity: Mapping[str, np.ndarray]
    notes: Sequence[str] = ()
    #: with model auto: the candidates of the choice, best first (Candidate.row())
    candidates: Sequence[Mapping[str, Any]] = ()


def write_report(path: Path, data: ReportData, *, trials: Path | None = None) -> None:
    """Write the HTML page (plots inlined as PNG)."""
    parts = [
        f"<h1>{html.escape(data.title)}</h1>",
        *(f"<p>{html.escape(note)}</p>" for note in data.notes),
        "<h2>Metrics</h2>",
        _table(
            ["model", *METRICS],
            [[name, *(f"{row[m]:.4f}" for m in METRICS)] for name, row in data.metrics.items()],
        ),
        "<h2>NDCG@10 by user activity</h2>",
        _image(_segments_plot(data.segments)),
        _table(
            ["segment", *next(iter(data.segments.values()), {})],
            [[label, *(f"{v:.4f}" for v in row.values())] for label, row in data.segments.items()],
        ),
        "<h2>Popularity bias</h2>",
        "<p>Popularity percentile of the recommended items (100: the most popular item),"
        " against the items the users went on to buy.</p>",
        _image(_popularity_plot(data.popularity)),
        _table(
            ["model", "mean percentile", "share from the top 10%"],
            [
                [name, f"{values.mean():.1f}", f"{(values >= 90).mean():.3f}"]
                for name, values in data.popularity.items()
                if len(values)
            ],
        ),
    ]
    if data.candidates:
        parts += [
            "<h2>The model's choice</h2>",
            "<p>Every candidate, scored through the serving recommender on a validation part"
            " of the training data; the first was chosen and is the served row above.</p>",
            _table(
                ["candidate", "validation NDCG@10", "95% interval", "coverage", "seconds"],
                [[row["name"], f"{row['ndcg@10']:.4f}",
                  f"[{row['ndcg@10 low']:.4f}, {row['ndcg@10 high']:.4f}]",
                  f"{row['coverage']:.4f}", f"{row['seconds']:.1f}"]
                 for row in data.candidates],
            ),
        ]  # fmt: skip
    if trials is not None:
        parts += ["<h2>Tuning trials</h2>", _image(_trials_plot(trials))]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(data.title)}</title><style>"
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
        "</style></head><body>" + "\n".join(parts) + "</body></html>"
    )
    path.write_text(page, encoding="utf-8")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<img alt='plot' src='data:image/png;base64,{encoded}'>"


def _segments_plot(segments: Mapping[str, Mapping[str, float]]) -> Figure:
    figure = Figure(figsize=(8, 3.5))
    axes = figure.subplots()
    labels = list(segments)
    models = list(next(iter(segments.values()), {}))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        axes.bar(np.arange(len(labels)) + i * width, [segments[s][model] for s in labels],
                 width, label=model)  # fmt: skip
    axes.set_xticks(np.arange(len(labels)) + width * (len(models) - 1) / 2, labels)
    axes.set_ylabel("NDCG@10")
    axes.set_ylim(top=axes.get_ylim()[1] * 1.35)  # room for the legend above the bars
    axes.legend(fontsize="small", loc="upper left")
    return figure


def _popularity_plot(popularity: Mapping[str, np.ndarray]) -> Figure:
    figure = Figure(figsize=(8, 3.5))
    axes = figure.subplots()
    bins = np.linspace(0, 100, 21).tolist()
    for name, values in popularity.items():
        if len(values):
            axes.hist(values, bins=bins, histtype="step", density=True, label=name, linewidth=1.5)
    axes.set_xlabel("popularity percentile of the item")
    axes.set_ylabel("share")
    axes.legend(fontsize="small")
    return figure


def _trials_plot(path: Path) -> Figure:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    for model in sorted({r["model"] for r in rows}):
        chosen = [r for r in rows if r["model"] == model]
        axes.scatter([float(r["coverage"]) for r in chosen],
                     [float(r["ndcg@10"]) for r in chosen], s=12, label=model)  # fmt: skip
    axes.set_xlabel("catalog coverage (validation)")
    axes.set_ylabel("NDCG@10 (validation)")
    axes.legend(fontsize="small")
    return figure
