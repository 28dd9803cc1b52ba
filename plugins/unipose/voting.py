"""Joints from per-point closeness and direction maps: every point votes, the closest ones count.

C3P / UniPose decoding, differentiable in both maps: point ``p_i`` votes for joint
``j`` at ``p_i + (1 - H_ij) (R / l) V_ij`` (``R`` the true radius in metres, ``l`` the box scale, so
``R / l`` is the radius in the normalised frame, ``V`` a unit direction); the joint is the
``H``-weighted mean of the votes of the ``k`` points with the largest ``H``. A ``weight`` map (e.g.
``H`` times the 2D-detection heat of each point) may replace ``H`` for choosing and weighting votes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vote_joints(points: torch.Tensor, hm: torch.Tensor, radius: torch.Tensor | float, k: int,
                weight: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """``points (B, N, 3)`` and ``hm (B, J, 4, N)`` (H, then V) -> joints ``(B, J, 3)`` in the points' frame.

    ``radius`` is a float or ``(B,)`` (the voting radius in the frame of ``points``); ``weight (B, J, N)``
    chooses and weights the votes instead of ``H`` when given.
    """
    closeness = hm[:, :, 0]  # (B, J, N)
    direction = F.normalize(hm[:, :, 1:], dim=2, eps=eps).transpose(2, 3)  # (B, J, N, 3)
    radius = torch.as_tensor(radius, dtype=points.dtype, device=points.device).reshape(-1, 1, 1)
    reach = ((1.0 - closeness) * radius).unsqueeze(-1)
    votes = points.unsqueeze(1) + reach * direction  # (B, J, N, 3)
    score = closeness if weight is None else weight
    top, index = score.topk(min(k, score.shape[-1]), dim=-1)  # (B, J, k)
    chosen = votes.gather(2, index.unsqueeze(-1).expand(-1, -1, -1, 3))
    return (chosen * top.unsqueeze(-1)).sum(2) / top.sum(-1, keepdim=True).clamp_min(eps)
