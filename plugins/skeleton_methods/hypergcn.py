"""Hyper-GCN (Zhou et al., ICCV 2025): multi-head hyper-graph convolution with virtual hyper-joints.

Follows the released v2/v3 code (the only version with public code; the arXiv v1 "multi-scale" design
is undocumented). The model, per block ``ReLU(MS-TCN(M-HGC(x)) + residual(x))``:

- **Virtual hyper-joints**: each layer owns ``E (h, C_in)``, appended as ``h`` extra vertices to every
  frame (V' = V + h) and dropped again after aggregation, so :class:`Features` keep V joints.
- **Static multi-head graph**: ``A0 = I + E_in + E_out`` on the layout's graph plus edges between every
  virtual and every real joint, repeated for K = 8 heads (a frozen parameter ``PA``), reweighted by a
  learnable ``edge_importance`` and row-normalised: ``A_s = rownorm(M ⊙ A0)``.
- **Adaptive hyper-graph** per sample and head: ``z = mean_T(X')``, features ``F`` (grouped 1×1 conv,
  d = C_in/K/4), distances ``D = cdist(F, F)``; every vertex joins its k = 9 nearest vertices with
  weights ``softmax(−D)`` (one hyper-edge per vertex, row of H), hyper-edge weights
  ``w = tanh(conv(LeakyReLU(conv(z))))``, operator ``G = Dv⁻¹ H W W De⁻¹ Hᵀ`` (``w`` enters twice, as in
  the code), topology ``A = A_s + ReLU(α) G``.
- **Aggregation**: grouped 1×1 conv to C_out, ``Y_k = X̂_k A_kᵀ`` per head; BN (γ = 1e-6) + down + ReLU.
- **Stem**: ``tanh(Linear(C→128)(x) + pos)``, BN over (M·V·128); **skips** inside each stage
  (input(l3) = out(l2) + out(l1), likewise l6 and l9).
- **Divergence loss** on the virtual-joint embeddings: ``L_l = (Σ ReLU(cos(E_a, E_b)) − h)/(h(h−1))``,
  averaged over layers; reported as ``Features.aux['losses']['divergence']`` (``classify`` adds every
  ``aux['losses']`` term to CE with label smoothing 0.1, as the paper's ``L = CE + L_div``).

Configurations ``base`` (128-256-256) and ``large`` (128-256-512) match the official models parameter for
parameter (``PA`` is a frozen parameter there too, so both trainable and total counts compare).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import RecipeError
from fusion.fastpath import add_relu_, eager_cpu, fold_scale_into_rows, is_norm
from fusion.types import LOSSES, AuxField, Features
from fusion_plugins.skeleton.blocks import MultiScaleTemporalConv, check_input, joint_features, residual, select_config
from fusion_plugins.skeleton.ctrgcn import official_init
from fusion_plugins.skeleton.layouts import SkeletonLayout, edge_matrix, get_layout

CONFIGS: dict[str, dict] = {
    "base": dict(embed=128, channels=(128, 128, 128, 256, 256, 256, 256, 256, 256), strides=(1, 1, 1, 2, 1, 1, 2, 1, 1)),
    "large": dict(embed=128, channels=(128, 128, 128, 256, 256, 256, 512, 512, 512), strides=(1, 1, 1, 2, 1, 1, 2, 1, 1)),
    "small": dict(embed=32, channels=(32, 64, 64), strides=(1, 2, 2)),
}
TCN_BRANCHES = ((5, 1), (5, 2), "max", "1x1")


def virtual_graph(layout: SkeletonLayout, virtual: int) -> np.ndarray:
    """Binary (V+h, V+h) ``I + E_in + E_out``; every virtual joint linked both ways to every real joint."""
    v = layout.num_joints
    size = v + virtual
    a = np.eye(size)
    e = edge_matrix(layout.inward, v)
    a[:v, :v] += e + e.T
    a[v:, :v] = 1.0
    a[:v, v:] = 1.0
    return a.astype(np.float32)


def hyperedge_incidence(features: torch.Tensor, k: int) -> torch.Tensor:
    """(N, K, V', d) vertex features → (N, K, V', V') H: row i holds softmax(−distance) over its k nearest vertices."""
    distance = torch.cdist(features, features)
    near, index = torch.topk(distance, k, dim=-1, largest=False)
    return torch.zeros_like(distance).scatter(-1, index, torch.softmax(-near, dim=-1))


def hypergraph_operator(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``G = Dv⁻¹ H diag(w)² De⁻¹ Hᵀ`` with ``De[j] = Σ_i|H_ij|``, ``Dv[i] = Σ_j|H_ij w_j|`` (+1e-8 each)."""
    de = h.abs().sum(-2, keepdim=True) + 1e-8  # (N, K, 1, V') per hyper-edge j
    hw = h * w.unsqueeze(-2)
    dv = hw.abs().sum(-1, keepdim=True) + 1e-8  # (N, K, V', 1) per vertex i
    return (hw / dv) @ ((h * w.unsqueeze(-2) / de).transpose(-1, -2))


def row_normalise(a: torch.Tensor) -> torch.Tensor:
    return a / (a.abs().sum(-1, keepdim=True) + 1e-8)


def divergence_loss(embeddings: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of ``(Σ_ab ReLU(S_ab) − h) / (h(h−1))``, S the cosine similarity of the h rows of E."""
    terms = []
    for e in embeddings:
        h = e.shape[0]
        norms = e.norm(dim=1, keepdim=True)
        s = (e @ e.T) / (norms @ norms.T + 1e-8)
        terms.append((F.relu(s).sum() - h) / (h * (h - 1)))
    return torch.stack(terms).mean()


class MultiHeadHyperGraphConv(nn.Module):
    """M-HGC: static + adaptive hyper-graph topology per head over real and virtual joints."""

    def __init__(self, in_channels: int, out_channels: int, graph: np.ndarray, num_joints: int, virtual: int = 3,
                 heads: int = 8, neighbours: int = 9, reduction: int = 4):
        super().__init__()
        hidden = in_channels // heads // reduction
        if hidden < 1 or in_channels % heads or out_channels % heads:
            raise RecipeError(
                f"hypergcn: widths {in_channels}->{out_channels} need multiples of {heads} heads and "
                f"C_in/{heads}/{reduction} >= 1")
        if neighbours > num_joints + virtual:
            raise RecipeError(f"hypergcn: k={neighbours} neighbours exceed the {num_joints + virtual} vertices")
        self.num_joints, self.heads, self.hidden, self.neighbours = num_joints, heads, hidden, neighbours
        # official init: one random row repeated (identical virtual joints, L_div = 1 at the start)
        self.hyper_joint = nn.Parameter(torch.randn(1, in_channels).repeat(virtual, 1))
        self.to_features = nn.Conv1d(in_channels, heads * hidden, 1, groups=heads)
        self.to_weights = nn.Sequential(nn.Conv1d(in_channels, heads * hidden, 1, groups=heads), nn.LeakyReLU(),
                                        nn.Conv1d(heads * hidden, heads, 1), nn.Tanh())
        self.alpha = nn.Parameter(torch.ones(1))
        static = torch.from_numpy(graph)[None].repeat(heads, 1, 1)
        self.PA = nn.Parameter(static, requires_grad=False)
        self.edge_importance = nn.Parameter(torch.ones_like(static))
        self.conv = nn.Conv2d(in_channels, out_channels, 1, groups=heads)
        self.down = residual(in_channels, out_channels)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def topology(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, T, V') → (A (N, K, V', V'), H (N, K, V', V'))."""
        return self.topology_of_mean(x.mean(2))

    def topology_of_mean(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The topology from the time-mean ``z`` (N, C, V') of the joints and virtual joints."""
        n, _, v = z.shape
        feats = self.to_features(z).view(n, self.heads, self.hidden, v).transpose(-1, -2)
        h = hyperedge_incidence(feats, self.neighbours)
        g = hypergraph_operator(h, self.to_weights(z))
        static = row_normalise(self.edge_importance * self.PA)
        return static + F.relu(self.alpha) * g, h

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False
    #: Eval mode keeps the reference's order of operations unless the module was fused for inference
    #: (:func:`fusion.fastpath.fuse_for_inference`): with 28 vertices ``torch.cdist``'s rounding amplifies
    #: any reordering past the official-output fixtures' 1e-5 (float32, ``tests/checkpoints``).
    eval_reference = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fast path: the virtual joints are constant over samples and frames, so they are never appended
        to x. The topology uses the time-mean of x with the virtual columns appended (a small tensor). The
        conv runs on the V real joints only, and the virtual joints' conv outputs (C_out × h, once) enter
        the aggregation as a per-(sample, head) term broadcast over frames. Only the V real output joints
        are computed, because the reference drops the virtual ones after the aggregation. The grouped conv
        runs as one matmul per head and the head products as one ``bmm``."""
        if self.reference or (self.eval_reference and not self.training):
            return self.forward_reference(x)
        n, cin, t, v = x.shape
        heads, virtual = self.heads, self.hyper_joint.shape[0]
        joints = self.hyper_joint.T  # C_in, h
        a, _ = self.topology_of_mean(torch.cat([x.mean(2), joints.expand(n, -1, -1)], dim=-1))
        # the grouped 1×1 conv as one matmul per head (2-4× faster than the grouped conv on CPU), its output
        # already (N, K, C/K, T·V) for the per-head products
        out = self.conv.out_channels // heads
        y = torch.matmul(self.conv.weight.view(heads, out, cin // heads), x.contiguous().view(n, heads, -1, t * v))
        y = y.add_(self.conv.bias.view(heads, out, 1)).view(n * heads, out * t, v)
        y_virtual = F.conv1d(joints[None], self.conv.weight[..., 0], self.conv.bias, groups=heads)
        y = torch.bmm(y, a[:, :, :v, :v].reshape(n * heads, v, v).transpose(1, 2)).view(n, heads, out, t, v)
        y_virtual = torch.einsum("nkuj,kcj->nkcu", a[:, :, :v, v:], y_virtual.view(heads, -1, virtual))
        y = y.add_(y_virtual.unsqueeze(3)).view(n, -1, t, v)
        return add_relu_(self.bn(y), self.down(x))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, _ = x.shape
        virtual = self.hyper_joint.T[None, :, None, :].expand(n, -1, t, -1)
        xv = torch.cat([x, virtual], dim=-1)
        a, _ = self.topology(xv)
        y = self.conv(xv).view(n, self.heads, -1, t, xv.shape[-1])
        y = torch.einsum("nkuv,nkctv->nkctu", a, y).reshape(n, -1, t, xv.shape[-1])
        v = self.num_joints
        return self.relu(self.bn(y[..., :v]) + self.down(x))

    def fold_batchnorm(self) -> None:
        """Inference: BN scale into ``conv`` (the head topology product is linear per channel), shift kept;
        the fused copy runs the fast path in eval mode too."""
        self.eval_reference = False
        if is_norm(self.bn):
            self.bn = fold_scale_into_rows(self.conv, self.bn)


class HyperGCNBlock(nn.Module):
    """``ReLU(MS-TCN(M-HGC(x)) + residual(x))``; the temporal convs pad by replication, as in the code."""

    def __init__(self, in_channels: int, out_channels: int, graph: np.ndarray, num_joints: int, stride: int = 1,
                 virtual: int = 3, heads: int = 8, neighbours: int = 9):
        super().__init__()
        self.gcn = MultiHeadHyperGraphConv(in_channels, out_channels, graph, num_joints, virtual, heads, neighbours)
        self.tcn = MultiScaleTemporalConv(out_channels, out_channels, TCN_BRANCHES, stride=stride, branch_norm=True)
        for module in self.tcn.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size[0] > 1:
                module.padding_mode = "replicate"
        self.residual = residual(in_channels, out_channels, stride)
        self.relu = nn.ReLU()

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fast path: in CPU inference the multi-scale TCN runs on a channels-last copy of the M-HGC output
        (its 1×1 convs and pools measured faster there; in training the two layout copies cost what the TCN
        gains); the residual add and ReLU reuse the TCN output's memory. M-HGC itself reads standard-layout
        maps (its per-head products need them)."""
        if self.reference:
            return self.forward_reference(x)
        if torch.is_grad_enabled() or not eager_cpu(x):
            return add_relu_(self.tcn(self.gcn(x)), self.residual(x))
        hidden = self.gcn(x.contiguous()).contiguous(memory_format=torch.channels_last)
        return add_relu_(self.tcn(hidden), self.residual(x))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.tcn(self.gcn(x)) + self.residual(x))


class HyperGCN(nn.Module):
    """Hyper-GCN backbone: ``(B, C, T, V, M)`` → :class:`Features` with ``aux['losses']['divergence']``.

    Args:
        layout: skeleton layout (the official graph is ``ntu25_b``, hand convention B).
        in_channels: input channels (3 for one stream).
        embed: joint-embedding width of the stem.
        channels, strides: per-block widths and strides; the skips join blocks 1+2, 4+5, 7+8 of each
            three-block stage (when there are nine blocks).
        num_persons: M (the stem's BN has separate statistics per person slot).
        virtual, heads, neighbours: h virtual joints, K heads, k nearest vertices per hyper-edge.
        divergence_weight: weight of L_div in ``aux['losses']`` (1 in the paper; 0 removes it).
    """

    def __init__(self, layout: str = "ntu25_b", in_channels: int = 3, embed: int = 128,
                 channels: Sequence[int] = CONFIGS["base"]["channels"], strides: Sequence[int] = CONFIGS["base"]["strides"],
                 num_persons: int = 2, virtual: int = 3, heads: int = 8, neighbours: int = 9,
                 divergence_weight: float = 1.0):
        super().__init__()
        if len(channels) != len(strides):
            raise RecipeError(f"hypergcn: {len(channels)} channels but {len(strides)} strides")
        self.layout = get_layout(layout)
        v = self.layout.num_joints
        self.in_channels, self.num_persons, self.embed = in_channels, num_persons, embed
        self.divergence_weight = divergence_weight
        self.to_joint_embedding = nn.Linear(in_channels, embed)
        self.pos_embedding = nn.Parameter(torch.randn(1, v, embed))
        self.data_bn = nn.BatchNorm1d(num_persons * embed * v)
        graph = virtual_graph(self.layout, virtual)
        widths = [embed, *channels]
        self.blocks = nn.ModuleList(
            HyperGCNBlock(widths[i], widths[i + 1], graph, v, strides[i], virtual, heads, neighbours)
            for i in range(len(channels))
        )
        # skip: the input of block i adds the output of block i-2 (official l3, l6, l9)
        self.skips = {i for i in range(len(channels)) if len(channels) == 9 and i % 3 == 2}
        self.out_dim = widths[-1]
        _init_weights(self)

    def virtual_embeddings(self) -> list[torch.Tensor]:
        return [block.gcn.hyper_joint for block in self.blocks]

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "hypergcn", self.layout, self.in_channels, self.num_persons)
        n, _, t, v, m = x.shape
        x = torch.tanh(self.to_joint_embedding(x.permute(0, 4, 2, 3, 1)) + self.pos_embedding)  # N M T V D
        x = self.data_bn(x.permute(0, 1, 3, 4, 2).reshape(n, m * v * self.embed, t))
        x = x.view(n, m, v, self.embed, t).permute(0, 1, 3, 4, 2).reshape(n * m, self.embed, t, v)
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x + outputs[i - 2] if i in self.skips else x)
            outputs.append(x)
        return x

    def forward(self, x: torch.Tensor) -> Features:
        features = joint_features(self.forward_map(x), x.shape[0], x.shape[4])
        embeddings = self.virtual_embeddings()
        features.aux[VIRTUAL_JOINTS.name] = embeddings
        if self.divergence_weight:
            features.aux[LOSSES.name] = {"divergence": self.divergence_weight * divergence_loss(embeddings)}
        return features


#: The learnable virtual hyper-joint embeddings of every block (L_div is computed on them).
VIRTUAL_JOINTS: AuxField[list[torch.Tensor]] = AuxField(
    "virtual_joints", "one (h, D_l) virtual hyper-joint embedding per block", "encoder 'hypergcn'")
#: The encoder's declared aux outputs (its losses hold ``divergence`` while divergence_weight > 0).
AUX = (VIRTUAL_JOINTS, AuxField(LOSSES.name, "{'divergence': weighted L_div}", "encoder 'hypergcn'", "divergence_weight > 0"))


def _init_weights(model: nn.Module) -> None:
    """CTR-GCN's official initialisation (also the 1-D convs of M-HGC); the M-HGC output BN γ = 1e-6."""
    official_init(model, (MultiHeadHyperGraphConv,))


def hypergcn(layout: str = "ntu25_b", in_channels: int = 3, config: str = "base", embed: int | None = None,
             channels: Sequence[int] | None = None, strides: Sequence[int] | None = None, num_persons: int = 2,
             virtual: int = 3, heads: int = 8, neighbours: int = 9, divergence_weight: float = 1.0) -> HyperGCN:
    """Build Hyper-GCN from a named ``config``: ``base``, ``large`` (paper) or ``small`` (CPU tests)."""
    cfg = select_config("hypergcn", CONFIGS, config, embed=embed, channels=channels, strides=strides)
    return HyperGCN(layout, in_channels, cfg["embed"], cfg["channels"], cfg["strides"], num_persons, virtual, heads,
                    neighbours, divergence_weight)


#: Four-stream score weights (joint, bone, joint motion, bone motion) from the official ensemble script.
ENSEMBLE_WEIGHTS: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "base": {"ntu60_xsub": (1, 1.4, 1.1, 0.3), "ntu60_xview": (1, 1.4, 1.1, 0.6),
             "ntu120_xsub": (1, 1.5, 0.7, 0.3), "ntu120_xset": (1, 1.5, 0.7, 0.3)},
    "large": {"ntu60_xsub": (1, 1.4, 1, 0.5), "ntu60_xview": (1, 1.4, 1, 0.5),
              "ntu120_xsub": (1, 1.5, 0.7, 0.3), "ntu120_xset": (1, 1.5, 0.6, 0.6)},
}


def ensemble_weights(variant: str, benchmark: str) -> dict[str, float]:
    """``{joint, bone, motion, bone_motion}`` weights for :func:`fusion_plugins.skeleton.ensemble.ensemble_scores`."""
    try:
        values = ENSEMBLE_WEIGHTS[variant][benchmark]
    except KeyError:
        raise RecipeError(f"hypergcn ensemble: no weights for {variant!r}/{benchmark!r}; known: "
                          f"{ {k: list(v) for k, v in ENSEMBLE_WEIGHTS.items()} }") from None
    return dict(zip(("joint", "bone", "motion", "bone_motion"), map(float, values)))


__all__ = ["HyperGCN", "hypergcn", "divergence_loss", "hyperedge_incidence", "hypergraph_operator", "virtual_graph",
           "ensemble_weights"]
