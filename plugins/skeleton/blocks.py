"""Layers the skeleton GCNs share: input check, data BN, temporal conv, residual, graph conv, multi-scale TCN.

ST-GCN, CTR-GCN and ST-GCN++ are built from the same few units (a ``k×1`` temporal convolution with BN
is ST-GCN's TCN core, every residual projection and CTR-GCN's/pyskl's ``unit_tcn``; the ``1×1 conv →
einsum with A`` graph convolution is ST-GCN's and pyskl's). Each unit lives here once; the model files
only assemble them in the papers' order, so parameter counts match the official code by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.fastpath import (
    Dropout,
    add_relu_,
    batch_norm_group,
    bn_scale_shift,
    channels_last_only,
    eager_cpu,
    fold_into_conv,
    is_norm,
    merged_conv,
)
from fusion.types import Features

from .layouts import SkeletonLayout

#: A multi-scale TCN branch: ``(kernel, dilation)``, ``"max"`` (3×1 max-pool) or ``"1x1"``.
Branch = tuple[int, int] | str


def check_input(
    x: torch.Tensor, encoder: str, layout: SkeletonLayout, in_channels: int, num_persons: int | None = None
) -> tuple[int, int, int, int, int]:
    """Return ``(B, C, T, V, M)`` or raise a :class:`ContractError` naming the expected shape."""
    persons = "M" if num_persons is None else str(num_persons)
    expected = f"(B, C, T, V, M) = (B, {in_channels}, T, {layout.num_joints}, {persons})"
    if x.dim() != 5:
        raise ContractError(
            f"{encoder} expects a skeleton batch {expected} for layout {layout.name!r} (V={layout.num_joints}), "
            f"got a {x.dim()}-D tensor of shape {tuple(x.shape)}"
        )
    b, c, t, v, m = x.shape
    if c != in_channels or v != layout.num_joints or (num_persons is not None and m != num_persons):
        raise ContractError(
            f"{encoder} expects a skeleton batch {expected} for layout {layout.name!r} (V={layout.num_joints}), "
            f"got {tuple(x.shape)}; check the encoder's in_channels/layout/num_persons against the data "
            "(streams concatenate channels: joint+bone = 6)"
        )
    return b, c, t, v, m


class DataNorm(nn.Module):
    """Input BatchNorm over joints × channels, per person (``"VC"``) or over all persons (``"MVC"``).

    ST-GCN and ST-GCN++ normalise each person with shared statistics (``BN1d(V·C)``); CTR-GCN keeps
    separate statistics per person slot (``BN1d(M·V·C)``). Channel order is (M,) V, C as in the references.
    Maps ``(N, C, T, V, M)`` to ``(N·M, C, T, V)``.
    """

    def __init__(self, in_channels: int, num_joints: int, num_persons: int = 1, per_person: bool = True):
        super().__init__()
        self.per_person = per_person
        width = in_channels * num_joints * (1 if per_person else num_persons)
        self.bn = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).contiguous()  # N, M, V, C, T
        x = self.bn(x.view(n * m, v * c, t) if self.per_person else x.view(n, m * v * c, t))
        return x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)


class TemporalConv(nn.Module):
    """``k×1`` convolution over time with stride and dilation, then BN (optional): ``unit_tcn``.

    With ``kernel_size=1`` it is the residual projection every GCN block uses when shapes change.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1,
                 dilation: int = 1, norm: bool = True):
        super().__init__()
        pad = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), padding=(pad, 0), stride=(stride, 1),
                              dilation=(dilation, 1))
        self.bn = nn.BatchNorm2d(out_channels) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    def fold_batchnorm(self) -> None:
        """Inference: fold the BN into the conv (see :func:`fusion.fastpath.fuse_for_inference`)."""
        if is_norm(self.bn):
            fold_into_conv(self.conv, self.bn)
            self.bn = nn.Identity()


class Zero(nn.Module):
    """A residual branch that is switched off (the first block of every GCN)."""

    def forward(self, x: torch.Tensor) -> int:
        return 0


def residual(in_channels: int, out_channels: int, stride: int = 1, enabled: bool = True) -> nn.Module:
    """The references' residual rule: off, identity when shapes match, else a strided 1×1 conv + BN."""
    if not enabled:
        return Zero()
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return TemporalConv(in_channels, out_channels, kernel_size=1, stride=stride)


class GCNBlock(nn.Module):
    """``ReLU(tcn(gcn(x)) + residual(x))``: the block CTR-GCN and ST-GCN++ share (their units differ).

    ``residual`` follows :func:`residual` (off in a network's first block).
    """

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def __init__(self, gcn: nn.Module, tcn: nn.Module, residual: nn.Module):
        super().__init__()
        self.gcn, self.tcn, self.residual = gcn, tcn, residual
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fast path: the residual add and ReLU reuse the TCN output's memory."""
        if self.reference:
            return self.forward_reference(x)
        return add_relu_(self.tcn(self.gcn(x)), self.residual(x))

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.tcn(self.gcn(x)) + self.residual(x))


class GraphConv(nn.Module):
    """ST-GCN's graph convolution: a 1×1 conv to ``K·C_out`` channels, then ``Σ_k x_k · A_k``.

    ``forward(x, A)`` computes ``y[n, c, t, w] = Σ_k Σ_v x[n, k, c, t, v] A[k, v, w]``
    (``einsum('nkctv,kvw->nctw')``) so callers can pass a fixed, reweighted or learnable A.
    """

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def __init__(self, in_channels: int, out_channels: int, num_subsets: int):
        super().__init__()
        self.num_subsets = num_subsets
        self.conv = nn.Conv2d(in_channels, out_channels * num_subsets, kernel_size=1)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Fast path: when the graph widens the features (C_in < C_out), contract A on the C_in input
        channels first, then one 1×1 conv over the K·C_in aggregated maps (K·C_in·V² instead of K·C_out·V²
        per frame); the conv bias enters as ``Σ_k b_k ⊗ colsum(A_k)``."""
        k, out = self.num_subsets, self.conv.out_channels // self.num_subsets
        n, cin, t, v = x.shape
        if self.reference:
            return self.forward_reference(x, adjacency)
        if channels_last_only(x):
            return self.forward_channels_last(x, adjacency)
        if cin >= out:
            return self.forward_reference(x, adjacency)
        w = adjacency.shape[-1]
        xa = torch.matmul(x, adjacency.permute(1, 0, 2).reshape(v, k * w))  # N, C_in, T, K·W
        xa = xa.view(n, cin, t, k, w).permute(0, 3, 1, 2, 4).reshape(n, k * cin, t, w)
        weight = self.conv.weight.view(k, out, cin).transpose(0, 1).reshape(out, k * cin, 1, 1)
        y = F.conv2d(xa, weight)
        bias = torch.einsum("kc,kw->cw", self.conv.bias.view(k, out), adjacency.sum(1))
        return y + bias[None, :, None]

    def forward_channels_last(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Fast path on a channels-last ``x`` (memory N, T, V, C): every step is a plain or batched
        matmul on contiguous memory, and the output is channels-last too (no permute copies between
        blocks). Widening: ``(A contracted over V) → linear over (K, C_in)``; else ``1×1 conv →
        A contracted over (V, K)``, each as one matmul with A broadcast over the N·T frames."""
        k, out = self.num_subsets, self.conv.out_channels // self.num_subsets
        n, cin, t, v = x.shape
        w = adjacency.shape[-1]
        if cin < out:
            a = adjacency.permute(2, 0, 1).reshape(1, w * k, v)  # [w·K + k, v] = A[k, v, w]
            xa = torch.bmm(a.expand(n * t, -1, -1), x.permute(0, 2, 3, 1).reshape(n * t, v, cin))  # NT, W·K, C_in
            weight = self.conv.weight.view(k, out, cin).permute(0, 2, 1).reshape(k * cin, out)
            y = torch.mm(xa.view(n * t * w, k * cin), weight).view(n, t, w, out)
            y = y + torch.einsum("kc,kw->wc", self.conv.bias.view(k, out), adjacency.sum(1))
        else:
            z = self.conv(x).permute(0, 2, 3, 1).reshape(n * t, v * k, out)  # [v·K + k] = subset k, joint v
            a = adjacency.permute(2, 1, 0).reshape(1, w, v * k)
            y = torch.bmm(a.expand(n * t, -1, -1), z).view(n, t, w, out)
        return y.permute(0, 3, 1, 2)

    def forward_reference(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        x = self.conv(x).view(n, self.num_subsets, -1, t, v)
        return torch.einsum("nkctv,kvw->nctw", x, adjacency).contiguous()


class MultiScaleTemporalConv(nn.Module):
    """Parallel temporal branches concatenated over channels (MS-G3D's MS-TCN, as CTR-GCN and pyskl use it).

    Each conv branch is ``1×1 conv → BN → ReLU → k×1 dilated conv (stride s)``; the ``"max"`` branch
    swaps the dilated conv for a 3×1 max-pool; the ``"1x1"`` branch is a strided 1×1 conv. The two
    references differ in three switches, set by their model files:

    Args:
        in_channels: input width.
        out_channels: output width (sum of the branch widths).
        branches: branch kinds, e.g. CTR-GCN ``[(5, 1), (5, 2), "max", "1x1"]``.
        stride: temporal stride of every branch.
        branch_norm: BN at the end of every branch (CTR-GCN) or not (pyskl ``mstcn``).
        split: ``"equal"``: ``out/branches`` each, must divide (CTR-GCN); ``"remainder_first"``:
            ``out // branches`` each and the first branch takes the remainder (pyskl).
        fuse: after concatenation, ``BN → ReLU → 1×1 conv`` then ``BN`` (pyskl); off for CTR-GCN.
        dropout: dropout after the fuse (pyskl ``tcn_dropout``).
    """

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def __init__(self, in_channels: int, out_channels: int, branches: Sequence[Branch], stride: int = 1,
                 branch_norm: bool = True, split: str = "equal", fuse: bool = False, dropout: float = 0.0):
        super().__init__()
        self.kinds = ["1x1" if kind == "1x1" else "seq" for kind in branches]
        count = len(branches)
        width = out_channels // count
        if split == "equal":
            if out_channels % count:
                raise RecipeError(f"multi-scale TCN: {out_channels} channels do not split into {count} equal branches; "
                                  f"expected a multiple of {count}")
            widths = [width] * count
        elif split == "remainder_first":
            widths = [out_channels - width * (count - 1)] + [width] * (count - 1)
        else:
            raise RecipeError(f"multi-scale TCN: split={split!r} is unknown; expected equal or remainder_first")
        self.branches = nn.ModuleList(
            self._branch(kind, in_channels, w, stride, branch_norm) for kind, w in zip(branches, widths)
        )
        self.fuse = (
            nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(), nn.Conv2d(out_channels, out_channels, 1),
                          nn.BatchNorm2d(out_channels), Dropout(dropout))
            if fuse else nn.Identity()
        )

    @staticmethod
    def _branch(kind: Branch, in_channels: int, width: int, stride: int, norm: bool) -> nn.Module:
        if kind == "1x1":
            return TemporalConv(in_channels, width, kernel_size=1, stride=stride, norm=norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 1), nn.BatchNorm2d(width), nn.ReLU()]
        if kind == "max":
            layers.append(nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)))
            if norm:
                layers.append(nn.BatchNorm2d(width))
        elif isinstance(kind, (tuple, list)) and len(kind) == 2:
            layers.append(TemporalConv(width, width, kernel_size=kind[0], stride=stride, dilation=kind[1], norm=norm))
        else:
            raise RecipeError(f"multi-scale TCN: branch {kind!r} is unknown; expected [kernel, dilation], 'max' or '1x1'")
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fast path: the branches' leading 1×1 convs (and the stride-1 ``1x1`` branch) run as one conv,
        their BatchNorms as one grouped BN, their ReLUs as one; then each branch's temporal part. When every
        branch ends in a BatchNorm (CTR-GCN, Hyper-GCN while training), those run as one grouped BN on the
        concatenation instead: per-channel statistics do not mix, and one BN on a contiguous map (and its
        contiguous gradient) is faster than four on strided slices."""
        if self.reference:
            return self.forward_reference(x)
        ends = self._trailing_norms()
        if ends is not None:
            return self.fuse(batch_norm_group(torch.cat(self._branch_outputs(x, before_norms=True), dim=1), ends))
        return self.fuse(torch.cat(self._branch_outputs(x), dim=1))

    def _trailing_norms(self) -> list[nn.Module] | None:
        """The BatchNorm at the end of every branch, or None when some branch has none (pyskl, or folded)."""
        ends: list[nn.Module] = []
        for kind, branch in zip(self.kinds, self.branches):
            last = branch if kind == "1x1" else branch[-1]
            norm = last.bn if isinstance(last, TemporalConv) else last
            if not is_norm(norm):
                return None
            ends.append(norm)
        return ends

    def _branch_outputs(self, x: torch.Tensor, before_norms: bool = False) -> list[torch.Tensor]:
        """Each branch's output; with ``before_norms``, the outputs before the branches' trailing norms."""
        seq = [i for i, kind in enumerate(self.kinds) if kind == "seq"]
        heads = [self.branches[i][0] for i in seq]
        norms = [self.branches[i][1] for i in seq]
        merged = [] if before_norms else [
            i for i, kind in enumerate(self.kinds) if kind == "1x1"
            and self.branches[i].conv.stride == (1, 1) and is_norm(self.branches[i].bn) == is_norm(norms[0])]
        convs = heads + [self.branches[i].conv for i in merged]
        y = merged_conv(x, convs)
        if is_norm(norms[0]):
            y = batch_norm_group(y, norms + [self.branches[i].bn for i in merged])
        # one split (its backward is one cat); slicing y twice would build two zero-filled gradients
        chunks = y.split([c.out_channels for c in convs], dim=1)
        outputs: list[torch.Tensor | None] = [None] * len(self.branches)
        inplace = not torch.is_grad_enabled()  # autograd forbids in-place ops on split's views
        for j, i in enumerate(seq):
            out = chunks[j].relu_() if inplace else F.relu(chunks[j])
            tail = list(self.branches[i])[3:]
            if before_norms:  # stop before the trailing norm
                tail = tail[:-1] + ([tail[-1].conv] if isinstance(tail[-1], TemporalConv) else [])
            for layer in tail:
                out = layer(out)
            outputs[i] = out
        for j, i in enumerate(merged):
            outputs[i] = chunks[len(seq) + j]
        for i, out in enumerate(outputs):
            if out is None:
                branch = self.branches[i]
                outputs[i] = branch.conv(x) if before_norms else branch(x)
        return outputs

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))

    def fold_batchnorm(self) -> None:
        """Inference: fold each branch's ``conv → BN`` and the fuse's ``conv → BN`` (BN after max-pool stays)."""
        pairs = [(branch, 0, 1) for kind, branch in zip(self.kinds, self.branches) if kind == "seq"]
        if isinstance(self.fuse, nn.Sequential):
            pairs.append((self.fuse, 2, 3))
        for seq, conv, norm in pairs:
            if is_norm(seq[norm]):
                fold_into_conv(seq[conv], seq[norm])
                seq[norm] = nn.Identity()
        if isinstance(self.fuse, nn.Sequential) and is_norm(self.fuse[0]):
            self._fold_fuse_norm()

    @torch.no_grad()
    def _fold_fuse_norm(self) -> None:
        """The fuse's leading BN acts per channel of the concatenation: fold each branch's channels into
        the branch's last conv; after a max-pool (not exact to fold through) it becomes that branch's own BN."""
        ends: list[nn.Module | None] = []
        for kind, branch in zip(self.kinds, self.branches):
            last = branch if kind == "1x1" else branch[-1]
            if isinstance(last, TemporalConv) and not is_norm(last.bn):
                ends.append(last.conv)
            elif isinstance(last, nn.MaxPool2d):
                ends.append(None)
            else:
                return  # a branch ending in its own BN: keep the fuse's BN
        bn = self.fuse[0]
        scale, shift = bn_scale_shift(bn)
        start = 0
        for kind, branch, conv in zip(self.kinds, self.branches, ends):
            width = branch.conv.out_channels if kind == "1x1" else branch[0].out_channels
            s, b = scale[start:start + width], shift[start:start + width]
            if conv is None:
                norm = nn.BatchNorm2d(width, eps=bn.eps).eval()
                norm.running_mean.copy_(bn.running_mean[start:start + width])
                norm.running_var.copy_(bn.running_var[start:start + width])
                if bn.affine:
                    norm.weight.copy_(bn.weight[start:start + width])
                    norm.bias.copy_(bn.bias[start:start + width])
                branch.append(norm)
            else:
                conv.weight.mul_(s.view(-1, 1, 1, 1))
                if conv.bias is None:
                    conv.bias = nn.Parameter(b.clone())
                else:
                    conv.bias.mul_(s).add_(b)
            start += width
        self.fuse[0] = nn.Identity()
        self.fuse[1] = nn.ReLU(inplace=True)  # its input is the concatenation, a fresh tensor


def joint_features(x: torch.Tensor, batch: int, persons: int) -> Features:
    """Features from a ``(B·M, D, T', V)`` map: ``joints`` (mean over persons), ``frames``, ``pooled``.

    ``pooled`` equals the references' head input: global average over (T', V), then mean over persons.
    """
    joints = x.reshape(batch, persons, *x.shape[1:]).mean(1)  # B, D, T', V
    return Features(pooled=joints.mean((2, 3)), frames=joints.mean(3).transpose(1, 2), joints=joints)


def select_config(encoder: str, configs: dict[str, dict], config: str, **overrides) -> dict:
    """A named configuration with explicit (non-None) overrides applied; unknown names list the known ones."""
    if config not in configs:
        raise RecipeError(f"{encoder}: unknown config {config!r}; known: {', '.join(configs)}")
    chosen = dict(configs[config])
    chosen.update({k: v for k, v in overrides.items() if v is not None})
    return chosen


def check_block_lists(encoder: str, channels: Sequence[int], strides: Sequence[int]) -> None:
    """One temporal stride per block: ``channels`` and ``strides`` (recipe arguments) must be as long."""
    if len(channels) != len(strides):
        raise RecipeError(f"{encoder}: channels has {len(channels)} entries but strides has {len(strides)}; "
                          "expected one temporal stride per block")


class GraphStack(nn.Module):
    """Base of the GCN encoders: check the ``(B, C, T, V, M)`` input, ``data_bn``, the blocks in order,
    then :func:`joint_features`. Subclasses set ``name``, ``layout``, ``in_channels``, ``data_bn``, ``blocks``
    (and ``num_persons`` when the input norm fixes M)."""

    name: str
    num_persons: int | None = None
    #: Fast path: run the blocks on channels-last maps (set by models whose units all support it).
    channels_last: bool = False
    #: True: keep the reference's layout (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def layout_for_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last maps for the fast path on CPU in eager mode (see :func:`fusion.fastpath.eager_cpu`)."""
        if self.channels_last and not self.reference and eager_cpu(x):
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layout_for_blocks(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, V, M)`` → the last block's ``(B·M, D, T', V)`` map."""
        check_input(x, self.name, self.layout, self.in_channels, self.num_persons)
        return self.run_blocks(self.data_bn(x))

    def forward(self, x: torch.Tensor) -> Features:
        return joint_features(self.forward_map(x), x.shape[0], x.shape[4])
