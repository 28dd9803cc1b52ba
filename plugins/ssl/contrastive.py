"""Momentum-contrast parts shared by HaLP, HiCLR and MS-CLR (and the prototype clustering ACLNet reuses).

- :class:`MomentumBranch`: the key encoder ``f_k`` of MoCo, an EMA twin of the model's encoder and the
  objective's projector. The objective is built before the model, so the twin is made on first use
  (``attach``, called from ``param_groups`` before the optimiser exists, or from ``forward``); weights
  of a twin found in a checkpoint before it exists are kept and applied when it is made.
- :func:`projector`: MoCo's ``fc`` / MLP head (``Linear → ReLU → Linear`` with ``mlp=True``).
- :func:`moco_logits`, :func:`multi_positive_nce`, :func:`distribution_consistency`,
  :func:`topk_neighbour_mask`: the logits over ``[k, queue]`` and the losses built on them.
- :func:`spherical_kmeans`: k-means++ seeding and cosine k-means on the unit sphere (HaLP prototypes).

The queue (:class:`~.pretext.FeatureQueue`), the EMA rule (:func:`~.pretext.ema_update`) and plain
InfoNCE (:func:`~.pretext.info_nce`) live in :mod:`.pretext`.
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError

from .pretext import FeatureQueue, PretextObjective, ema_update


def gather_across_processes(x: torch.Tensor) -> torch.Tensor:
    """All processes' rows concatenated (MoCo's ``concat_all_gather``); the tensor itself in one process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def projector(in_dim: int, out_dim: int = 128, mlp: bool = True, hidden: int | None = None) -> nn.Module:
    """MoCo head: ``Linear(in, out)``, or with ``mlp`` ``Linear(in, hidden) → ReLU → Linear(hidden, out)``."""
    if not mlp:
        return nn.Linear(in_dim, out_dim)
    hidden = hidden or in_dim
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class MomentumBranch(nn.Module):
    """An EMA copy of ``(encoder, projector)`` that never receives gradients: ``θ_k ← m·θ_k + (1 − m)·θ_q``.

    Args:
        momentum: m (MoCo 0.999).
    """

    def __init__(self, momentum: float = 0.999):
        super().__init__()
        self.momentum = float(momentum)
        self.twin: nn.ModuleDict | None = None
        self._pending: dict | None = None

    def attach(self, encoder: nn.Module, head: nn.Module) -> None:
        """Make the twin as a copy of the online modules (once); apply weights loaded before it existed."""
        if self.twin is not None:
            return
        twin = nn.ModuleDict({"encoder": copy.deepcopy(encoder), "head": copy.deepcopy(head)})
        for param in twin.parameters():
            param.requires_grad_(False)
        if self._pending:
            twin.load_state_dict(self._pending)
            self._pending = None
        self.twin = twin

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        """Keep a checkpointed twin's tensors until the twin exists (it is made lazily)."""
        if self.twin is None:
            key = prefix + "twin."
            found = {k[len(key):]: state_dict.pop(k) for k in [k for k in state_dict if k.startswith(key)]}
            if found:
                self._pending = found
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @torch.no_grad()
    def update(self, encoder: nn.Module, head: nn.Module) -> None:
        """One EMA step towards the online modules (buffers such as BN statistics are copied)."""
        self.attach(encoder, head)
        ema_update(self.twin["encoder"], encoder, self.momentum)
        ema_update(self.twin["head"], head, self.momentum)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Unit key vectors ``normalize(head(encoder(x).pooled))``, without gradient."""
        if self.twin is None:
            raise ContractError("MomentumBranch: call attach(encoder, head) before computing keys")
        return F.normalize(self.twin["head"](self.twin["encoder"](x, **kwargs).pooled), dim=1)


def check_feature_dim(method: str, features: torch.Tensor, expected: int) -> None:
    """The objective's head was built for ``expected`` input features; say so if the encoder disagrees."""
    if features.shape[-1] != expected:
        raise ContractError(
            f"{method}: the encoder's pooled features have {features.shape[-1]} dimensions but the objective's "
            f"projector expects encoder_dim={expected}; set objective.args.encoder_dim to the encoder's out_dim"
        )


def moco_logits(query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """``[q·k, q·Qᵀ] / τ`` (N, 1 + K); the queue is read without gradient."""
    positive = (query * key).sum(1, keepdim=True)
    return torch.cat([positive, query @ queue.detach().t()], dim=1) / temperature


def multi_positive_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """``−mean_i Σ_j P_ij log softmax(z_i)_j / Σ_j P_ij`` (AimCLR's nearest-neighbour loss); P (N, 1 + K)."""
    positives = positives.to(logits.dtype)
    return (-(F.log_softmax(logits, dim=1) * positives).sum(1) / positives.sum(1).clamp_min(1)).mean()


def distribution_consistency(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """``−mean_i Σ_j sg(softmax(t_i))_j log softmax(s_i)_j``: the teacher's side gets no gradient."""
    target = F.softmax(teacher_logits.detach(), dim=1)
    return -(target * F.log_softmax(student_logits, dim=1)).sum(1).mean()


def topk_neighbour_mask(logits: list[torch.Tensor], k: int = 1) -> torch.Tensor:
    """Positives for :func:`multi_positive_nce`: the key plus the union of each branch's top-``k`` queue entries.

    ``logits`` are (N, 1 + K) tensors over ``[k, queue]``; the result is a (N, 1 + K) 0/1 mask.
    """
    mask = torch.zeros_like(logits[0])
    mask[:, 0] = 1
    for z in logits:
        index = z[:, 1:].topk(k, dim=1).indices + 1
        mask.scatter_(1, index, 1.0)
    return mask.detach()


@torch.no_grad()
def spherical_kmeans(points: torch.Tensor, clusters: int, iterations: int = 100, tol: float = 1e-3,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``clusters`` unit centroids of unit ``points`` (n, d): k-means++ seeding, then cosine k-means.

    Seeding draws each next centre with probability ∝ ``1 − max cos`` to the chosen ones; an
    iteration assigns every point to its most similar centre and sets each centre to the normalised
    sum of its points (an empty cluster keeps its centre). Stops when no centre moves by more than
    ``tol`` (cosine distance) or after ``iterations``.
    """
    points = F.normalize(points.float(), dim=1)
    n = points.shape[0]
    if n < clusters:
        raise ContractError(f"spherical_kmeans: points tensor has {n} rows, which cannot make {clusters} clusters")
    device = points.device
    first = torch.randint(n, (1,), generator=generator).item()
    centres = [points[first]]
    closest = 1 - points @ points[first]
    for _ in range(1, clusters):
        weights = closest.clamp_min(0).cpu().double()
        if weights.sum() <= 0:
            weights = torch.ones(n, dtype=torch.double)
        choice = torch.multinomial(weights, 1, generator=generator).item()
        centres.append(points[choice])
        closest = torch.minimum(closest, 1 - points @ points[choice])
    centres = torch.stack(centres)
    for _ in range(iterations):
        assign = (points @ centres.t()).argmax(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=clusters).to(device)
        updated = torch.where(counts[:, None] > 0, F.normalize(sums, dim=1), centres)
        shift = (1 - (updated * centres).sum(1)).max()
        centres = updated
        if shift <= tol:
            break
    return centres


class MomentumContrast(PretextObjective):
    """MoCo skeleton shared by HaLP, HiCLR and MS-CLR: projector, momentum key branch, queue, hooks.

    Subclasses call :meth:`query` (with gradient) and :meth:`keys` (EMA twin, no gradient), build
    their loss, and hand the keys to :meth:`enqueue`; after each optimiser step :meth:`on_step_end`
    moves the twin one EMA step and writes the keys into the queue (MoCo's order: loss against the
    old queue, then enqueue).

    Args:
        encoder_dim: the encoder's pooled feature size (the projector's input).
        feature_dim: embedding size (128).
        queue_size: K, negatives kept in the queue.
        momentum: EMA momentum of the key branch.
        temperature: τ of the logits.
        mlp: projector ``Linear → ReLU → Linear`` (True) or a single ``Linear``.
        num_views, modality, base_lr: see :class:`~.pretext.PretextObjective`.
    """

    def __init__(self, encoder_dim: int, feature_dim: int = 128, queue_size: int = 32768, momentum: float = 0.999,
                 temperature: float = 0.07, mlp: bool = True, num_views: int = 2, modality: str = "skeleton",
                 base_lr: float | None = None):
        super().__init__(modality=modality, num_views=num_views, base_lr=base_lr)
        self.encoder_dim, self.temperature = int(encoder_dim), float(temperature)
        self.head = projector(self.encoder_dim, feature_dim, mlp)
        self.key_branch = MomentumBranch(momentum)
        self.queue = FeatureQueue(feature_dim, queue_size)
        self._new_keys: list[torch.Tensor] = []

    def attach(self, model) -> None:
        self.key_branch.attach(self.encoder(model), self.head)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Unit embedding ``normalize(head(f))`` of pooled features."""
        check_feature_dim(type(self).__name__, features, self.encoder_dim)
        return F.normalize(self.head(features), dim=1)

    def query(self, model, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Unit query embeddings ``normalize(head(f_q(x)))`` (with gradient)."""
        return self.embed(self.encoder(model)(x, **kwargs).pooled)

    def keys(self, model, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Unit key embeddings from the EMA twin (no gradient)."""
        self.attach(model)
        return self.key_branch(x, **kwargs)

    def enqueue(self, keys: torch.Tensor) -> None:
        """Keys to write into the queue after the optimiser step."""
        self._new_keys.append(keys.detach())

    def param_groups(self, model, weight_decay: float) -> list[dict]:
        self.attach(model)  # the twin exists before the optimiser and the checkpoint loader see the module
        return super().param_groups(model, weight_decay)

    def on_step_end(self, model, step: int) -> None:
        self.key_branch.update(self.encoder(model), self.head)
        for keys in self._new_keys:
            self.queue.push(gather_across_processes(keys))
        self._new_keys.clear()
