"""Multi-stream score ensembling: the weighted sum of per-stream class scores that skeleton papers report.

Each stream (joint, bone, joint-motion, bone-motion; or PSUMNet's body/hand/leg parts) is trained as
its own run; the reported accuracy is that of ``Σ_s w_s · scores_s``. Weights come from the recipe;
:data:`KNOWN_WEIGHTS` holds the ones the reference code uses. The sum itself is the core's
:func:`fusion.bench.fuse.weighted_sum` (the one ``fusion fuse-scores`` uses); this module names streams.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fusion.bench.fuse import weighted_sum
from fusion.errors import RecipeError

#: Stream weights from the reference implementations.
KNOWN_WEIGHTS: dict[str, dict[str, float]] = {
    # CTR-GCN ensemble.py, NTU 4-stream: joint, bone, joint motion, bone motion.
    "ctrgcn_4s": {"joint": 0.6, "bone": 0.6, "motion": 0.4, "bone_motion": 0.4},
    # pyskl / ST-GCN++ 4-stream: equal weights.
    "pyskl_4s": {"joint": 1.0, "bone": 1.0, "motion": 1.0, "bone_motion": 1.0},
    # PSUMNet ensemble.py: part streams.
    "psumnet": {"body": 1.8, "hand": 1.5, "leg": 0.5},
}


def ensemble_scores(scores: Mapping[str, np.ndarray], weights: Mapping[str, float] | str | None = None,
                    softmax: bool = False) -> np.ndarray:
    """Weighted sum of per-stream scores.

    Args:
        scores: stream name → ``(N, K)`` scores (logits, or probabilities), all for the same N samples
            in the same order (numpy arrays or anything ``np.asarray`` accepts, e.g. CPU tensors).
        weights: stream name → weight (a recipe's mapping), the name of an entry of
            :data:`KNOWN_WEIGHTS`, or ``None`` for equal weights. Every stream in ``scores`` needs a
            weight; weights for streams that are absent are an error too (a typo would silently drop
            a stream otherwise).
        softmax: turn each stream's logits into probabilities before weighting (the raw-logit sum is
            what CTR-GCN and PSUMNet report; softmax makes streams with large logits count less).

    Returns:
        ``(N, K)`` float64 ensemble scores; ``argmax(-1)`` is the prediction.
    """
    if not scores:
        raise RecipeError("ensemble_scores: no stream scores given")
    if isinstance(weights, str):
        if weights not in KNOWN_WEIGHTS:
            raise RecipeError(f"unknown ensemble weights {weights!r}; known: {', '.join(KNOWN_WEIGHTS)}")
        weights = KNOWN_WEIGHTS[weights]
    weights = {name: 1.0 for name in scores} if weights is None else dict(weights)
    if set(weights) != set(scores):
        raise RecipeError(
            f"ensemble weights name streams {sorted(weights)} but scores are given for {sorted(scores)}"
        )
    arrays = {name: np.asarray(s, dtype=np.float64) for name, s in scores.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise RecipeError(f"ensemble_scores: every stream needs (N, K) scores of one shape, got {sorted(shapes)}")
    return weighted_sum(list(arrays.values()), [weights[name] for name in arrays], softmax)
