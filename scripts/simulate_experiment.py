"""Prove the experiment loop on a running service: simulated shoppers, real HTTP.

The shoppers are the synthetic shop's (recsvc.data.sample: the shop `make run` serves),
with the category tastes the generator drew for them. Each visit asks the service for
a home list (`GET /v1/users/{id}/recommendations`), and the shopper looks down it:
they open an item with a probability that falls with its position and grows with how
much they like its category, and buy what they opened with a probability that grows
the same way; the events go back to the service (`POST /v1/events`) with the list's
recommendation_id (half the purchases without it, as checkouts that lose the id: the
attribution window credits them). The experiment's verdict is then read from
`GET /v1/experiments/{name}`.

    # an A/B run: the current version against a worse one, 6,000 visits
    python scripts/simulate_experiment.py ab --a 20261128T000000Z --b 20261128T000100Z
    # A/A runs: the same version twice, 20 times; how often is a difference "found"?
    python scripts/simulate_experiment.py aa --version 20261128T000000Z --runs 20

The service must serve the sample shop (`make run`), with the admin and write keys.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import click
import numpy as np
import requests

from recsvc.data.sample import CATEGORIES, ShopShape, shoppers_of

#: how shoppers react: chance to open the first item of a list they fully like, how it
#: falls with the position (1 / log2(position + 1)), and chance to buy what they opened
OPEN_FIRST = 0.04
BUY_OPENED = 0.2


@dataclass
class Shop:
    """A running service and the simulated shoppers who visit it."""

    url: str
    admin_key: str
    write_key: str
    shape: ShopShape
    rng: np.random.Generator

    def __post_init__(self) -> None:
        self.http = requests.Session()
        activity, taste = shoppers_of(self.shape)
        self.activity = activity
        # how much each shopper likes each category, their favourite at 1
        self.liking = taste / taste.max(axis=1, keepdims=True)
        self.category = {name: n for n, name in enumerate(CATEGORIES)}

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        answer = self.http.request(method, self.url + path, headers=headers, timeout=30, **kwargs)
        if answer.status_code >= 400:
            raise click.ClickException(f"{method} {path}: {answer.status_code} {answer.text}")
        return answer.json()

    def visit(self, n: int) -> tuple[int, int]:
        """One visit of a shopper drawn by activity: (items opened, bought)."""
        user = int(self.rng.choice(len(self.activity), p=self.activity))
        answer = self.http.get(f"{self.url}/v1/users/u{user}/recommendations",
                               params={"n": 10}, timeout=30)  # fmt: skip
        answer.raise_for_status()
        body = answer.json()
        now, events, opened, bought = int(time.time()), [], 0, 0
        for position, item in enumerate(body["items"], start=1):
            like = self.liking[user, self.category.get(item.get("category") or "", 0)]
            if self.rng.random() >= OPEN_FIRST * like / np.log2(position + 1):
                continue
            opened += 1
            events.append({"event_id": f"sim-{n}-{position}-v", "user_id": f"u{user}",
                           "item_id": item["item_id"], "event_type": "view", "timestamp": now,
                           "recommendation_id": body["recommendation_id"]})  # fmt: skip
            if self.rng.random() < BUY_OPENED * like:
                bought += 1
                keeps_id = self.rng.random() < 0.5
                events.append({"event_id": f"sim-{n}-{position}-p", "user_id": f"u{user}",
                               "item_id": item["item_id"], "event_type": "purchase",
                               "timestamp": now + 1,
                               **({"recommendation_id": body["recommendation_id"]}
                                  if keeps_id else {})})  # fmt: skip
        if events:
            posted = self.http.post(f"{self.url}/v1/events", json={"events": events},
                                    headers={"X-API-Key": self.write_key}, timeout=30)  # fmt: skip
            posted.raise_for_status()
        return opened, bought

    def run(self, name: str, variants: list[dict[str, Any]], visits: int, metric: str,
            *, quiet: bool = False) -> dict[str, Any]:  # fmt: skip
        """Start experiment ``name``, send ``visits``, wait for every impression to be
        counted, stop it; its report."""
        self.admin("POST", "/v1/experiments", json={"name": name, "placement": "home",
                                                     "variants": variants})  # fmt: skip
        time.sleep(2.0)  # every worker follows experiments within its catalog interval
        start = time.monotonic()
        with click.progressbar(range(visits), label=name, hidden=quiet) as bar:
            for n in bar:
                self.visit(n)
        report: dict[str, Any] = {}
        deadline = time.monotonic() + 60  # impressions are written within a second or so
        while time.monotonic() < deadline:
            report = self.admin("GET", f"/v1/experiments/{name}", params={"metric": metric})
            if sum(v["impressions"] for v in report["variants"]) >= visits * 0.99:
                break
            time.sleep(0.5)
        self.admin("POST", f"/v1/experiments/{name}/stop")
        report["seconds"] = round(time.monotonic() - start, 1)
        return report


def _options(command: Any) -> Any:
    for option in reversed([
        click.option("--url", default="http://127.0.0.1:8000", show_default=True),
        click.option("--admin-key", default=os.environ.get("RECSVC_ADMIN_KEY", "local-admin-key"),
                     show_default="$RECSVC_ADMIN_KEY or make run's"),
        click.option("--write-key", default=os.environ.get("RECSVC_WRITE_KEY", "local-write-key"),
                     show_default="$RECSVC_WRITE_KEY or make run's"),
        click.option("--visits", type=click.IntRange(min=100), default=6000, show_default=True,
                     help="Visits (impressions) per experiment."),
        click.option("--metric", type=click.Choice(["views", "add_to_carts", "purchases"]),
                     default="views", show_default=True, help="What the verdict is on."),
        click.option("--seed", type=int, default=1, show_default=True,
                     help="The simulation's randomness (the shop's is ShopShape's)."),
    ]):  # fmt: skip
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Simulated shoppers against a running recsvc: A/B and A/A experiments."""


@main.command()
@click.option("--a", "version_a", required=True, help="The control's model version.")
@click.option("--b", "version_b", required=True, help="The other variant's version.")
@_options
def ab(version_a: str, version_b: str, url: str, admin_key: str, write_key: str, visits: int,
       metric: str, seed: int) -> None:  # fmt: skip
    """One experiment between two versions: which one do the shoppers prefer?"""
    shop = Shop(url, admin_key, write_key, ShopShape(), np.random.default_rng(seed))
    name = f"sim-ab-{int(time.time())}"
    variants = [{"name": "a", "version": version_a, "weight": 1},
                {"name": "b", "version": version_b, "weight": 1}]  # fmt: skip
    report = shop.run(name, variants, visits, metric)
    for v in report["variants"]:
        rate = v[f"{metric}_per_impression"]
        click.echo(f"{v['name']} ({v['version']}): {v['impressions']:,} impressions, {metric}"
                   f" {v[metric]:,} ({100 * rate['rate']:.2f}% [{100 * rate['low']:.2f},"
                   f" {100 * rate['high']:.2f}]), purchases {v['purchases']:,}")  # fmt: skip
    for c in report["comparisons"]:
        click.echo(
            f"b - a on {c['metric']}: {100 * c['difference']:+.2f} points"
            f" [{100 * c['low']:+.2f}, {100 * c['high']:+.2f}], p = {c['p_value']:.2g}"
        )
    click.echo(f"verdict on {metric}: {report['verdict']} ({report['seconds']} s)")


@main.command()
@click.option("--version", required=True, help="The version both variants serve.")
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True)
@_options
def aa(version: str, runs: int, url: str, admin_key: str, write_key: str, visits: int,
       metric: str, seed: int) -> None:  # fmt: skip
    """The same version against itself, ``--runs`` times: how often the test calls a
    difference that is not there (it should be about its 5% level)."""
    shop = Shop(url, admin_key, write_key, ShopShape(), np.random.default_rng(seed))
    found, p_values = 0, []
    for run in range(runs):
        name = f"sim-aa-{int(time.time())}-{run}"
        report = shop.run(name, [{"name": "a", "version": version, "weight": 1},
                                 {"name": "b", "version": version, "weight": 1}],
                          visits, metric, quiet=True)  # fmt: skip
        on_metric = next(c for c in report["comparisons"] if c["metric"] == metric)
        p_values.append(on_metric["p_value"])
        found += report["winner"] is not None
        click.echo(f"run {run + 1}: p = {on_metric['p_value']:.3f}, {report['verdict']}")
    click.echo(f"A/A: a difference called in {found} of {runs} runs"
               f" ({100 * found / runs:.0f}%; the test's level is 5%);"
               f" p-values: median {np.median(p_values):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
