"""Each item's nearest items by the cosine of their factors, for the product page's
similar items: exact up to a catalog size, an HNSW graph (hnswlib) above it.

Exact brute force costs items x items: 25-28 s at 100,000 items on the 2-core development
machine, so about 45 minutes at 1M by the same arithmetic. Above
``TrainingConfig.similar_items_exact_max_items`` the neighbours come from an HNSW graph
over the normalized factors instead, and their recall against the exact neighbours is
measured on a sample of items and kept in the manifest. hnswlib was chosen over faiss
(HNSW and an inverted file) on a measured comparison, ``scripts/benchmark_neighbours.py``
(docs/training-speed.md): at 1M items it reached a recall@50 of 0.986 in 182 s where
faiss's HNSW took 237 s for 0.977 and its inverted file 128 s for 0.969; and its threads
end with each call, where faiss keeps an OpenMP pool that a later fork could hang on
(docs/architecture.md).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from tqdm import tqdm

#: HNSW settings: links per node, and the candidate lists of building and of searching
#: (at least twice the neighbours asked for): a recall@50 against exact of 0.986 at 1M
#: items, where ef=100 gave 0.957 (docs/training-speed.md)
LINKS = 16
EF_CONSTRUCTION = 200
EF_SEARCH = 200
#: items whose exact neighbours measure an index's recall
RECALL_SAMPLE = 1_000


class Neighbours(NamedTuple):
    """Each item's nearest items (-1 padded) and their cosines, best first; how they were
    found, and (for an index) their measured recall."""

    items: np.ndarray
    scores: np.ndarray
    method: str
    #: the share of the exact neighbours the index found, on a sample of items
    recall: float | None = None

    def summary(self) -> dict[str, object]:
        """What the manifest keeps of them."""
        found = {"method": self.method, "per_item": int(self.items.shape[1])}
        if self.recall is not None:
            sample = min(RECALL_SAMPLE, len(self.items))
            found |= {"recall": round(self.recall, 4), "recall_sample": sample}
        return found


def unit_rows(factors: np.ndarray) -> np.ndarray:
    """The factors scaled to unit length (rows of zeros stay zeros), as float32."""
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    return np.ascontiguousarray(factors / np.where(norms > 0, norms, 1), dtype=np.float32)


def approximate(
    factors: np.ndarray,
    k: int,
    *,
    seed: int,
    ef: int | None = None,
    batch: int = 50_000,
    show_progress: bool = False,
) -> Neighbours:
    """Each item's ``k`` nearest others through an HNSW graph. The graph is built on one
    thread, so the same factors give the same neighbours; it is searched on all cores.
    Both go in batches of items, with a progress bar when asked."""
    import hnswlib

    unit = unit_rows(factors)
    count = len(unit)
    k = min(k, count - 1)
    index = hnswlib.Index(space="ip", dim=unit.shape[1])
    index.init_index(max_elements=count, M=LINKS, ef_construction=EF_CONSTRUCTION,
                     random_seed=seed)  # fmt: skip
    starts = range(0, count, batch)
    for start in tqdm(starts, desc="index items", unit=" batches", disable=not show_progress):
        index.add_items(unit[start:start + batch], np.arange(start, min(start + batch, count)),
                        num_threads=1)  # fmt: skip
    index.set_ef(max(ef or EF_SEARCH, 2 * (k + 1)))
    items = np.empty((count, k), dtype=np.int32)
    scores = np.empty((count, k), dtype=np.float32)
    for start in tqdm(starts, desc="nearest items per item", unit=" batches",
                      disable=not show_progress):  # fmt: skip
        rows = np.arange(start, min(start + batch, count))
        labels, distances = index.knn_query(unit[rows], k=k + 1, num_threads=-1)
        order = others(labels, rows, k)
        items[rows] = np.take_along_axis(labels, order, axis=1)
        scores[rows] = 1 - np.take_along_axis(distances, order, axis=1)  # 1 - inner product
    return Neighbours(items, scores, "hnsw", sampled_recall(unit, items, seed))


def others(labels: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Where each row's first ``k`` labels other than the row's own item are (for
    ``np.take_along_axis``): asked for ``k + 1`` neighbours, an item normally finds
    itself first; where it does not, its last label is left out instead."""
    return np.argsort(labels == rows[:, None], axis=1, kind="stable")[:, :k]


def exact_kth(unit: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The exact ``k``-th best cosine of each of ``rows`` with the other items (unit-length
    factors), scanning the catalog for 100 rows at a time."""
    kth = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 100):
        part = rows[start : start + 100]
        scores = unit[part] @ unit.T
        scores[np.arange(len(part)), part] = -np.inf
        kth[start : start + 100] = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    return kth


def share_found(unit: np.ndarray, rows: np.ndarray, found: np.ndarray, kth: np.ndarray) -> float:
    """The share of the neighbours ``found`` for ``rows`` (-1 padded) that are among the
    exact ones: their cosine at least the exact k-th best (``kth``), so ties count (such
    as the factors of products nobody touched, all alike)."""
    scores = np.einsum("rf,rkf->rk", unit[rows], unit[np.maximum(found, 0)])
    return float(np.mean((scores >= kth[:, None] - 1e-5) & (found >= 0)))


def sampled_recall(unit: np.ndarray, items: np.ndarray, seed: int) -> float:
    """The share of found neighbours that are among the exact ones, over a random
    sample of items (:func:`share_found`)."""
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(unit), size=min(RECALL_SAMPLE, len(unit)), replace=False)
    return share_found(unit, sample, items[sample], exact_kth(unit, sample, items.shape[1]))
