"""SkeletonMAE (Yan et al., ICCV 2023): graph masked autoencoding of skeleton frames, and its STRL fine-tuning model.

Pre-training (objective ``skeletonmae``, encoder ``skeleton_gin``): on every per-frame graph, whole
body regions (the layout's parts: head, torso, arms, legs) are chosen and each of their joints'
embedded features is replaced by one learnable mask token; the GIN encoder (3 layers) encodes the
graph; a Linear maps to the decoder, whose masked inputs are zeroed again (GraphMAE re-masking); one
GIN layer decodes. The loss is GraphMAE's re-weighted cosine error on masked joints,
``mean_i (1 − cos(x_i, y_i))^β`` with β = 2 (the paper prints ``Σ((1−cos)/|V̄|)^β``, the same up to
the constant factor ``|V̄|^{1−β}``).

Proposed where the paper is silent (no code released): the reconstruction target is each masked
joint's input coordinates (``target="input"``; ``"embedding"`` reconstructs the stop-gradient joint
embedding, the literal reading of "back to R^{17×D}"); regions are drawn per graph, ``count``
distinct regions uniformly (an int or a list to draw from).

Fine-tuning model (encoder ``strl``): joints embedded + a learnable temporal embedding, then ``M`` STRL
layers. In each, every person has a Spatial-Modelling block ``SM(H) = [Repeat_V(Σ_joints G_E(A, H)), H]``
with its own copy of the pre-trained GIN encoder G_E, followed by ``H ← ReLU(SM(H)·W + H)`` (1×1
residual); a multi-scale temporal convolution (MS-TCN branches) precedes global pooling. The copies
are filled from the pre-trained ``gin.*`` weights when a checkpoint provides only those.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.types import Features, ObjectiveSpec
from fusion_plugins.skeleton.blocks import MultiScaleTemporalConv, check_input, joint_features
from fusion_plugins.skeleton.layouts import get_layout

from .gin import GINLayer, GINStack
from .masking import body_region_mask
from .pretext import PretextObjective

REGION_ORDER = ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg")


def rce_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Re-weighted cosine error ``mean_i (1 − cos(pred_i, target_i))^β`` over rows (GraphMAE's SCE)."""
    cos = F.cosine_similarity(pred, target, dim=-1, eps=1e-8)
    return (1 - cos).pow(beta).mean()


class SkeletonMAE(PretextObjective):
    """Body-region masked graph autoencoding on a ``skeleton_gin`` encoder.

    Args:
        layout: skeleton layout; its ``parts`` are the regions (``regions`` overrides with part names).
        count: regions masked per graph (int, or a list drawn from uniformly).
        encoder_dim: the encoder's GIN width; embed_dim: its joint-embedding width (mask-token size).
        in_channels: C (target size for ``target="input"``).
        beta: RCE exponent (2).
        target: ``"input"`` (coordinates) or ``"embedding"`` (stop-gradient joint embeddings).
    """

    #: The registry name, used in error messages.
    objective_name = "skeletonmae"

    def __init__(self, layout: str = "ntu25", regions: Sequence[str] | None = None, count: int | Sequence[int] = 3,
                 encoder_dim: int = 64, embed_dim: int = 64, in_channels: int = 3, beta: float = 2.0,
                 target: str = "input", modality: str = "skeleton", base_lr: float | None = None):
        super().__init__(modality, 1, base_lr)
        if target not in ("input", "embedding"):
            raise RecipeError(f"objective skeletonmae, argument target: must be 'input' or 'embedding', got {target!r}")
        self.layout = get_layout(layout)
        names = list(regions) if regions is not None else [r for r in REGION_ORDER if r in self.layout.parts]
        missing = [n for n in names if n not in self.layout.parts]
        if missing:
            raise RecipeError(f"objective skeletonmae, argument regions: layout {self.layout.name!r} has no part {missing[0]!r}; "
                             f"parts: {', '.join(self.layout.parts)}")
        self.region_names = names
        self.regions = [tuple(self.layout.parts[n]) for n in names]
        self.count, self.beta, self.target = count, float(beta), target
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.to_decoder = nn.Linear(encoder_dim, encoder_dim, bias=False)
        out_dim = in_channels if target == "input" else embed_dim
        self.decoder = GINLayer(encoder_dim, out_dim, norm_act=False)

    def mask(self, graphs: int, device=None, generator=None) -> torch.Tensor:
        """(graphs, V) bool: the union of ``count`` random regions per graph."""
        return body_region_mask(graphs, self.regions, self.layout.num_joints, self.count, generator, device)

    def reconstruct(self, encoder, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mask-token replacement → GIN encoder → re-mask → GIN decoder; ``(G, V, out)``."""
        hidden = torch.where(mask[..., None], self.mask_token.to(embedded.dtype), embedded)
        latent = self.to_decoder(encoder.encode_graphs(hidden))
        latent = latent.masked_fill(mask[..., None], 0.0)
        return self.decoder(latent, encoder.adjacency)

    def pretext_loss(self, model, views, batch):
        encoder = self.encoder(model)
        for attr in ("graphs", "embed", "encode_graphs", "adjacency"):
            if not hasattr(encoder, attr):
                raise ContractError(f"skeletonmae needs the skeleton_gin encoder; {type(encoder).__name__} has no {attr}")
        graphs = encoder.graphs(views[0])
        present = graphs.abs().sum((1, 2)) > 0  # padded persons / frames carry nothing to reconstruct
        graphs = graphs[present]
        embedded = encoder.embed(graphs)
        mask = self.mask(graphs.shape[0], graphs.device)
        recon = self.reconstruct(encoder, embedded, mask)
        target = graphs if self.target == "input" else embedded.detach()
        loss = rce_loss(recon[mask], target[mask], self.beta)
        return loss, {"masked_joints": mask.float().sum(1).mean().detach()}


# ---------------------------------------------------------------------------------------- STRL


class STRLLayer(nn.Module):
    """One STRL layer: per person, ``SM(H) = [Repeat_V(Σ_v G_E(A, H)), H]``, then ``ReLU(SM·W + H)``."""

    def __init__(self, dim: int, hidden: int, gin_layers: int, persons: int):
        super().__init__()
        self.sm = nn.ModuleList(GINStack(dim, hidden, gin_layers) for _ in range(persons))
        self.fuse = nn.ModuleList(nn.Linear(hidden + dim, dim) for _ in range(persons))

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """``h`` (B, M, T, V, D) → same shape."""
        b, m, t, v, d = h.shape
        out = []
        for p in range(m):
            hp = h[:, p].reshape(b * t, v, d)
            summary = self.sm[p](hp, adjacency).sum(1, keepdim=True).expand(-1, v, -1)
            out.append(torch.relu(self.fuse[p](torch.cat([summary, hp], dim=-1)) + hp).reshape(b, t, v, d))
        return torch.stack(out, dim=1)


class STRL(nn.Module):
    """SkeletonMAE's fine-tuning model: embedding, ``num_layers`` STRL layers, multi-scale temporal conv, pooling.

    Args:
        layout, in_channels: input convention.
        dim, hidden, gin_layers: must match the pre-trained ``skeleton_gin`` (64, 64, 3).
        num_layers: M STRL layers (3 best).
        persons: person slots (each has its own SM copies); the batch's M must equal it.
        frames: length of the learnable temporal embedding (T = 64); other lengths interpolate it.
        branches: MS-TCN branches of the temporal module (CTR-GCN's by default).
        joint_embedding: the learnable per-joint embedding of ``skeleton_gin`` (pre-trained with it).
    """

    def __init__(self, layout: str = "ntu25", in_channels: int = 3, dim: int = 64, hidden: int = 64,
                 gin_layers: int = 3, num_layers: int = 3, persons: int = 2, frames: int = 64,
                 branches: Sequence = ((5, 1), (5, 2), "max", "1x1"), joint_embedding: bool = True):
        super().__init__()
        self.layout = get_layout(layout)
        self.in_channels, self.persons, self.out_dim = in_channels, persons, dim
        self.embed = nn.Linear(in_channels, dim)
        self.joint_embed = nn.Parameter(torch.zeros(1, self.layout.num_joints, dim)) if joint_embedding else None
        if joint_embedding:
            nn.init.trunc_normal_(self.joint_embed, std=0.02)
        self.gin = GINStack(dim, hidden, gin_layers)  # the pre-trained G_E (template of every SM copy)
        self.temporal_embed = nn.Parameter(torch.zeros(1, 1, frames, 1, dim))
        nn.init.trunc_normal_(self.temporal_embed, std=0.02)
        self.layers = nn.ModuleList(STRLLayer(dim, hidden, gin_layers, persons) for _ in range(num_layers))
        self.temporal = MultiScaleTemporalConv(dim, dim, [tuple(b) if isinstance(b, list) else b for b in branches])
        self.register_buffer("adjacency", torch.as_tensor(self.layout.adjacency(), dtype=torch.float32),
                             persistent=False)
        self._register_load_state_dict_pre_hook(self._fill_copies, with_module=False)

    def _fill_copies(self, state_dict, prefix, *args) -> None:
        """A checkpoint with the pre-trained ``gin.*`` but no SM copies initialises every copy from it."""
        template = {k[len(prefix) + 4:]: v for k, v in state_dict.items() if k.startswith(prefix + "gin.")}
        if not template:
            return
        for index, layer in enumerate(self.layers):
            for p in range(len(layer.sm)):
                copy_prefix = f"{prefix}layers.{index}.sm.{p}."
                if not any(k.startswith(copy_prefix) for k in state_dict):
                    state_dict.update({copy_prefix + k: v for k, v in template.items()})

    def no_weight_decay(self) -> set[str]:
        return {"temporal_embed", "joint_embed"}

    def forward(self, x: torch.Tensor) -> Features:
        b, c, t, v, m = check_input(x, "strl", self.layout, self.in_channels, self.persons)
        h = self.embed(x.permute(0, 4, 2, 3, 1))  # B, M, T, V, D
        embed = self.temporal_embed
        if t != embed.shape[2]:
            embed = F.interpolate(embed[0, 0, :, 0].t()[None], size=t, mode="linear", align_corners=False)
            embed = embed[0].t()[None, None, :, None]
        h = h + embed
        if self.joint_embed is not None:
            h = h + self.joint_embed[:, None, None]
        for layer in self.layers:
            h = layer(h, self.adjacency)
        h = h.reshape(b * m, t, v, -1).permute(0, 3, 1, 2)  # B·M, D, T, V
        return joint_features(self.temporal(h), b, m)


def strl(layout: str = "ntu25", in_channels: int = 3, dim: int = 64, hidden: int = 64, gin_layers: int = 3,
         num_layers: int = 3, persons: int = 2, frames: int = 64, branches: Sequence = ((5, 1), (5, 2), "max", "1x1"),
         joint_embedding: bool = True) -> STRL:
    """SkeletonMAE's STRL fine-tuning model; see :class:`STRL`."""
    return STRL(layout, in_channels, dim, hidden, gin_layers, num_layers, persons, frames, branches, joint_embedding)


SPEC = ObjectiveSpec(name="skeletonmae", factory=SkeletonMAE,
                     doc="SkeletonMAE: body-region masking with a mask token, GIN encoder/decoder, re-weighted cosine loss.",
                     batch=("<modality>",))
