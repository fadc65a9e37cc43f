"""Item neighbours: exact brute force against approximate indexes, side by side in one run.

    python scripts/benchmark_neighbours.py                          # 100,000 items
    python scripts/benchmark_neighbours.py --items 1000000 --events 20000000

A synthetic shop (recsvc.data.sample: power-law popularity within categories, a season
of new products, browsing follow-ups) is generated in memory and its user x item matrix
fitted by implicit's ALS with recsvc's defaults (32 factors, regularization 10, 15
iterations, seed 7). Each item's ``--k`` nearest items by the cosine of those factors
(what the product page's "similar" placement serves) are then found by:

- **exact**: recsvc's own path (``AlsModel.similar_items``: implicit's brute-force
  top-k in batches), the reference; above ``--exact-max`` items it is timed on a sample
  of items and the whole is extrapolated (marked so);
- **recsvc's index** (``recsvc.training.nearest.approximate``, what ``recsvc train``
  uses above ``RECSVC_SIMILAR_ITEMS_EXACT_MAX_ITEMS``: hnswlib, its graph built on one
  thread so the same factors give the same neighbours), its time build and search
  together;
- **hnswlib** and **faiss** (HNSW, and an inverted file) at a few settings, each built
  on the normalized factors with all cores and asked for every item's neighbours.

For each: build and query seconds (all cores), and recall@k against the exact
neighbours of ``--sample`` items drawn at random (the share of the exact top k that the
index also returns). With ``--users``, also each shopper's top 100 items, exact against
an HNSW index as a maximum inner product search (``users_top``). Needs faiss-cpu
installed (hnswlib is recsvc's own dependency).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from importlib.metadata import version

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsvc.data.sample import ShopShape, event_chunks
from recsvc.training import nearest
from recsvc.training.models.als import AlsModel


def shop_matrix(events: int, items: int, seed: int) -> sp.csr_matrix:
    """The synthetic shop's user x item matrix of interaction counts."""
    shape = ShopShape(events=events, items=items, users=max(50, events // 40), seed=seed)
    table = pa.concat_tables(event_chunks(shape))
    users = pc.dictionary_encode(table["user_id"]).combine_chunks().indices.to_numpy()
    # item ids are "p<number>": their number is their column, so every product has one
    item = pc.utf8_slice_codeunits(table["item_id"], 1)
    columns = pc.cast(item, pa.int64()).to_numpy()
    matrix = sp.csr_matrix((np.ones(len(users), np.float32), (users, columns)),
                           shape=(int(users.max()) + 1, shape.item_count))  # fmt: skip
    matrix.sum_duplicates()
    return matrix


def timed(call: Callable[[], object]) -> tuple[float, object]:
    """Seconds and result of ``call()``."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def _hnswlib(unit: np.ndarray, k: int, m: int, ef: int) -> tuple[Callable[[], object], Callable]:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=unit.shape[1])

    def build() -> None:
        index.init_index(max_elements=len(unit), M=m, ef_construction=200, random_seed=7)
        index.add_items(unit, np.arange(len(unit)), num_threads=0)
        index.set_ef(ef)

    def query(rows: np.ndarray) -> np.ndarray:
        labels, _ = index.knn_query(unit[rows], k=k + 1, num_threads=0)
        return labels

    return build, query


def _faiss_hnsw(unit: np.ndarray, k: int, m: int, ef: int) -> tuple[Callable[[], object], Callable]:
    import faiss

    index = faiss.IndexHNSWFlat(unit.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200

    def build() -> None:
        index.add(unit)
        index.hnsw.efSearch = ef

    def query(rows: np.ndarray) -> np.ndarray:
        return index.search(unit[rows], k + 1)[1]

    return build, query


def _faiss_ivf(
    unit: np.ndarray, k: int, lists: int, probe: int
) -> tuple[Callable[[], object], Callable]:
    import faiss

    quantizer = faiss.IndexFlatIP(unit.shape[1])
    index = faiss.IndexIVFFlat(quantizer, unit.shape[1], lists, faiss.METRIC_INNER_PRODUCT)

    def build() -> None:
        index.train(unit)
        index.add(unit)
        index.nprobe = probe

    def query(rows: np.ndarray) -> np.ndarray:
        return index.search(unit[rows], k + 1)[1]

    return build, query


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--items", default=100_000, show_default=True, help="Products in the shop.")
@click.option("--events", default=2_000_000, show_default=True, help="Events in the shop.")
@click.option("--k", default=50, show_default=True, help="Neighbours per item.")
@click.option("--sample", default=2_000, show_default=True,
              help="Items whose exact neighbours measure the recall.")  # fmt: skip
@click.option("--exact-max", default=200_000, show_default=True,
              help="Above this many items, exact is timed on a part and extrapolated.")  # fmt: skip
@click.option("--seed", default=7, show_default=True, help="The shop's and the sample's seed.")
@click.option("--libraries/--no-libraries", default=True, show_default=True,
              help="Also time hnswlib and faiss at other settings (the comparison).")  # fmt: skip
@click.option("--users", is_flag=True,
              help="Also each shopper's top 100 items, exact against an HNSW index.")  # fmt: skip
def main(
    items: int,
    events: int,
    k: int,
    sample: int,
    exact_max: int,
    seed: int,
    libraries: bool,
    users: bool,
) -> None:
    """Time exact and approximate item neighbours on one shop, with their recall."""
    import faiss

    seconds, matrix = timed(lambda: shop_matrix(events, items, seed))
    click.echo(f"shop: {matrix.shape[0]:,} users x {matrix.shape[1]:,} items, "
               f"{matrix.nnz:,} pairs ({seconds:.1f} s)")  # fmt: skip
    seconds, als = timed(lambda: AlsModel.fit(matrix, factors=32, regularization=10.0, alpha=1.0,
                                              iterations=15, seed=seed))  # fmt: skip
    click.echo(
        f"ALS fit: {seconds:.1f} s; {int((np.diff(matrix.tocsc().indptr) == 0).sum()):,} items"
        " nobody touched"
    )
    factors = np.ascontiguousarray(als.item_factors, dtype=np.float32)  # type: ignore[attr-defined]
    unit = nearest.unit_rows(factors)
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.choice(len(unit), size=min(sample, len(unit)), replace=False))
    kth = nearest.exact_kth(unit, queries, k)
    everything = np.arange(len(unit))

    rows = [("library", "settings", "build s", "query all s", "total s", f"recall@{k}")]
    if len(unit) <= exact_max:
        seconds, exact = timed(lambda: als.similar_items(k))
        found = exact.items  # type: ignore[attr-defined]
        rows.append(("exact (recsvc up to the threshold)", "implicit brute force", "0.0",
                     f"{seconds:.1f}", f"{seconds:.1f}",
                     f"{nearest.share_found(unit, queries, found[queries], kth):.4f}"))  # fmt: skip
    else:
        # the same brute force for the first 20,000 items against the whole catalog:
        # its cost grows with the items asked about, so the whole is that times n / 20,000
        part = np.arange(min(20_000, len(unit)))
        seconds, _ = timed(lambda: als.implicit.similar_items(part, N=k + 1))
        whole = seconds * len(unit) / len(part)
        rows.append(("exact (recsvc up to the threshold)",
                     f"implicit brute force, {len(part):,} items timed, extrapolated", "0.0",
                     f"~{whole:.0f}", f"~{whole:.0f}", "1 (by definition)"))  # fmt: skip
    seconds, shipped = timed(lambda: nearest.approximate(factors, k, seed=seed))
    rows.append(
        (
            "recsvc (hnswlib)",
            f"M={nearest.LINKS}, ef={nearest.EF_SEARCH}, built on one thread",
            "",
            "",
            f"{seconds:.1f}",
            f"{nearest.share_found(unit, queries, shipped.items[queries], kth):.4f}",
        )
    )  # type: ignore[attr-defined]
    candidates = [
        ("hnswlib", "M=16, ef=100", lambda: _hnswlib(unit, k, 16, 100)),
        ("hnswlib", "M=16, ef=200", lambda: _hnswlib(unit, k, 16, 200)),
        ("hnswlib", "M=32, ef=100", lambda: _hnswlib(unit, k, 32, 100)),
        ("faiss HNSW", "M=32, efSearch=100", lambda: _faiss_hnsw(unit, k, 32, 100)),
        ("faiss HNSW", "M=32, efSearch=200", lambda: _faiss_hnsw(unit, k, 32, 200)),
        (
            "faiss IVF",
            f"lists={int(4 * len(unit) ** 0.5)}, probe=16",
            lambda: _faiss_ivf(unit, k, int(4 * len(unit) ** 0.5), 16),
        ),
        (
            "faiss IVF",
            f"lists={int(4 * len(unit) ** 0.5)}, probe=64",
            lambda: _faiss_ivf(unit, k, int(4 * len(unit) ** 0.5), 64),
        ),
    ]
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    for library, settings, make in candidates if libraries else []:
        build, query = make()
        built, _ = timed(build)
        asked, labels = timed(functools.partial(query, everything))
        labels = np.asarray(labels)
        found = np.take_along_axis(labels, nearest.others(labels, everything, k), axis=1)
        rows.append((library, settings, f"{built:.1f}", f"{asked:.1f}", f"{built + asked:.1f}",
                     f"{nearest.share_found(unit, queries, found[queries], kth):.4f}"))  # fmt: skip
    click.echo(f"\nhnswlib {version('hnswlib')}, faiss {faiss.__version__}; recall over"
               f" {len(queries):,} random items\n")  # fmt: skip
    for n, row in enumerate(rows):
        click.echo("| " + " | ".join(row) + " |")
        if n == 0:
            click.echo("|---|---|---:|---:|---:|---:|")
    if users:
        click.echo("\nEach shopper's 100 best untouched items (ALS alone), exact against an"
                   " HNSW index as a maximum inner product search:\n")  # fmt: skip
        for line in users_top(als, matrix, seed):
            click.echo(line)


def users_top(als: AlsModel, matrix: sp.csr_matrix, seed: int) -> list[str]:
    """Every user's top 100 untouched items: exact (recsvc's ``AlsModel.top_items``:
    implicit's brute force, one thread), against an hnswlib index over the item factors
    with one more coordinate, sqrt(max norm^2 - norm^2), which turns the inner product
    into a cosine (users get 0 there); the index is asked for 100 plus the 99th
    percentile of touched items per user, the touched ones dropped. Recall@100 over every
    10th user."""
    import hnswlib

    seconds, (exact, _) = timed(lambda: als.top_items(matrix, 100))  # type: ignore[misc]
    lines = ["| method | build s | search all s | recall@100 |", "|---|---:|---:|---:|",
             f"| exact (recsvc) | | {seconds:.1f} | 1 |"]  # fmt: skip
    items = np.asarray(als.item_factors, dtype=np.float32)
    norms = np.linalg.norm(items, axis=1)
    lifted = np.hstack([items, np.sqrt(np.maximum(norms.max() ** 2 - norms**2, 0))[:, None]])
    people = np.asarray(als.user_factors, dtype=np.float32)
    people = np.hstack([people, np.zeros((len(people), 1), np.float32)])
    touched = np.diff(matrix.indptr)
    for ef in (200, 400):
        index = hnswlib.Index(space="ip", dim=lifted.shape[1])
        index.init_index(max_elements=len(lifted), M=16, ef_construction=200, random_seed=seed)
        built, _ = timed(lambda: index.add_items(lifted.astype(np.float32), num_threads=-1))  # noqa: B023
        index.set_ef(ef)
        asked = min(100 + int(np.percentile(touched, 99)), ef)
        searched, (labels, _) = timed(lambda: index.knn_query(people, k=asked, num_threads=-1))  # type: ignore[misc]  # noqa: B023
        hits = total = 0
        for user in range(0, len(people), 10):
            seen = set(matrix.indices[matrix.indptr[user] : matrix.indptr[user + 1]].tolist())
            got = [item for item in labels[user].tolist() if item not in seen][:100]
            truth = set(exact[user][exact[user] >= 0].tolist())
            hits, total = hits + len(truth & set(got)), total + len(truth)
        lines.append(f"| HNSW, M=16, ef={ef} | {built:.1f} | {searched:.1f} | {hits / total:.4f} |")
    return lines


if __name__ == "__main__":
    main()
