"""The shared pretext-task interface and the small parts every self-supervised objective reuses.

A pretext objective is an ordinary Fusion objective (``forward(model, batch) -> (loss, outputs)``)
that learns from the *encoder* of ``model`` without labels. :class:`PretextObjective` fixes the
common parts so that each method only writes its loss:

- **views**: several augmented views of one clip travel through the data pipeline stacked on the
  person axis (the ``ssl.views`` transform of :mod:`.augment`): a batch ``(B, C, T, V, n·M)`` holds
  view ``i`` in persons ``i·M … (i+1)·M − 1``. :meth:`PretextObjective.views` splits it back into
  ``n`` tensors ``(B, C, T, V, M)``. Single-view methods (MAMP, SkeletonMAE) see the batch as is.
- **forward**: ``loss, logs = self.pretext_loss(model, views, batch)``; the outputs carry
  ``logits=None`` (pretext tasks do not classify) and the logs.
- **hooks** the trainer calls: ``on_epoch_start(model, epoch)`` (schedule switches, NN-mining
  epochs, stage switches, warm-ups), ``on_step_end(model, step)`` after each optimiser step (EMA
  teachers, queue pointers, prototype refresh) and ``param_groups(model, weight_decay)`` (weight-decay
  exclusion, layer-wise lr decay, partial tuning). The defaults do nothing / exclude biases and norms.

Shared building blocks: :func:`split_views`, :func:`weight_decay_groups`, :func:`layer_decay_groups`,
:class:`FeatureQueue` (ring buffer with optional sample ids), :func:`ema_update`, :func:`info_nce`.

Learning-rate scales: groups carry ``lr_scale`` (timm's convention, the multiplier of the recipe's
lr). Where the objective is given ``base_lr`` the groups also carry ``lr = base_lr · lr_scale``, so the
scales take effect with an optimiser builder that does not read ``lr_scale``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError
from fusion.types import Batch, ObjectiveOutput, batch_tensor

# ---------------------------------------------------------------------------------------- views


def split_views(x: torch.Tensor, num_views: int) -> list[torch.Tensor]:
    """``(B, C, T, V, n·M)`` → ``n`` tensors ``(B, C, T, V, M)``; view ``i`` is persons ``i·M … (i+1)·M − 1``."""
    if x.dim() != 5 or x.shape[-1] % num_views:
        raise ContractError(
            f"pretext views: expected a skeleton batch (B, C, T, V, {num_views}·M) holding {num_views} views on the "
            f"person axis (add the ssl.views transform to data.transforms.train), got shape {tuple(x.shape)}"
        )
    return list(x.chunk(num_views, dim=-1))


# ---------------------------------------------------------------------------------------- interface


class PretextObjective(nn.Module):
    """Base of every self-supervised objective; subclasses implement :meth:`pretext_loss`.

    Args:
        modality: the batch key and encoder the pretext task trains (``model.encoders[modality]``).
        num_views: how many views the ``ssl.views`` transform stacks on the person axis (1: none).
        base_lr: optional; when given, parameter groups get ``lr = base_lr · lr_scale`` (see module doc).
    """

    #: The trainer reports the pretext loss and a kNN probe of the encoder, not the untrained head's accuracy.
    pretext_only = True
    #: The registry name (subclasses set it), used in error messages.
    objective_name = ""

    def __init__(self, modality: str = "skeleton", num_views: int = 1, base_lr: float | None = None):
        super().__init__()
        self.modality, self.num_views, self.base_lr = modality, int(num_views), base_lr

    # -- the pieces a method uses
    def encoder(self, model) -> nn.Module:
        """The encoder being pre-trained."""
        try:
            return model.encoders[self.modality]
        except KeyError:
            raise ContractError(
                f"{type(self).__name__}: the model has no encoder for modality {self.modality!r} "
                f"(encoders: {', '.join(model.encoders)})"
            ) from None

    def views(self, batch: Batch) -> list[torch.Tensor]:
        """The method's views of the batch, each ``(B, C, T, V, M)``."""
        x = batch_tensor(batch, self.modality, self.objective_name or type(self).__name__)
        return [x] if self.num_views == 1 else split_views(x, self.num_views)

    def pretext_loss(self, model, views: list[torch.Tensor], batch: Batch) -> tuple[torch.Tensor, dict]:
        """``(loss, logs)``; logs are detached scalar tensors. Subclasses implement it."""
        raise NotImplementedError

    # -- the objective contract
    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        loss, logs = self.pretext_loss(model, self.views(batch), batch)
        return loss, ObjectiveOutput(logits=None, logs={"loss": loss.detach(), **logs})

    def on_epoch_start(self, model, epoch: int) -> None:
        """Called before each epoch (0-based): schedule or stage switches."""

    def on_step_end(self, model, step: int) -> None:
        """Called after each optimiser step (1-based global step): EMA, queues, prototypes."""

    def param_groups(self, model, weight_decay: float) -> list[dict]:
        """Weight decay on matrices only, over the model and the objective's own modules (decoders, heads)."""
        return weight_decay_groups(self.named_trainables(model), weight_decay, self.no_weight_decay_names(model),
                                   base_lr=self.base_lr)

    # -- helpers for param_groups
    def named_trainables(self, model) -> list[tuple[str, nn.Parameter]]:
        """``("model.…" | "objective.…", parameter)`` for every parameter that requires a gradient."""
        pairs = [(f"model.{n}", p) for n, p in model.named_parameters()]
        pairs += [(f"objective.{n}", p) for n, p in self.named_parameters()]
        return [(n, p) for n, p in pairs if p.requires_grad]

    def no_weight_decay_names(self, model) -> set[str]:
        """Full names listed by any submodule's ``no_weight_decay()`` (timm convention)."""
        names = set()
        for root, module in (("model", model), ("objective", self)):
            for name, sub in module.named_modules():
                if hasattr(sub, "no_weight_decay"):
                    prefix = f"{root}.{name}." if name else f"{root}."
                    names |= {prefix + n for n in sub.no_weight_decay()}
        return names


# ---------------------------------------------------------------------------------------- parameter groups


def _decays(name: str, param: torch.Tensor, skip: set[str]) -> bool:
    """timm ``add_weight_decay`` rule: no decay on 1-D tensors (biases, norms) and on listed names."""
    return param.ndim > 1 and name not in skip


def weight_decay_groups(named: Iterable[tuple[str, torch.Tensor]], weight_decay: float, skip: set[str] = frozenset(),
                        base_lr: float | None = None) -> list[dict]:
    """Two groups: matrices with ``weight_decay``, biases/norms/``skip`` names with 0."""
    decay, no_decay = [], []
    for name, param in named:
        (decay if _decays(name, param, skip) else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay, "lr_scale": 1.0},
              {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0}]
    if base_lr is not None:
        for group in groups:
            group["lr"] = base_lr
    return [g for g in groups if g["params"]]


def layer_decay_groups(named: Iterable[tuple[str, torch.Tensor]], weight_decay: float,
                       layer_of: Callable[[str], int], num_layers: int, decay: float,
                       skip: set[str] = frozenset(), base_lr: float | None = None) -> list[dict]:
    """BEiT-style layer-wise lr decay: ``lr_scale = decay ** (num_layers − layer_of(name))``.

    ``layer_of`` maps a parameter name to its depth (0 = embeddings, ``num_layers`` = final norm and
    heads, which keep the full lr). Groups are split by (layer, decays) and carry ``layer`` for inspection.
    """
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in named:
        layer = int(layer_of(name))
        wd = _decays(name, param, skip)
        group = groups.setdefault((layer, wd), {
            "params": [], "names": [], "layer": layer, "weight_decay": weight_decay if wd else 0.0,
            "lr_scale": float(decay ** (num_layers - layer)),
        })
        group["params"].append(param)
        group["names"].append(name)
    out = [groups[k] for k in sorted(groups)]
    if base_lr is not None:
        for group in out:
            group["lr"] = base_lr * group["lr_scale"]
    return out


def transformer_layer_of(prefix: str, depth: int) -> Callable[[str], int]:
    """Layer ids of a ViT encoder under ``prefix``: embeddings 0, ``blocks.i`` → i+1, the rest ``depth+1``."""
    embeddings = ("patch_embed", "pos_embed", "temp_embed", "cls_token", "mask_token")

    def layer_of(name: str) -> int:
        if not name.startswith(prefix):
            return depth + 1
        rest = name[len(prefix):]
        if rest.startswith(embeddings):
            return 0
        if rest.startswith("blocks."):
            return int(rest.split(".")[1]) + 1
        return depth + 1

    return layer_of


# ---------------------------------------------------------------------------------------- contrastive parts


class FeatureQueue(nn.Module):
    """A ring buffer of ``size`` unit vectors (the MoCo queue / NNCLR support set), optionally with sample ids.

    Stored as buffers, so it is checkpointed with the objective. ``ids`` holds the dataset index of
    each entry (−1 = empty), which lets a method exclude a sample's own stale embedding.
    """

    def __init__(self, dim: int, size: int, with_ids: bool = False, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("bank", F.normalize(torch.randn(size, dim, generator=generator), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.with_ids = with_ids
        if with_ids:
            self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))

    @property
    def size(self) -> int:
        return self.bank.shape[0]

    @torch.no_grad()
    def push(self, keys: torch.Tensor, ids: torch.Tensor | None = None) -> None:
        """Write ``keys`` (n, dim) at the pointer, wrapping around; the pointer advances by n."""
        keys = keys.detach().to(self.bank.dtype)
        n = keys.shape[0]
        if n > self.size:
            keys, ids = keys[-self.size:], None if ids is None else ids[-self.size:]
            n = self.size
        slots = (self.pointer + torch.arange(n, device=keys.device)) % self.size
        self.bank[slots] = keys
        if self.with_ids:
            if ids is None:
                raise ContractError("FeatureQueue(with_ids=True).push needs the samples' ids")
            self.ids[slots] = ids.to(self.ids.device)
        self.pointer.copy_((self.pointer + n) % self.size)


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """``θ_t ← m·θ_t + (1 − m)·θ_s`` for every parameter; buffers (BN statistics) are copied."""
    for t, s in zip(target.parameters(), source.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)
    for t, s in zip(target.buffers(), source.buffers()):
        t.copy_(s)


def info_nce(query: torch.Tensor, key: torch.Tensor, negatives: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """MoCo InfoNCE: ``CE([q·k, q·Nᵀ]/τ, 0)`` with unit vectors; ``negatives`` (K, d) or None (in-batch only)."""
    positive = (query * key).sum(1, keepdim=True)
    logits = positive if negatives is None else torch.cat([positive, query @ negatives.t()], dim=1)
    target = torch.zeros(query.shape[0], dtype=torch.long, device=query.device)
    return F.cross_entropy(logits / temperature, target)
