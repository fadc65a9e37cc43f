"""The quality gate: a retrained model is published only if it does not fall behind.

The candidate's holdout NDCG@10 is compared with what the current version's settings
reach on the *same* holdout (refitted on the new data), so a drop means worse
settings, not a harder month.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..artifact import VersionStore
from ..config import TrainingConfig


def gate(
    candidate: Mapping[str, float],
    store: VersionStore,
    current: str,
    config: TrainingConfig,
    *,
    score: Callable[[TrainingConfig], float],
) -> dict[str, Any]:
    """The gate's verdict: ``passed``, both figures, and a sentence saying why.

    ``score`` gives the holdout NDCG@10 of other settings on the same data (refitted,
    by the engine that trained the candidate)."""
    current_config = TrainingConfig.from_dict(store.manifest(current).get("parameters", {}))
    same = current_config == config
    reference = candidate["ndcg@10"] if same else score(current_config)
    drop = reference - candidate["ndcg@10"]
    passed = drop <= config.max_ndcg_drop
    message = (
        f"holdout NDCG@10 {candidate['ndcg@10']:.4f} vs {reference:.4f} for the current"
        f" version {current}'s settings on the same holdout: "
        + ("within" if passed else "drops more than")
        + f" the allowed {config.max_ndcg_drop:g}"
    )
    return {"current": current, "current_ndcg@10": reference,
            "candidate_ndcg@10": candidate["ndcg@10"], "max_drop": config.max_ndcg_drop,
            "passed": passed, "message": message}  # fmt: skip
