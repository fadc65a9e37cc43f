"""The taste index: the trained items' factors in clusters, so that a catalog scan for a
taste (a session folded in, a cart, a shopper past their precomputed items) scores the
items of a few clusters instead of the whole catalog.

An inverted file for maximum inner product search: every factor row is lifted to unit
length by one more coordinate, ``[x, sqrt(M^2 - |x|^2)] / M`` (M the largest norm),
which keeps each taste's ranking of the items and lets clusters of directions stand for
them (Bachrach et al., 2014). The clusters are k-means centroids of a sample
(``scipy.cluster.vq.kmeans2``), every item goes to its nearest centroid, and a taste
probes the clusters whose centroids score it highest. How many it probes is chosen at
training, the fewest that find the wanted share (``RECALL``) of the exact top 10 of
sampled shoppers' tastes; the share reached is kept in the manifest.

Why not a library's index: faiss keeps an OpenMP pool, which a serving process must
never start (docs/architecture.md), and an hnswlib graph is read into each worker's
own memory, where these are three plain arrays, memory-mapped and shared by every
worker like the rest of the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.cluster.vq import kmeans2

from ..artifact.model import TasteIndex

#: clusters: the square root of the items (1,000 of 1,000 items at a million), so a
#: probe scores about as many centroids as items per cluster; points the centroids
#: are fitted on, per cluster
SAMPLE_PER_CLUSTER = 32
#: k-means iterations on the sample
ITERATIONS = 10
#: the share of sampled tastes' exact top 10 the probed clusters must hold
RECALL = 0.95
TOP = 10
#: shoppers' tastes that measure the recall
RECALL_SAMPLE = 1_000


@dataclass(frozen=True)
class Built:
    """An index and what the manifest keeps of it."""

    index: TasteIndex
    summary: dict[str, Any]


def for_catalog(
    item_factors: np.ndarray,
    popularity: np.ndarray,
    user_factors: np.ndarray,
    *,
    exact_max_items: int,
    seed: int,
) -> Built | None:
    """The index a version holds: none up to ``exact_max_items`` items (a scan scores
    them all); above, the items with interactions (the ones a taste ranks) clustered."""
    if len(item_factors) <= exact_max_items:
        return None
    trained = np.asarray(popularity)[: len(item_factors)] > 0
    return build(item_factors, trained, user_factors, seed=seed)


def lifted(factors: np.ndarray) -> np.ndarray:
    """Factor rows lifted to unit length by one more coordinate (see the module)."""
    norms = np.linalg.norm(factors, axis=1)
    top = float(norms.max()) or 1.0
    extra = np.sqrt(np.maximum(top**2 - norms**2, 0))
    return np.hstack([factors, extra[:, None]]).astype(np.float32) / np.float32(top)


def nearest_centroid(points: np.ndarray, centroids: np.ndarray, batch: int = 65_536) -> np.ndarray:
    """Each point's nearest centroid (Euclidean), through matrix products in batches."""
    half = 0.5 * np.einsum("cf,cf->c", centroids, centroids)
    found = np.empty(len(points), dtype=np.int32)
    for start in range(0, len(points), batch):
        part = points[start : start + batch]
        found[start : start + batch] = np.argmax(part @ centroids.T - half, axis=1)
    return found


def build(item_factors: np.ndarray, trained: np.ndarray, tastes: np.ndarray, *, seed: int) -> Built:
    """Cluster the ``trained`` items' factors and choose how many clusters a taste probes,
    on a sample of ``tastes`` (the shoppers' factors)."""
    rows = np.flatnonzero(trained).astype(np.int32)
    points = lifted(np.asarray(item_factors, dtype=np.float32)[rows])
    clusters = max(1, min(round(np.sqrt(len(rows))), 4_096))
    rng = np.random.default_rng(seed)
    sample = points[rng.choice(len(points), min(len(points), clusters * SAMPLE_PER_CLUSTER),
                               replace=False)]  # fmt: skip
    centroids, _ = kmeans2(sample, clusters, iter=ITERATIONS, minit="points", seed=seed)
    centroids = centroids.astype(np.float32)
    cluster = nearest_centroid(points, centroids)
    order = np.argsort(cluster, kind="stable")
    index = TasteIndex(
        centroids=centroids,
        starts=np.searchsorted(cluster[order], np.arange(clusters + 1)).astype(np.int64),
        items=rows[order],
        probe=1,
    )
    probe, recall = _probe_for(index, item_factors, rows, cluster, tastes, rng)
    index = TasteIndex(index.centroids, index.starts, index.items, probe)
    summary = {"method": "clusters", "clusters": clusters, "probe": probe,
               f"recall_at_{TOP}": round(recall, 4),
               "recall_sample": min(RECALL_SAMPLE, len(tastes)),
               "items_probed": round(probe / clusters * len(rows))}  # fmt: skip
    return Built(index, summary)


def _probe_for(
    index: TasteIndex,
    item_factors: np.ndarray,
    rows: np.ndarray,
    cluster: np.ndarray,
    tastes: np.ndarray,
    rng: np.random.Generator,
) -> tuple[int, float]:
    """The fewest clusters to probe so that they hold ``RECALL`` of sampled tastes' exact
    top ``TOP`` trained items, and the share they hold."""
    clusters = len(index.centroids)
    sample = np.asarray(tastes, dtype=np.float32)
    sample = sample[rng.choice(len(sample), min(RECALL_SAMPLE, len(sample)), replace=False)]
    sample = sample[np.linalg.norm(sample, axis=1) > 0]
    if not len(sample) or clusters == 1:
        return clusters, 1.0
    factors = np.asarray(item_factors, dtype=np.float32)[rows]
    top = min(TOP, len(rows))
    # where each exact top item's cluster ranks among the clusters, per taste
    ranks = np.empty((len(sample), top), dtype=np.int64)
    for start in range(0, len(sample), 100):
        part = sample[start : start + 100]
        scores = part @ factors.T
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        order = np.argsort(-(part @ index.centroids[:, :-1].T), axis=1)
        position = np.empty_like(order)
        np.put_along_axis(position, order, np.arange(clusters)[None, :], axis=1)
        ranks[start : start + 100] = np.take_along_axis(position, cluster[best], axis=1)
    needed = int(np.ceil(RECALL * ranks.size))  # of the exact top items, in probed clusters
    probe = int(np.sort(ranks, axis=None)[needed - 1]) + 1
    return probe, float(np.mean(ranks < probe))
