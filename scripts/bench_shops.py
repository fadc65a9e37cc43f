"""What the benchmark scripts share: where their synthetic shops are kept between
runs (``--data``), and making one once (``scripts/sample_data.py``, Parquet)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]

#: the benchmarks' ``--data`` option
data_option = click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "var" / "bench",
    show_default=True,
    help="Where the synthetic shops are kept between runs.",
)


def shop(folder: Path, events: int, *options: str) -> Path:
    """``folder``, holding events.parquet and items.parquet of a synthetic shop of about
    ``events`` events (``options``: more of sample_data.py's), written the first time."""
    if not (folder / "events.parquet").is_file():
        subprocess.run([sys.executable, ROOT / "scripts" / "sample_data.py", "--out", folder,
                        "--events", str(events), "--format", "parquet", *options],
                       check=True)  # fmt: skip
    return folder
