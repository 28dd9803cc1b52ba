"""CTR-GCN (Chen et al., ICCV'21): channel-wise topology refinement graph convolution + multi-scale TCN.

The ``paper`` configuration is the official ``model/ctrgcn.py``: ``data_bn = BN1d(M·V·C)`` (separate
statistics per person slot, so the model is built for a fixed ``num_persons``), ten
``TCN_GCN_unit`` blocks 64×4 → 128×3 (stride 2 at the 5th) → 256×3 (stride 2 at the 8th). Each block's
``unit_gcn`` sums one :class:`CTRGC` per partition subset (A is a learnable copy ``PA`` of the spatial
partition; one scalar ``alpha``, initialised to 0, shared by the subsets), then BN with γ = 1e-6, plus a
``down`` projection, then ReLU; the temporal part is a 4-branch multi-scale TCN (kernel 5, dilations 1
and 2, max-pool, 1×1), and the block adds its own residual (off in block 1). The official head
(mean over T·V and persons, FC 256 → classes) is the framework's linear head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.errors import RecipeError
from fusion.fastpath import add_relu_, channels_last_only, fold_scale_into_rows, is_norm

from .blocks import DataNorm, GCNBlock, GraphStack, MultiScaleTemporalConv, check_block_lists, residual, select_config
from .layouts import get_layout

CONFIGS: dict[str, dict] = {
    "paper": dict(channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256), strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1)),
    "small": dict(channels=(16, 32, 64), strides=(1, 2, 2)),
}

#: CTR-GCN's temporal branches: kernel 5 with dilations 1 and 2, a max-pool branch and a 1×1 branch.
TCN_BRANCHES = ((5, 1), (5, 2), "max", "1x1")


class CTRGC(nn.Module):
    """Channel-wise topology refinement for one partition subset.

    ``q, k = conv1(x).mean_T, conv2(x).mean_T`` (R channels); ``M = tanh(q_u − k_v)``;
    ``Ã = conv4(M)·α + A`` is one (V, V) topology *per output channel*; ``y[c, t, u] = Σ_v Ã[c, u, v] v[c, t, v]``
    with ``v = conv3(x)``. R = C_in / 8, except R = 8 for the raw-input widths 3 and 9 (the official rule,
    whose unused ``mid_channels`` is not built here because it has no parameters).
    """

    def __init__(self, in_channels: int, out_channels: int, rel_reduction: int = 8):
        super().__init__()
        rel = 8 if in_channels in (3, 9) else in_channels // rel_reduction
        if rel < 1:
            raise RecipeError(f"ctrgcn: {in_channels} input channels give no relation channels "
                              f"(C_in / rel_reduction = {in_channels} / {rel_reduction} < 1); expected at least "
                              f"{rel_reduction} channels")
        self.conv1 = nn.Conv2d(in_channels, rel, 1)
        self.conv2 = nn.Conv2d(in_channels, rel, 1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, 1)
        self.conv4 = nn.Conv2d(rel, out_channels, 1)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, subset: int, alpha: torch.Tensor) -> torch.Tensor:
        """Refine ``adjacency[subset]`` of the (K, V, V) stack (the stack is passed whole, not a slice:
        torch's module tracker, used by ``FlopCounterMode``, fails on parameter slices under no_grad)."""
        q, k, v = self.conv1(x).mean(-2), self.conv2(x).mean(-2), self.conv3(x)
        relation = torch.tanh(q.unsqueeze(-1) - k.unsqueeze(-2))  # N, R, V, V
        topology = self.conv4(relation) * alpha + adjacency[subset][None, None]  # N, C, V, V
        return torch.einsum("ncuv,nctv->nctu", topology, v)


class CTRGCUnit(nn.Module):
    """CTR-GCN's ``unit_gcn``: ``ReLU(BN(Σ_k CTRGC_k(x, PA_k, α)) + down(x))``.

    The fast path (default; ``reference = True`` runs the reference) computes the same sum with the K
    topologies batched: ``conv1``/``conv2`` of all subsets as one matmul on the time-mean of x (a 1×1 conv
    commutes with the mean, so the (N, R, T, V) maps are never built), ``conv4`` of all subsets as one
    matmul with α folded into its (small) weights, so the (K, N, C, V, V)
    topology (its constant ``α·b4 + PA`` included as two extra relation rows) is written subset-major in one
    pass, and each subset's slice is contiguous for its product. ``conv3`` and the products stay per subset,
    accumulated with ``baddbmm_``: on CPU one merged ``conv3`` plus one (N·K·C)-batched matmul summed over K
    measured slower than the loop (the sum's backward expands the gradient over K and copies it).
    """

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor):
        super().__init__()
        self.convs = nn.ModuleList(CTRGC(in_channels, out_channels) for _ in range(adjacency.shape[0]))
        self.PA = nn.Parameter(adjacency.clone())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(out_channels)
        self.down = residual(in_channels, out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reference:
            return self.forward_reference(x)
        return add_relu_(self.bn(self.aggregate(x)), self.down(x))

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ_k CTRGC_k(x, PA_k, α)`` with the topologies batched (see the class docstring)."""
        convs = list(self.convs)
        k, n, t, v = len(convs), x.shape[0], x.shape[2], x.shape[3]
        rel, out, cin = convs[0].conv1.out_channels, convs[0].conv3.out_channels, x.shape[1]
        w12 = torch.cat([c.conv1.weight for c in convs] + [c.conv2.weight for c in convs]).view(2 * k * rel, cin)
        b12 = torch.cat([c.conv1.bias for c in convs] + [c.conv2.bias for c in convs])
        q, key = (torch.matmul(w12, x.mean(2)) + b12[:, None]).view(n, 2, k, rel, v).unbind(1)
        relation = torch.tanh(q.unsqueeze(-1) - key.unsqueeze(-2)).view(n, k, rel, v * v).transpose(0, 1)  # K, N, R, UV
        # the constant part α·b4[c] + PA_k[u, v] as two more relation rows (ones, PA_k) with weights (α·b4, 1):
        # the (K, N, C, U·V) topology comes out of one matmul, subset-major, with no pass to add it
        constant = torch.stack([torch.ones_like(self.PA).view(k, v * v), self.PA.view(k, v * v)], 1)  # K, 2, UV
        relation = torch.cat([relation, constant[:, None].expand(k, n, 2, v * v)], 2)  # K, N, R + 2, UV
        weight4 = torch.stack([c.conv4.weight.view(out, rel) for c in convs]) * self.alpha  # K, C, R
        bias4 = torch.stack([c.conv4.bias for c in convs]) * self.alpha  # K, C
        weight4 = torch.cat([weight4, bias4[..., None], torch.ones_like(bias4)[..., None]], 2)  # K, C, R + 2
        topology = torch.matmul(weight4[:, None], relation)  # K, N, C, U·V
        channels_last = channels_last_only(x)
        y = None
        for conv, subset in zip(convs, topology.unbind(0)):
            if channels_last:  # conv3 as a batched matmul reading x's (T·V, C_in) memory transposed: (N, C, T·V) out
                values = torch.baddbmm(conv.conv3.bias.view(1, out, 1).expand(n, out, t * v),
                                       conv.conv3.weight.view(1, out, cin).expand(n, out, cin), x.flatten(2))
                values = values.view(n * out, t, v)
            else:
                values = conv.conv3(x).view(n * out, t, v)
            weights = subset.view(n * out, v, v).transpose(1, 2)  # [u, v] -> [v, u]
            # the products' backward does not read y, so later subsets accumulate in place
            y = torch.bmm(values, weights) if y is None else y.baddbmm_(values, weights)
        y = y.view(n, out, t, v)
        return y.contiguous(memory_format=torch.channels_last) if channels_last else y

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        y = sum(conv(x, self.PA, i, self.alpha) for i, conv in enumerate(self.convs))
        return self.relu(self.bn(y) + self.down(x))

    def fold_batchnorm(self) -> None:
        """Inference: the BN scale goes into every subset's ``conv3`` (the topology product is linear per
        channel), its shift stays as a :class:`fusion.fastpath.ChannelShift`."""
        if is_norm(self.bn):
            shift = None
            for conv in self.convs:
                shift = fold_scale_into_rows(conv.conv3, self.bn)
            self.bn = shift


class CTRGCNBlock(GCNBlock):
    """``TCN_GCN_unit``: ``ReLU(MS-TCN(unit_gcn(x)) + residual(x))``."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, stride: int = 1,
                 use_residual: bool = True):
        super().__init__(
            CTRGCUnit(in_channels, out_channels, adjacency),
            MultiScaleTemporalConv(out_channels, out_channels, TCN_BRANCHES, stride=stride, branch_norm=True),
            residual(in_channels, out_channels, stride, use_residual),
        )


class CTRGCN(GraphStack):
    """The CTR-GCN backbone: ``(B, C, T, V, M)`` → :class:`Features` (``pooled``, ``joints``, ``frames``).

    Args:
        layout: skeleton layout name (V and the spatial partition).
        in_channels: input channels C.
        channels, strides: per-block widths and temporal strides.
        num_persons: M, fixed because ``data_bn`` normalises each person slot separately.
    """

    name = "ctrgcn"
    channels_last = True

    def __init__(self, layout: str = "ntu25", in_channels: int = 3, channels: Sequence[int] = CONFIGS["paper"]["channels"],
                 strides: Sequence[int] = CONFIGS["paper"]["strides"], num_persons: int = 2):
        super().__init__()
        check_block_lists(self.name, channels, strides)
        self.layout = get_layout(layout)
        self.in_channels, self.num_persons = in_channels, num_persons
        adjacency = torch.from_numpy(self.layout.partition("spatial"))
        self.data_bn = DataNorm(in_channels, self.layout.num_joints, num_persons, per_person=False)
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            CTRGCNBlock(widths[i], widths[i + 1], adjacency, strides[i], use_residual=i > 0) for i in range(len(channels))
        )
        self.out_dim = widths[-1]
        _init_weights(self)


def official_init(model: nn.Module, near_identity: tuple[type, ...] = ()) -> None:
    """The official CTR-GCN initialisation: kaiming (fan-out) convs with zero bias; BN γ = 1; MS-TCN
    BNs ~ N(1, 0.02); the output BN of each graph unit in ``near_identity`` γ = 1e-6, so each block
    starts close to its residual (CTR-GCN's ``unit_gcn``, Hyper-GCN's M-HGC)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, MultiScaleTemporalConv):
            for bn in (m for m in module.modules() if isinstance(m, nn.BatchNorm2d)):
                nn.init.normal_(bn.weight, 1.0, 0.02)
        elif near_identity and isinstance(module, near_identity):
            nn.init.constant_(module.bn.weight, 1e-6)


def _init_weights(model: nn.Module) -> None:
    official_init(model, (CTRGCUnit,))


def ctrgcn(layout: str = "ntu25", in_channels: int = 3, config: str = "paper", channels: Sequence[int] | None = None,
           strides: Sequence[int] | None = None, num_persons: int = 2) -> CTRGCN:
    """Build CTR-GCN from a named ``config`` (``paper``, ``small``); explicit widths override it.

    Args:
        layout: skeleton layout name (``ntu25`` for NTU, ``nwucla20`` for NW-UCLA).
        in_channels: input channels C.
        config: ``paper`` (official model) or ``small`` (16/32/64, three blocks).
        channels, strides: override the block widths (each divisible by 4 for the TCN branches) and strides.
        num_persons: person slots M of the input (NTU: 2, NW-UCLA: 1).
    """
    cfg = select_config("ctrgcn", CONFIGS, config, channels=channels, strides=strides)
    return CTRGCN(layout, in_channels, cfg["channels"], cfg["strides"], num_persons)


__all__ = ["CTRGC", "CTRGCUnit", "CTRGCNBlock", "CTRGCN", "ctrgcn", "CONFIGS"]
