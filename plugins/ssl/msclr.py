"""MS-CLR, Multi-Skeleton Contrastive Learning (arXiv 2508.14889): AimCLR across skeleton conventions.

Follows the official ``net/aimclr.py`` and feeder, with the parts that are not public proposed here:

- **Flexible ST-GCN** (:class:`MultiSkeletonSTGCN`, registered as ``stgcn_multiskeleton``) [inferred]:
  the AimCLR/HiCLR ST-GCN over the padded unified joint axis (``V_max``); each convention has its own
  partition embedded with zero rows/columns for padded joints (:mod:`.conventions`), the edge
  importance is shared, and pooling averages real joints only, so padding never changes a feature.
  ``forward(x, convention=...)`` takes NTU-25 input and derives the convention (``ntu25`` by default).
- **Objective** (:class:`MSCLR`) [code]: per batch a query convention ``s_q`` and a key convention
  ``s_k`` are drawn (independently with ``full_random``); ``q = f_q(v_basic, s_q)``,
  ``k = f_k(v_basic', s_k)`` (the cross-convention positive), ``q_e = f_q(v_strong, s_q)`` and its
  attention-guided-drop variant ``q_ed``; ``L = CE(z, 0) + ½[H(sg z, z_e) + H(sg z, z_ed)]``, from
  ``mining_epoch`` (150) the top-1 nearest-neighbour multi-positive form over the three branches.
- **Drop** (:func:`attention_guided_drop`) [inferred from AimCLR's EADM]: SimAM energy attention on the
  last feature map; the most salient ``1 − keep_prob`` of the real joints are zeroed and the rest rescaled.
- **Ensemble** (``msclr_ensemble`` mixer) [code]: one linear classifier per convention on the frozen
  features of that convention, logits averaged over conventions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.types import (
    EVERY_MODALITY,
    LOGITS_PER_MODALITY,
    AuxField,
    EncoderSpec,
    Features,
    MixerOutput,
    MixerSpec,
    ObjectiveSpec,
)
from fusion_plugins.skeleton.blocks import DataNorm, select_config
from fusion_plugins.skeleton.stgcn import CONFIGS as STGCN_CONFIGS
from fusion_plugins.skeleton.stgcn import STGCNBlock, _init_weights

from .contrastive import (
    MomentumContrast,
    distribution_consistency,
    moco_logits,
    multi_positive_nce,
    topk_neighbour_mask,
)
from .conventions import derive, get_convention, unified_mixing, unified_partition

#: Block widths: ``aimclr`` is ST-GCN with hidden_channels 16, hidden_dim 256 (AimCLR, HiCLR, MS-CLR).
CONFIGS: dict[str, dict] = {
    **STGCN_CONFIGS,
    "aimclr": dict(channels=(16, 16, 16, 16, 32, 32, 32, 64, 64, 256), strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1),
                   dropout=0.5),
}

_ENCODER = "encoder 'stgcn_multiskeleton'"
#: The convention the features were computed in (the one asked for, else the encoder's first).
CONVENTION: AuxField[str] = AuxField("convention", "name of the skeleton convention of these features", _ENCODER)
#: Every convention's pooled features, read by the ``msclr_ensemble`` mixer.
PER_CONVENTION: AuxField[dict[str, torch.Tensor]] = AuxField(
    "per_convention", "convention -> (B, D) pooled features in that convention", _ENCODER, "ensemble: true")


class MultiSkeletonSTGCN(nn.Module):
    """ST-GCN over several skeleton conventions padded to one joint axis.

    Args:
        conventions: convention names (:mod:`.conventions`); the first is the default.
        in_channels: C.
        config: ``aimclr`` (MS-CLR's), ``paper`` or ``small``; ``channels``/``strides``/``dropout`` override.
        partition: graph partition strategy of every convention (``stgcn``: ST-GCN's spatial one).
        edge_importance: a learnable (K, V_max, V_max) weight per block, shared by the conventions.
        ensemble: also return every convention's pooled feature in ``aux['per_convention']`` (for the
            ``msclr_ensemble`` mixer; costs one pass per convention).
    """

    def __init__(self, conventions: Sequence[str] = ("ntu25", "kinect20", "smpl24"), in_channels: int = 3,
                 config: str = "aimclr", channels: Sequence[int] | None = None, strides: Sequence[int] | None = None,
                 dropout: float | None = None, partition: str = "stgcn", edge_importance: bool = True,
                 ensemble: bool = False):
        super().__init__()
        cfg = select_config("stgcn_multiskeleton", CONFIGS, config, channels=channels, strides=strides,
                            dropout=dropout)
        if not conventions:
            raise RecipeError("stgcn_multiskeleton: give at least one convention")
        found = [get_convention(c) for c in conventions]
        self.names = [c.name for c in found]
        self.num_joints = max(c.num_joints for c in found)
        self.source_joints = found[0].mixing.shape[1]
        self.in_channels, self.ensemble = in_channels, ensemble
        self.register_buffer("A", torch.stack([unified_partition(c, self.num_joints, partition) for c in found]))
        self.register_buffer("mixing", unified_mixing(found, self.num_joints))
        self.register_buffer("real", torch.stack([torch.arange(self.num_joints) < c.num_joints for c in found]))
        self.data_bn = DataNorm(in_channels, self.num_joints, per_person=True)
        widths = [in_channels, *cfg["channels"]]
        k = self.A.shape[1]
        self.blocks = nn.ModuleList(
            STGCNBlock(widths[i], widths[i + 1], k, cfg["strides"][i], dropout=cfg["dropout"] if i else 0.0,
                       use_residual=i > 0)
            for i in range(len(cfg["channels"]))
        )
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones(k, self.num_joints, self.num_joints)) for _ in self.blocks
        ) if edge_importance else None
        self.out_dim = widths[-1]
        self.apply(_init_weights)

    def convention_index(self, convention: str | None) -> int:
        if convention is None:
            return 0
        if convention not in self.names:
            raise ContractError(f"stgcn_multiskeleton: convention {convention!r} is not one of {self.names}")
        return self.names.index(convention)

    def unify(self, x: torch.Tensor, convention: str | None = None) -> torch.Tensor:
        """NTU-25 ``(B, C, T, 25, M)`` → the convention's padded ``(B, C, T, V_max, M)``."""
        if x.dim() != 5 or x.shape[1] != self.in_channels or x.shape[3] != self.source_joints:
            raise ContractError(
                f"stgcn_multiskeleton expects NTU-25 input (B, {self.in_channels}, T, {self.source_joints}, M), "
                f"got {tuple(x.shape)}"
            )
        return derive(x, self.mixing[self.convention_index(convention)])

    def forward_map(self, x: torch.Tensor, convention: str | None = None) -> torch.Tensor:
        """Padded unified input → the last block's ``(B·M, D, T', V_max)`` map under the convention's graph."""
        a = self.A[self.convention_index(convention)]
        x = self.data_bn(x)
        for i, block in enumerate(self.blocks):
            x = block(x, a * self.edge_importance[i] if self.edge_importance is not None else a)
        return x

    def features(self, x: torch.Tensor, convention: str | None = None) -> Features:
        """Features of padded unified input: ``joints`` (padded joints zeroed) and ``pooled`` over real joints."""
        b, m = x.shape[0], x.shape[4]
        real = self.real[self.convention_index(convention)].to(x.dtype)
        out = self.forward_map(x, convention)
        joints = out.reshape(b, m, *out.shape[1:]).mean(1) * real  # B, D, T', V
        pooled = joints.sum(3).mean(2) / real.sum()
        return Features(pooled=pooled, frames=joints.sum(3).transpose(1, 2) / real.sum(), joints=joints,
                        aux={CONVENTION.name: convention or self.names[0]})

    def forward(self, x: torch.Tensor, convention: str | None = None) -> Features:
        features = self.features(self.unify(x, convention), convention)
        if self.ensemble:
            features.aux[PER_CONVENTION.name] = {
                name: features.pooled if name == (convention or self.names[0])
                else self.features(self.unify(x, name), name).pooled
                for name in self.names
            }
        return features


def stgcn_multiskeleton(conventions: Sequence[str] = ("ntu25", "kinect20", "smpl24"), in_channels: int = 3,
                        config: str = "aimclr", channels: Sequence[int] | None = None,
                        strides: Sequence[int] | None = None, dropout: float | None = None,
                        partition: str = "stgcn", edge_importance: bool = True,
                        ensemble: bool = False) -> MultiSkeletonSTGCN:
    """MS-CLR's flexible ST-GCN over ``conventions`` derived from NTU-25 (``aimclr``: h = 16, 256-d)."""
    return MultiSkeletonSTGCN(conventions, in_channels, config, channels, strides, dropout, partition,
                              edge_importance, ensemble)


# ---------------------------------------------------------------------------------------- objective


def attention_guided_drop(joints: torch.Tensor, real: torch.Tensor, keep_prob: float = 0.7,
                          lam: float = 1e-4) -> torch.Tensor:
    """Zero the most salient ``1 − keep_prob`` of the real joints of ``joints`` (B, D, T, V); rescale the rest.

    Saliency is SimAM's energy attention ``sigmoid((x − μ)² / (4(σ² + λ)) + ½)`` per channel over
    (T, V), averaged per joint. Padded joints (``real`` False) are never kept nor counted.
    """
    real = real.to(joints.dtype)
    count = real.sum()
    mean = (joints.sum((2, 3), keepdim=True) / (count * joints.shape[2]))
    spread = ((joints - mean) ** 2) * real
    var = spread.sum((2, 3), keepdim=True) / (count * joints.shape[2] - 1).clamp_min(1)
    attention = torch.sigmoid(spread / (4 * (var + lam)) + 0.5).mean((1, 2))  # B, V
    attention = attention.masked_fill(real == 0, -1.0)
    drop = max(int(round(float(count) * (1 - keep_prob))), 0)
    keep = torch.ones_like(attention)
    if drop:
        keep.scatter_(1, attention.topk(drop, dim=1).indices, 0.0)
    keep = keep * real
    return joints * (keep * count / keep.sum(1, keepdim=True).clamp_min(1))[:, None, None, :]


class MSCLR(MomentumContrast):
    """MS-CLR (MS-AimCLR) over three views (``ssl.views``): basic (query), basic (key), strong (extreme).

    Args:
        encoder_dim: pooled size of the encoder (256).
        feature_dim, queue_size, momentum, temperature, mlp: MoCo (128, 32768, 0.999, 0.07, True).
        conventions: conventions drawn per batch (default: all of the encoder's).
        full_random: draw the key convention independently of the query's (True), else the same one.
        mining_epoch, topk: nearest-neighbour mining from this epoch (150), top-k per branch (1).
        keep_prob: share of joints the drop branch keeps (0.7).
        seed: seed of the convention draws.
    """

    #: The registry name, used in error messages.
    objective_name = "msclr"

    def __init__(self, encoder_dim: int = 256, feature_dim: int = 128, queue_size: int = 32768,
                 momentum: float = 0.999, temperature: float = 0.07, mlp: bool = True,
                 conventions: Sequence[str] | None = None, full_random: bool = True, mining_epoch: int = 150,
                 topk: int = 1, keep_prob: float = 0.7, seed: int = 0, modality: str = "skeleton",
                 base_lr: float | None = None):
        super().__init__(encoder_dim, feature_dim, queue_size, momentum, temperature, mlp, num_views=3,
                         modality=modality, base_lr=base_lr)
        self.conventions = list(conventions) if conventions else None
        self.full_random, self.mining_epoch, self.topk = bool(full_random), int(mining_epoch), int(topk)
        self.keep_prob = float(keep_prob)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0

    def draw(self, encoder: nn.Module) -> tuple[str, str]:
        """The batch's (query, key) conventions."""
        names = self.conventions or getattr(encoder, "names", None)
        if not names:
            raise ContractError("msclr: the encoder has no conventions; use the stgcn_multiskeleton encoder")
        pick = torch.randint(len(names), (2,), generator=self.generator).tolist()
        return names[pick[0]], names[pick[1] if self.full_random else pick[0]]

    def pretext_loss(self, model, views, batch):
        basic_q, basic_k, strong = views
        encoder = self.encoder(model)
        query_conv, key_conv = self.draw(encoder)
        q = self.query(model, basic_q, convention=query_conv)
        k = self.keys(model, basic_k, convention=key_conv)
        extreme = encoder(strong, convention=query_conv)
        real = encoder.real[encoder.convention_index(query_conv)]
        q_e = self.embed(extreme.pooled)
        dropped = attention_guided_drop(extreme.joints, real, self.keep_prob)
        q_ed = self.embed(dropped.sum(3).mean(2) / real.sum())
        z, z_e, z_ed = (moco_logits(v, k, self.queue.bank, self.temperature) for v in (q, q_e, q_ed))
        if self.epoch >= self.mining_epoch:
            info = multi_positive_nce(z, topk_neighbour_mask([z, z_e, z_ed], self.topk))
        else:
            info = F.cross_entropy(z, torch.zeros(len(q), dtype=torch.long, device=q.device))
        consistency = (distribution_consistency(z, z_e) + distribution_consistency(z, z_ed)) / 2
        self.enqueue(k)
        return info + consistency, {"info": info.detach(), "d3m": consistency.detach(),
                                    "same_convention": torch.tensor(float(query_conv == key_conv))}

    def on_epoch_start(self, model, epoch: int) -> None:
        self.epoch = epoch


# ---------------------------------------------------------------------------------------- ensemble


class ConventionEnsemble(nn.Module):
    """One linear classifier per convention on that convention's features; logits averaged (MS-CLR ensemble).

    Reads ``features[m].aux['per_convention']`` (``stgcn_multiskeleton`` with ``ensemble: true``).
    Per-convention logits go to ``aux['logits_per_modality']`` so ``classify``'s ``branch_weight``
    trains each classifier on its own.
    """

    def __init__(self, dims: dict[str, int], num_classes: int, roles: dict, conventions: Sequence[str] = (),
                 modality: str = "skeleton"):
        super().__init__()
        if modality not in dims:
            raise RecipeError(f"msclr_ensemble: no encoder for modality {modality!r} (have {', '.join(dims)})")
        if not conventions:
            raise RecipeError("msclr_ensemble: list the conventions (the encoder's) in model.mixer.args.conventions")
        self.modality, self.names = modality, list(conventions)
        self.classifiers = nn.ModuleDict({c: nn.Linear(dims[modality], num_classes) for c in self.names})
        self.out_dim = None

    def forward(self, features, masks) -> MixerOutput:
        per = PER_CONVENTION.read(features[self.modality].aux, "msclr_ensemble", f"{self.modality} encoder", "mixer")
        missing = [c for c in self.names if c not in per]
        if missing:
            raise ContractError(f"msclr_ensemble: the encoder gave no features for conventions {missing}")
        logits = {c: self.classifiers[c](per[c]) for c in self.names}
        mean = torch.stack(list(logits.values())).mean(0)
        return MixerOutput(fused=None, logits=mean, aux={LOGITS_PER_MODALITY.name: logits})


ENSEMBLE_SPEC = MixerSpec(
    name="msclr_ensemble", factory=ConventionEnsemble, needs={EVERY_MODALITY: frozenset({"pooled"})},
    aux=(LOGITS_PER_MODALITY,),
    doc="MS-CLR ensemble: a linear classifier per skeleton convention, logits averaged.",
)
SPEC = ObjectiveSpec(name="msclr", factory=MSCLR,
                     doc="MS-CLR: AimCLR-style MoCo with cross-convention positives over padded skeleton conventions.",
                     batch=("<modality>",))
ENCODER_SPEC = EncoderSpec(name="stgcn_multiskeleton", factory=stgcn_multiskeleton, modality="skeleton",
                           provides=frozenset({"pooled", "frames", "joints"}), aux=(CONVENTION, PER_CONVENTION),
                           doc="MS-CLR flexible ST-GCN: per-convention graphs on a padded joint axis (from NTU-25).")
