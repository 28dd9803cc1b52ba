"""Point-cloud primitives in plain, batched torch: sampling, neighbourhoods, gathering, interpolation.

Everything is channel-last, ``xyz (B, N, 3)`` and ``features (B, N, C)``, vectorised over the batch (fold
time into it: ``(B * T, N, C)``). No compiled extensions, so the same code runs on CPU, CUDA and MPS;
the price is O(M * N) memory for distance matrices, fine for the few thousand points of a person.
"""

from __future__ import annotations

import torch

from fusion.errors import ContractError


def gather_points(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``x (B, N, C)`` indexed by ``idx (B, ...)`` -> ``(B, ..., C)``."""
    batch = x.shape[0]
    flat = idx.reshape(batch, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return out.reshape(*idx.shape, x.shape[-1])


def square_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``(B, M, N)`` between ``a (B, M, 3)`` and ``b (B, N, 3)``."""
    return (a.unsqueeze(2) - b.unsqueeze(1)).pow(2).sum(-1)


@torch.no_grad()
def farthest_point_sample(xyz: torch.Tensor, num_samples: int, start: torch.Tensor | None = None) -> torch.Tensor:
    """Indices ``(B, num_samples)`` of a farthest-point sampling of ``xyz (B, N, 3)``.

    Each pick is the point farthest from all previous picks, so the samples cover the shape evenly
    (random sampling over-samples dense regions). The Python loop is FPS's own sequential iteration;
    each step is one vectorised update over the whole batch. ``start (B,)`` gives the first pick
    (default: point 0, deterministic; pass random indices for augmentation).
    """
    batch, n, _ = xyz.shape
    if num_samples > n:
        raise ContractError(f"farthest_point_sample: cannot pick {num_samples} distinct points out of the {n} of xyz "
                            f"{tuple(xyz.shape)}; expected at most {n} samples (fewer centroids, or more points per frame)")
    picks = torch.empty(batch, num_samples, dtype=torch.long, device=xyz.device)
    nearest = torch.full((batch, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    current = torch.zeros(batch, dtype=torch.long, device=xyz.device) if start is None else start.to(xyz.device)
    rows = torch.arange(batch, device=xyz.device)
    for i in range(num_samples):
        picks[:, i] = current
        nearest = torch.minimum(nearest, (xyz - xyz[rows, current].unsqueeze(1)).pow(2).sum(-1))
        current = nearest.argmax(dim=1)
    return picks


@torch.no_grad()
def knn(query: torch.Tensor, xyz: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest points of ``xyz (B, N, 3)`` to each ``query (B, M, 3)``, nearest first.

    Returns ``(squared distances (B, M, k), indices (B, M, k))``.
    """
    if k > xyz.shape[1]:
        raise ContractError(f"knn: k={k} neighbours asked of the {xyz.shape[1]} points of xyz {tuple(xyz.shape)}; "
                            f"expected k <= {xyz.shape[1]}")
    return square_distance(query, xyz).topk(k, dim=-1, largest=False, sorted=True)


@torch.no_grad()
def ball_query(query: torch.Tensor, xyz: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """Indices ``(B, M, k)`` of up to ``k`` neighbours within ``radius``; empty slots repeat the nearest point.

    The k nearest neighbours are taken and those farther than ``radius`` are replaced by the nearest one
    (the centroid itself when queries are points of the cloud), as C3P does; the max-pool that follows
    is unaffected by repeats. A query with no point within ``radius`` keeps only its nearest point.
    """
    dist2, idx = knn(query, xyz, k)
    return torch.where(dist2 > radius * radius, idx[..., :1], idx)


def group(
    xyz: torch.Tensor, features: torch.Tensor | None, centroids: torch.Tensor, idx: torch.Tensor
) -> torch.Tensor:
    """Neighbourhoods ``(B, M, k, 3 + C)``: coordinates relative to their centroid, then the neighbours' features.

    Relative coordinates make the local descriptor translation invariant (PointNet++).
    """
    local = gather_points(xyz, idx) - centroids.unsqueeze(2)
    return local if features is None else torch.cat([local, gather_points(features, idx)], dim=-1)


def interpolate(
    unknown: torch.Tensor, known: torch.Tensor, known_features: torch.Tensor, k: int = 3, eps: float = 1e-8
) -> torch.Tensor:
    """Features at ``unknown (B, n, 3)`` from the ``k`` nearest ``known (B, m, 3)`` points, weights 1/d^2.

    Inverse squared-distance weighting normalised to sum 1 (PointNet++ feature propagation, as in C3P).
    """
    dist2, idx = knn(unknown, known, min(k, known.shape[1]))
    weight = 1.0 / (dist2 + eps)
    weight = weight / weight.sum(dim=-1, keepdim=True)
    return (gather_points(known_features, idx) * weight.unsqueeze(-1)).sum(dim=2)
