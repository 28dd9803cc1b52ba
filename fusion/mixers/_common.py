"""Small pieces shared by the multimodal mixers: time alignment, masking, feature-shape checks."""

from __future__ import annotations

import torch

from fusion.errors import ContractError, RecipeError

TIME_ALIGN = ("start", "centre")


def check_time_align(mode: str) -> None:
    """``mode`` must be one of :data:`TIME_ALIGN` (a recipe's ``time_align``); mixers call this at build time."""
    if mode not in TIME_ALIGN:
        raise RecipeError(f"time_align={mode!r} is not a time alignment; expected {' or '.join(TIME_ALIGN)}")


def check_feature_shape(
    mixer: str, modality: str, field: str, tensor: torch.Tensor, expected: tuple[int | str, ...], sizes: dict[str, int]
) -> None:
    """Fail with one sentence unless ``tensor`` has the ``expected`` shape, e.g. ``("B", 256)``.

    Integers must match exactly; a name (``"B"``) takes the size it first meets in ``sizes``, so
    every tensor checked with one ``sizes`` dict must agree on it (one batch size for all modalities).
    """
    shape = tuple(tensor.shape)
    known = {name: sizes[name] for name in expected if isinstance(name, str) and name in sizes}
    fits = len(shape) == len(expected) and all(
        size == (want if isinstance(want, int) else sizes.setdefault(want, size)) for size, want in zip(shape, expected)
    )
    if not fits:
        where = f" with {', '.join(f'{k}={v}' for k, v in known.items())} as in the other features" if known else ""
        raise ContractError(
            f"{mixer}: feature {modality!r} ({field}) has shape {shape} but ({', '.join(map(str, expected))}){where} "
            "was expected"
        )


def temporal_indices(
    source_len: int, target_len: int, device: torch.device | None = None, mode: str = "start"
) -> torch.Tensor:
    """Indices into a sequence of ``source_len`` frames for each of ``target_len`` frames.

    ``start``: ``floor(i * S / T)``; with ``S = k * T`` every k-th frame from 0 (EPAM-Net's 48 pose frames
    -> 16 RGB frames gives 0, 3, ..., 45, the official indices). ``centre``: ``floor((i + 1/2) * S / T)``,
    the middle of segment ``i``, which matches two streams sampled separately by uniform segments
    (test-time centre frames). With ``S == T`` both are the identity; with ``S < T`` frames repeat.
    """
    if source_len < 1 or target_len < 1:
        raise ContractError(
            f"time alignment: cannot map a sequence of {source_len} frames onto {target_len} frames; "
            "expected at least one frame on both sides"
        )
    check_time_align(mode)
    steps = torch.arange(target_len, device=device) * 2 + (1 if mode == "centre" else 0)
    return steps * source_len // (2 * target_len)


def align_time(x: torch.Tensor, target_len: int, dim: int, mode: str = "start") -> torch.Tensor:
    """``x`` with its ``dim`` axis resampled to ``target_len`` frames by :func:`temporal_indices`."""
    if x.shape[dim] == target_len:
        return x
    return x.index_select(dim, temporal_indices(x.shape[dim], target_len, x.device, mode))


def row_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``mask (B,)`` as a float tensor broadcastable against ``like (B, ...)``."""
    return mask.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def masked_mean(x: torch.Tensor, weights: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` weighted by ``weights`` (broadcastable, 0/1); zero where all weights are 0."""
    weights = weights.to(x.dtype)
    return (x * weights).sum(dim) / weights.sum(dim).clamp_min(1e-6)
