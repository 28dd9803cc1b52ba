"""What UniPose reads from a batch besides the modality tensors: 2D detections, intrinsics, ground truth.

The collator keeps ``meta`` as a list of per-sample dicts, so intrinsics and ``skeleton_gt`` (SynthAct
puts both there) arrive untouched; 2D detections are the ``pose2d`` modality ``(B, 3, T, V, M)``.
Only the first person is lifted.
"""

from __future__ import annotations

import numpy as np
import torch

from fusion.errors import ContractError
from fusion.types import Batch, batch_field, batch_tensor
from fusion_plugins.unipose.geometry import intrinsics_tensor


def detections(batch: Batch, key: str = "pose2d") -> tuple[torch.Tensor, torch.Tensor]:
    """``(uv (B, T, V, 2) pixels, score (B, T, V))`` of the first person (the 2D detections' modality ``key``)."""
    pose = batch_tensor(batch, key, "unipose_lift")[..., 0]  # (B, C, T, V)
    uv = pose[:, :2].permute(0, 2, 3, 1)
    score = pose[:, 2] if pose.shape[1] > 2 else torch.ones_like(pose[:, 0])
    return uv.float(), score.float()


def intrinsics(batch: Batch, device=None, default: dict | None = None) -> torch.Tensor:
    """``(B, 4)`` from ``meta[i]['intrinsics']``; ``default`` (a fixed camera's) where samples carry none."""
    meta = batch.get("meta") or []
    if default is not None and not any(isinstance(m, dict) and "intrinsics" in m for m in meta):
        return intrinsics_tensor(default, len(batch_field(batch, "label", "unipose_lift")), device)
    return intrinsics_tensor(meta, device=device)


def ground_truth(batch: Batch, frames: int | None = None, device=None) -> torch.Tensor | None:
    """``(B, T, V, 3)`` clean joints of the first person from ``meta[i]['skeleton_gt']``, or None if absent."""
    meta = batch.get("meta") or []
    if not meta or any("skeleton_gt" not in m for m in meta):
        return None
    gt = torch.from_numpy(np.stack([np.asarray(m["skeleton_gt"], dtype=np.float32)[0] for m in meta]))
    if frames is not None and gt.shape[1] != frames:
        raise ContractError(
            f"unipose: meta skeleton_gt has {gt.shape[1]} frames but the clip has {frames}; temporal transforms "
            "do not resample meta, so sample frames in the dataset (e.g. synthact frames=...)"
        )
    return gt.to(device)
