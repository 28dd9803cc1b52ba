"""Batch-level maskers used inside pretext objectives (torch, on the training device).

- :func:`token_mask`: MAE random masking (``tau <= 0``) or MAMP's motion-aware masking (``tau > 0``)
  of ``L`` tokens, keeping exactly ``int(L·(1 − ratio))`` per sample
  (rounded so that r = 0.9 keeps 75 of 750 tokens, the paper's figure; float arithmetic alone gives 74).
- :func:`body_region_mask`: SkeletonMAE's masking of whole body regions (joint sets of a layout).
- :func:`frame_joint_mask`: HiCLR's joint mask: per frame ``int(V·ratio)`` joints, one pattern for
  the whole batch (the objective replaces them by a learnable value).
- :func:`drop_add_edges`: random dropout and addition of adjacency entries (HiCLR's graph augmentation).

Every function takes an optional ``torch.Generator`` so tests can fix the draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fusion.errors import RecipeError


@dataclass
class TokenMask:
    """Which tokens an encoder sees.

    Attributes:
        keep: (N, L_keep) indices of the visible tokens, in draw order.
        restore: (N, L) inverse permutation: ``cat(visible, masked).gather(1, restore)`` is in token order.
        mask: (N, L) float, 1 = masked, 0 = visible.
    """

    keep: torch.Tensor
    restore: torch.Tensor
    mask: torch.Tensor


def token_motion(patches: torch.Tensor) -> torch.Tensor:
    """MAMP's token motion ``(N, TP, VP, P) → (N, TP·VP)``: mean |P[t] − P[t−1]| over the P values, ``m[0] = m[1]``."""
    motion = (patches[:, 1:] - patches[:, :-1]).abs().mean(-1)
    return torch.cat([motion[:, :1], motion], dim=1).flatten(1)


def token_mask(num: int, length: int, ratio: float, motion: torch.Tensor | None = None, tau: float = 0.0,
               generator: torch.Generator | None = None, device=None) -> TokenMask:
    """Mask ``length − int(length·(1 − ratio))`` tokens of each of ``num`` samples.

    ``tau <= 0`` (or no ``motion``): uniform random masking (MAE). ``tau > 0``: MAMP's rule with
    ``motion`` (N, L): ``m̃ = m / (max(m)·τ + 1e−10)``, ``π = softmax(m̃)``, score
    ``s = log π − log(−log(U + 1e−10) + 1e−10)`` (Gumbel), tokens sorted by ascending ``s`` and the first
    ``len_keep`` kept, so high-motion tokens are preferentially masked.
    """
    device = motion.device if motion is not None else device
    keep_count = int(length * (1 - ratio) + 1e-6)  # 750·(1 − 0.9) is 74.999…: keep the intended 75
    uniform = (torch.rand(num, length, generator=generator).to(device) if generator is not None
               else torch.rand(num, length, device=device))
    if tau > 0 and motion is not None:
        scaled = motion / (motion.amax(dim=1, keepdim=True) * tau + 1e-10)
        score = torch.log_softmax(scaled, dim=1) - torch.log(-torch.log(uniform + 1e-10) + 1e-10)
    else:
        score = uniform
    order = torch.argsort(score, dim=1)
    restore = torch.argsort(order, dim=1)
    mask = torch.ones(num, length, device=device)
    mask[:, :keep_count] = 0
    return TokenMask(keep=order[:, :keep_count], restore=restore, mask=torch.gather(mask, 1, restore))


def body_region_mask(num: int, regions: Sequence[Sequence[int]], num_joints: int, count: int | Sequence[int] = 1,
                     generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """(num, V) bool: for each sample, the union of ``count`` distinct regions drawn uniformly.

    ``count`` is an int or a list of ints to draw from per sample (e.g. ``[1, 2, 3]``).
    """
    counts = torch.as_tensor(count if not isinstance(count, int) else [count])
    if counts.min() < 1 or counts.max() > len(regions):
        raise RecipeError(f"body_region_mask, argument count: count {list(counts.tolist())} must lie in 1..{len(regions)} regions")
    member = torch.zeros(len(regions), num_joints, dtype=torch.bool)
    for r, joints in enumerate(regions):
        member[r, list(joints)] = True
    how_many = counts[torch.randint(len(counts), (num,), generator=generator)]
    order = torch.argsort(torch.rand(num, len(regions), generator=generator), dim=1)
    chosen = torch.arange(len(regions))[None] < how_many[:, None]  # first k of a random order
    picked = torch.zeros(num, len(regions), dtype=torch.bool).scatter(1, order, chosen)
    return ((picked.float() @ member.float()) > 0).to(device)


def frame_joint_mask(frames: int, num_joints: int, ratio: float, generator: torch.Generator | None = None,
                     device=None) -> torch.Tensor:
    """(T, V) bool with exactly ``int(V·ratio)`` masked joints in every frame (HiCLR's joint mask)."""
    count = int(num_joints * ratio)
    order = torch.argsort(torch.rand(frames, num_joints, generator=generator), dim=1)
    return (torch.argsort(order, dim=1) < count).to(device)


def drop_add_edges(adjacency: torch.Tensor, drop_rate: float, add_rate: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Randomly zero a fraction ~U(0, drop_rate) of the entries and set a fraction ~U(0, add_rate) of the zeros to 1.

    ``adjacency`` (..., V, V); the rates are drawn once per call. Zero rates return the input.
    """
    if drop_rate <= 0 and add_rate <= 0:
        return adjacency
    rates = torch.rand(2, generator=generator) * torch.tensor([drop_rate, add_rate])
    noise = torch.rand(2, *adjacency.shape, generator=generator).to(adjacency.device)
    kept = adjacency * (noise[0] >= rates[0]).to(adjacency.dtype)
    added = ((adjacency == 0) & (noise[1] < rates[1])).to(adjacency.dtype)
    return kept + added
