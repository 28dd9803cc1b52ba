"""HaLP, Hallucinating Latent Positives (Shah et al., CVPR 2023): MoCo plus positives made in latent space.

Follows the official code (``moco/builder_single_modality_halp.py``, ``moco/generator.py``,
``moco/GRU.py``):

- **MoCo**: query encoder + projector, EMA key branch (m = 0.999), queue K = 16384, τ = 0.07.
- **Prototypes**: every ``update_prototypes_every`` = 10 steps, spherical k-means (k-means++ seeding,
  tol 1e−3) on the ``prototype_keys`` = 256 most recent queue entries gives 20 unit prototypes. HaLP
  is off until ``2K + 1`` samples have passed through the queue (it is full twice).
- **Hallucination** (:func:`hallucinate_positives`): from each key anchor ``k`` with nearest prototype
  ``p0``, pick a random other prototype ``p``, walk the great circle ``g(t) = [sin((1−t)ω) k + sin(tω) p] / sin ω``
  up to the step ``t_max`` where ``g`` is as close to ``p`` as to ``p0`` (closed form), and stop at
  ``t = (1 − u)·t_max`` with ``u ~ U(0, λ)`` (λ = hardness; λ = 1000 means ``t_max − 0.01``). Points whose
  nearest prototype is not ``p0`` are dropped (the rank filter).
- **Loss**: ``L = L_MoCo + μ·L_HaLP`` with ``L_HaLP = −mean_valid (q·g)/τ`` (the code's form), μ = 2 on NTU-60.
- **Encoder**: the BiGRU of :class:`BiGRUEncoder` (3 × 1024 per direction, last time step, 2048-d), computing
  what the official ``moco/GRU.py`` computes: both directions run forward in time (see the class).

``t_max`` is computed with ``atan2`` (equal to the paper's ``atan`` whenever ``K + cos ω > 0``, and the
correct root of ``g(t)·(p0 − p) = 0`` otherwise). ``start_epoch`` lets one recipe run the MoCo stage
(epochs 0–199) and the HaLP stage (200–450) of the official schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import RecipeError
from fusion.types import EncoderSpec, Features, ObjectiveSpec
from fusion_plugins.skeleton.blocks import select_config
from fusion_plugins.skeleton.layouts import get_layout

from .contrastive import MomentumContrast, moco_logits, spherical_kmeans

#: BiGRU sizes: ``paper`` is HaLP's (hidden 1024, 3 layers); ``small`` is for CPU tests and SynthAct.
GRU_CONFIGS: dict[str, dict] = {
    "paper": dict(hidden=1024, layers=3),
    "small": dict(hidden=64, layers=1),
}


class BiGRUEncoder(nn.Module):
    """HaLP's sequence encoder: ``BN1d(C·V·M)`` on each frame vector → the official "BiGRU" → last step.

    ``(B, C, T, V, M)`` is read as a sequence of ``T`` frame vectors ordered (V, C, M) as the official
    wrapper flattens ``(N, T, 25, 3, 2) → (N, T, 150)``. ``pooled`` is the output at the last time step
    (2·hidden), ``frames`` every step's output.

    Computed as the official code computes it, not as a textbook bidirectional GRU: the official
    ``EncoderRNN`` calls its bidirectional ``nn.GRU`` one frame at a time, carrying the hidden state, so
    the ``_reverse`` direction also runs forward in time and every layer is causal. The vectorised
    equivalent used here: per layer, each direction's weights run as a forward GRU over the whole
    sequence from a zero state, outputs concatenated [direction 0, direction 1] and fed to the next
    layer (:func:`causal_bigru`; equal to the official features to ~1e-15 in float64, tests/checkpoints).
    Parameters keep ``nn.GRU``'s names, so official checkpoints load by name. Initialisation as the
    official code: 2-D weights Xavier-uniform, biases at PyTorch's default ``U(−1/√hidden, 1/√hidden)``.

    Args:
        layout: skeleton layout (gives V).
        in_channels: C.
        num_persons: M (2 on NTU; the input size is C·V·M).
        config: ``paper`` or ``small``; ``hidden`` and ``layers`` override it.
    """

    def __init__(self, layout: str = "ntu25", in_channels: int = 3, num_persons: int = 2, config: str = "paper",
                 hidden: int | None = None, layers: int | None = None):
        super().__init__()
        cfg = select_config("bigru", GRU_CONFIGS, config, hidden=hidden, layers=layers)
        self.layout = get_layout(layout)
        self.shape = (in_channels, self.layout.num_joints, num_persons)
        width = in_channels * self.layout.num_joints * num_persons
        self.norm = nn.BatchNorm1d(width)
        self.gru = nn.GRU(width, cfg["hidden"], cfg["layers"], batch_first=True, bidirectional=True)
        for param in self.gru.parameters():
            if param.dim() == 2:  # biases stay at nn.GRU's default init, as in the official code
                nn.init.xavier_uniform_(param)
        self.out_dim = 2 * cfg["hidden"]

    def forward(self, x: torch.Tensor) -> Features:
        from fusion.errors import ContractError

        if x.dim() != 5 or (x.shape[1], x.shape[3], x.shape[4]) != self.shape:
            c, v, m = self.shape
            raise ContractError(
                f"bigru expects a skeleton batch (B, C, T, V, M) = (B, {c}, T, {v}, {m}) for layout "
                f"{self.layout.name!r}, got {tuple(x.shape)}; check in_channels/num_persons (skeleton.pad_persons)"
            )
        b, _, t, _, _ = x.shape
        sequence = x.permute(0, 2, 3, 1, 4).reshape(b, t, -1)  # B, T, V·C·M
        sequence = self.norm(sequence.transpose(1, 2)).transpose(1, 2)
        out = causal_bigru(self.gru, sequence)
        return Features(pooled=out[:, -1], frames=out)


def causal_bigru(gru: nn.GRU, sequence: torch.Tensor) -> torch.Tensor:
    """The official HaLP BiGRU on ``(B, T, F)``: per layer both directions forward in time, concatenated.

    Equals calling the bidirectional ``gru`` frame by frame with the hidden state carried (the official
    loop) in one sequence call per direction and layer. Returns every step's top-layer output (B, T, 2·H).
    """
    out = sequence
    for layer in range(gru.num_layers):
        halves = []
        for suffix in ("", "_reverse"):
            weights = [getattr(gru, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            start = out.new_zeros(1, out.shape[0], gru.hidden_size)
            halves.append(torch._VF.gru(out, start, weights, True, 1, 0.0, gru.training, False, True)[0])
        out = torch.cat(halves, dim=2)
    return out


def bigru(layout: str = "ntu25", in_channels: int = 3, num_persons: int = 2, config: str = "paper",
          hidden: int | None = None, layers: int | None = None) -> BiGRUEncoder:
    """HaLP's BiGRU (``paper``: 3 layers × 1024 per direction, 2048-d features)."""
    return BiGRUEncoder(layout, in_channels, num_persons, config, hidden, layers)


# ---------------------------------------------------------------------------------------- geometry


def slerp(anchor: torch.Tensor, target: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``g(t) = [sin((1−t)ω) a + sin(tω) b] / sin ω`` on unit vectors, ``ω = arccos(a·b)``; broadcasts."""
    cos = (anchor * target).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos)
    t = t.unsqueeze(-1)
    return (torch.sin((1 - t) * omega) * anchor + torch.sin(t * omega) * target) / torch.sin(omega)


def boundary_step(anchor: torch.Tensor, target: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
    """The ``t`` at which ``slerp(anchor, target, t)`` is equidistant from ``nearest`` (p0) and ``target`` (p).

    Solves ``g(t)·(p0 − p) = 0``: with ``K = (1 − p·p0) / (k·(p0 − p))``, ``tω = atan2(sin ω, K + cos ω)``.
    """
    cos = (anchor * target).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos)
    gap = (anchor * (nearest - target)).sum(-1)
    big_k = (1 - (target * nearest).sum(-1)) / gap.clamp_min(1e-12)
    return torch.atan2(torch.sin(omega), big_k + cos) / omega


@dataclass
class HallucinatedPositives:
    """Output of :func:`hallucinate_positives` for N anchors and n positives each.

    Attributes:
        points: (N, n, d) unit vectors.
        valid: (N, n) bool, the rank filter (nearest prototype of the point = the anchor's).
        t, t_max: (N, n) the step taken and the boundary step.
        nearest: (N,) index of the anchor's nearest prototype; target: (N, n) the prototype walked to.
    """

    points: torch.Tensor
    valid: torch.Tensor
    t: torch.Tensor
    t_max: torch.Tensor
    nearest: torch.Tensor
    target: torch.Tensor


#: The hardness value meaning "step to ``t_max − 0.01``" (the official code's convention).
HARDEST = 1000.0


@torch.no_grad()
def hallucinate_positives(anchors: torch.Tensor, prototypes: torch.Tensor, count: int, hardness: float = 0.8,
                          skip_closest: int = 1, num_candidates: int = 20,
                          generator: torch.Generator | None = None) -> HallucinatedPositives:
    """HaLP's closed-form positives: ``count`` points per unit anchor (N, d) towards other prototypes (C, d).

    Candidate targets are the prototypes ranked ``skip_closest + 1 … skip_closest + num_candidates`` by
    similarity to the anchor (rank 1 = p0, the nearest); each positive picks one uniformly (with
    replacement). ``hardness`` λ: ``t = (1 − u)·t_max, u ~ U(0, λ)``; λ = 1000 gives ``t_max − 0.01``.
    """
    n, c = anchors.shape[0], prototypes.shape[0]
    ranking = (anchors @ prototypes.t()).argsort(dim=1, descending=True)  # N, C
    nearest = ranking[:, 0]
    candidates = ranking[:, skip_closest: skip_closest + num_candidates]
    if candidates.shape[1] == 0:
        raise RecipeError(f"objective halp, arguments skip_closest / num_candidates: no candidate prototypes "
                          f"({c} prototypes, skip_closest={skip_closest}, num_candidates={num_candidates})")
    pick = torch.randint(candidates.shape[1], (n, count), generator=generator).to(anchors.device)
    target = candidates.gather(1, pick)  # N, n
    k = anchors[:, None].expand(-1, count, -1)
    p, p0 = prototypes[target], prototypes[nearest][:, None].expand(-1, count, -1)
    t_max = boundary_step(k, p, p0)
    if hardness >= HARDEST:
        t = t_max - 0.01
    else:
        u = torch.rand(n, count, generator=generator).to(anchors.device) * hardness
        t = (1 - u) * t_max
    points = F.normalize(slerp(k, p, t), dim=-1)
    valid = (points @ prototypes.t()).argmax(-1) == nearest[:, None]
    return HallucinatedPositives(points, valid, t, t_max, nearest, target)


def halp_loss(queries: torch.Tensor, positives: torch.Tensor, valid: torch.Tensor, temperature: float) -> torch.Tensor:
    """``−mean over valid (i, j) of q_i·g_ij / τ`` (the official form); 0 if nothing is valid."""
    scores = (queries[:, None] * positives.detach()).sum(-1) / temperature
    valid = valid.to(scores.dtype)
    return -(scores * valid).sum() / valid.sum().clamp_min(1)


# ---------------------------------------------------------------------------------------- objective


class HaLP(MomentumContrast):
    """HaLP objective over two views (``ssl.views``): query view 0, key view 1.

    Args:
        encoder_dim: the encoder's pooled size (BiGRU: 2048).
        feature_dim, queue_size, momentum, temperature, mlp: MoCo (128, 16384, 0.999, 0.07, True).
        num_prototypes: prototypes from spherical k-means (20).
        prototype_keys: how many of the most recent queue keys are clustered (256).
        update_prototypes_every: optimiser steps between refreshes (10).
        num_positives: hallucinated positives per anchor (100).
        hardness: λ (0.8; 1000 = hardest).
        skip_closest, num_candidates: candidate prototypes ranked ``skip+1 … skip+num`` (1, 20).
        weight: μ, the weight of ``L_HaLP`` (2 on NTU-60; 0 = plain MoCo).
        start_epoch: first epoch with the HaLP term (the official runs start from a 200-epoch MoCo).
        warmup_samples: samples enqueued from ``start_epoch`` on before HaLP may start (default
            ``2·queue_size + 1``; the official run counts from its restart at the MoCo checkpoint).
        seed: seed of the k-means and hallucination draws.
    """

    #: The registry name, used in error messages.
    objective_name = "halp"

    def __init__(self, encoder_dim: int = 2048, feature_dim: int = 128, queue_size: int = 16384,
                 momentum: float = 0.999, temperature: float = 0.07, mlp: bool = True, num_prototypes: int = 20,
                 prototype_keys: int = 256, update_prototypes_every: int = 10, num_positives: int = 100,
                 hardness: float = 0.8, skip_closest: int = 1, num_candidates: int = 20, weight: float = 2.0,
                 start_epoch: int = 0, warmup_samples: int | None = None, seed: int = 0,
                 modality: str = "skeleton", base_lr: float | None = None):
        super().__init__(encoder_dim, feature_dim, queue_size, momentum, temperature, mlp, num_views=2,
                         modality=modality, base_lr=base_lr)
        if prototype_keys > queue_size or num_prototypes > prototype_keys:
            raise RecipeError(f"objective halp, arguments num_prototypes / prototype_keys / queue_size: need "
                              f"num_prototypes ({num_prototypes}) <= prototype_keys ({prototype_keys}) "
                              f"<= queue_size ({queue_size})")
        self.num_prototypes, self.prototype_keys = int(num_prototypes), int(prototype_keys)
        self.update_every, self.num_positives = int(update_prototypes_every), int(num_positives)
        self.hardness, self.skip_closest, self.num_candidates = float(hardness), int(skip_closest), int(num_candidates)
        self.weight, self.start_epoch = float(weight), int(start_epoch)
        self.warmup_samples = 2 * queue_size + 1 if warmup_samples is None else int(warmup_samples)
        self.register_buffer("prototypes", torch.zeros(num_prototypes, feature_dim))
        self.register_buffer("prototypes_ready", torch.zeros((), dtype=torch.bool))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))
        self.epoch = 0
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def active(self) -> bool:
        """Whether the HaLP term is on: weight > 0, past ``start_epoch``, warm-up done, prototypes made."""
        return (self.weight > 0 and self.epoch >= self.start_epoch and int(self.seen) >= self.warmup_samples
                and bool(self.prototypes_ready))

    def pretext_loss(self, model, views, batch):
        q = self.query(model, views[0])
        k = self.keys(model, views[1])
        logits = moco_logits(q, k, self.queue.bank, self.temperature)
        loss_moco = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
        loss, logs = loss_moco, {"moco": loss_moco.detach()}
        if self.active:
            made = hallucinate_positives(k, self.prototypes, self.num_positives, self.hardness, self.skip_closest,
                                         self.num_candidates, self.generator)
            term = halp_loss(q, made.points, made.valid, self.temperature)
            loss = loss + self.weight * term
            logs.update(halp=term.detach(), halp_valid=made.valid.float().mean())
        self.enqueue(k)
        return loss, logs

    def recent_keys(self) -> torch.Tensor:
        """The ``prototype_keys`` keys written last (just before the queue pointer)."""
        index = (self.queue.pointer - 1 - torch.arange(self.prototype_keys, device=self.queue.bank.device))
        return self.queue.bank[index % self.queue.size]

    @torch.no_grad()
    def refresh_prototypes(self) -> None:
        self.prototypes.copy_(spherical_kmeans(self.recent_keys(), self.num_prototypes, generator=self.generator))
        self.prototypes_ready.fill_(True)

    def on_epoch_start(self, model, epoch: int) -> None:
        self.epoch = epoch

    def on_step_end(self, model, step: int) -> None:
        if self.epoch >= self.start_epoch:  # the official HaLP run restarts its counter from the MoCo checkpoint
            self.seen += sum(len(k) for k in self._new_keys)
        super().on_step_end(model, step)
        if self.weight > 0 and int(self.seen) >= self.warmup_samples and (
                step % self.update_every == 0 or not bool(self.prototypes_ready)):
            self.refresh_prototypes()


SPEC = ObjectiveSpec(name="halp", factory=HaLP,
                     doc="HaLP (CVPR'23): MoCo + closed-form hallucinated positives towards k-means prototypes.",
                     batch=("<modality>",))
ENCODER_SPEC = EncoderSpec(name="bigru", factory=bigru, modality="skeleton", provides=frozenset({"pooled", "frames"}),
                           doc="HaLP/CMD BiGRU: 3 x 1024 bidirectional GRU over frame vectors, last step (2048-d).")
