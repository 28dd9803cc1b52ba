"""STARS: Self-supervised Tuning for 3D Action Recognition in Skeleton Sequences (Mehraban et al.).

Stage 1 is MAMP (:mod:`.mamp`, a separate run). Stage 2, this objective, starts from the MAMP
encoder (``model.init``) and tunes the second half of its transformer blocks with NNCLR's
nearest-neighbour contrastive loss:

- two views of each clip (``ssl.views``: the MAMP feeder's crop-resize + rotation, no contrastive
  augmentations) go through the same encoder; pooled features → projector → ``project`` (unit) and
  predictor on top → ``predict`` (unit);
- the support set is a :class:`~.pretext.FeatureQueue` of view-0 projections with the samples' dataset
  ids; ``NN(z)`` is the most similar entry (``topk > 0``: a random one of the top-k) whose id is *not*
  the sample's own;
- ``L = ½ [CE(NN(z1)·predict0ᵀ/τ, diag) + CE(NN(z0)·predict1ᵀ/τ, diag)]`` (symmetric in the views);
- parameter groups: blocks ``≥ tune_from`` (default depth/2), the final norm and the heads, with
  ``lr_scale = layer_decay^(depth − b)`` for block b (heads and norm 1); embeddings and earlier blocks
  are frozen (``requires_grad`` off, never in the optimiser);
- each gradient is clipped to norm ``clip`` per parameter (STARS' custom clip), through tensor hooks.

``tune_from = depth`` with ``tune_norm: false`` gives the released code's head-only run. Projector and
predictor widths are not in the released files: NNCLR's convention is used (proposed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.types import ObjectiveSpec, batch_field

from .pretext import FeatureQueue, PretextObjective, layer_decay_groups, transformer_layer_of


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear → BN → ReLU → Linear (NNCLR-style projector / predictor)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out_dim))


def nearest_neighbour(project: torch.Tensor, queue: FeatureQueue, ids: torch.Tensor, topk: int = 0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """The support-set entry most similar to each row of ``project``, never one stored for the same id."""
    sim = project @ queue.bank.t()
    sim = sim.masked_fill(queue.ids[None, :] == ids[:, None], -2.0)  # below any cosine
    if topk <= 0:
        pick = sim.argmax(1)
    else:
        top = sim.topk(min(topk, sim.shape[1]), dim=1).indices
        choice = torch.randint(top.shape[1], (top.shape[0],), generator=generator).to(top.device)
        pick = top.gather(1, choice[:, None]).squeeze(1)
    return queue.bank[pick]


def nnclr_loss(nn0: torch.Tensor, nn1: torch.Tensor, predict0: torch.Tensor, predict1: torch.Tensor,
               temperature: float) -> torch.Tensor:
    """Symmetric NNCLR loss: each view's predictions against the other view's neighbours."""
    target = torch.arange(nn0.shape[0], device=nn0.device)
    loss0 = F.cross_entropy(nn1 @ predict0.t() / temperature, target)
    loss1 = F.cross_entropy(nn0 @ predict1.t() / temperature, target)
    return (loss0 + loss1) / 2


class STARS(PretextObjective):
    """Nearest-neighbour contrastive tuning of a MAMP-pre-trained ``skeleton_transformer``.

    Args:
        encoder_dim: the encoder width (256).
        feature_dim: projection size (128).
        proj_hidden, pred_hidden: MLP widths (proposed: 2048, NNCLR).
        queue_size: support-set size K (32768).
        temperature: τ (0.07).
        topk: 0 = nearest neighbour; k > 0 = random pick among the k nearest.
        tune_from: first tuned block (default depth // 2).
        tune_norm: also tune the encoder's final LayerNorm.
        layer_decay: lr decay per block below the top (0.65).
        clip: per-parameter gradient-norm clip (3.0; 0 disables).
        base_lr: the recipe's lr, so groups carry ``lr = base_lr · lr_scale``.
    """

    #: The registry name, used in error messages.
    objective_name = "stars"

    def __init__(self, encoder_dim: int = 256, feature_dim: int = 128, proj_hidden: int = 2048, pred_hidden: int = 2048,
                 queue_size: int = 32768, temperature: float = 0.07, topk: int = 0, tune_from: int | None = None,
                 tune_norm: bool = True, layer_decay: float = 0.65, clip: float = 3.0, modality: str = "skeleton",
                 base_lr: float | None = None, seed: int = 0):
        super().__init__(modality, 2, base_lr)
        self.projector = mlp(encoder_dim, proj_hidden, feature_dim)
        self.predictor = mlp(feature_dim, pred_hidden, feature_dim)
        self.queue = FeatureQueue(feature_dim, queue_size, with_ids=True, seed=seed)
        self.temperature, self.topk, self.tune_from, self.tune_norm = temperature, topk, tune_from, tune_norm
        self.layer_decay, self.clip = layer_decay, clip
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None
        self._hooked = False

    def heads(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(project, predict)``, both unit vectors."""
        projection = self.projector(pooled)
        return F.normalize(projection, dim=1), F.normalize(self.predictor(projection), dim=1)

    def pretext_loss(self, model, views, batch):
        encoder = self.encoder(model)
        ids = batch_field(batch, "index", self.objective_name)
        project0, predict0 = self.heads(encoder(views[0]).pooled)
        project1, predict1 = self.heads(encoder(views[1]).pooled)
        with torch.no_grad():
            nn0 = nearest_neighbour(project0.detach(), self.queue, ids, self.topk)
            nn1 = nearest_neighbour(project1.detach(), self.queue, ids, self.topk)
        loss = nnclr_loss(nn0, nn1, predict0, predict1, self.temperature)
        self._pending = (project0.detach(), ids.detach())
        return loss, {"nn_similarity": (nn0 * project0.detach()).sum(1).mean()}

    def on_step_end(self, model, step):
        if self._pending is not None:
            self.queue.push(*self._pending)
            self._pending = None

    # ---------------------------------------------------------------- partial tuning

    def tuned_layers(self, encoder) -> tuple[int, int]:
        """(depth, first tuned block)."""
        depth = len(encoder.blocks)
        start = depth // 2 if self.tune_from is None else int(self.tune_from)
        return depth, start

    def param_groups(self, model, weight_decay):
        encoder = self.encoder(model)
        depth, start = self.tuned_layers(encoder)
        prefix = f"model.encoders.{self.modality}."
        layer_of = transformer_layer_of(prefix, depth)

        def tuned(name: str) -> bool:
            if name.startswith("objective."):
                return True
            if not name.startswith(prefix):
                return False  # classifier head and mixer are not part of the pretext task
            layer = layer_of(name)
            if layer == depth + 1:
                return self.tune_norm
            return layer >= start + 1

        named = []
        for name, param in self.named_trainables(model):
            if tuned(name):
                named.append((name, param))
            else:
                param.requires_grad_(False)
        self.add_clip_hooks([p for _, p in named])
        return layer_decay_groups(named, weight_decay, layer_of, depth + 1, self.layer_decay,
                                  self.no_weight_decay_names(model), self.base_lr)

    def add_clip_hooks(self, params) -> None:
        """Scale each parameter's gradient to norm ≤ ``clip`` (STARS' per-parameter clip)."""
        if self.clip <= 0 or self._hooked:
            return
        clip = float(self.clip)
        for param in params:
            param.register_hook(lambda g: g * (clip / (g.norm() + 1e-6)).clamp(max=1.0))
        self._hooked = True


SPEC = ObjectiveSpec(name="stars", factory=STARS,
                     doc="STARS: NNCLR tuning of a MAMP encoder's second half, own-id-excluding support queue, layer decay.",
                     batch=("<modality>", "index"))
