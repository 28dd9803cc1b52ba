"""ST-GCN (Yan, Xiong, Lin, AAAI'18): spatial graph conv + 9×1 temporal conv blocks with edge importance.

The ``paper`` configuration is the official ``net/st_gcn.py`` model used for NTU RGB+D: a per-person
``BN1d(V·C)`` on the input, ten blocks 64×4 → 128×3 (stride 2 at the 5th) → 256×3 (stride 2 at the
8th), each with a learnable ``edge_importance`` (K, V, V) initialised to 1 that multiplies the
partition A, TCN ``BN → ReLU → 9×1 conv → BN → Dropout(0.5)`` (no dropout in block 1), a residual that
is off in block 1, and ``ReLU(tcn + residual)``. The official head (global pool, mean over persons,
1×1 conv 256 → classes) is the framework's ``Linear(256, classes)`` head: same parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.fastpath import Dropout, add_relu_, fold_scale_into_rows, is_norm

from .blocks import DataNorm, GraphConv, GraphStack, TemporalConv, check_block_lists, residual, select_config
from .layouts import get_layout

#: Block widths and strides; ``small`` runs on a laptop CPU in milliseconds.
CONFIGS: dict[str, dict] = {
    "paper": dict(channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256), strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1),
                  dropout=0.5),
    "small": dict(channels=(16, 32, 64), strides=(1, 2, 2), dropout=0.0),
}


class STGCNBlock(nn.Module):
    """``ReLU(TCN(GCN(x, A)) + residual(x))``, the TCN being ``BN → ReLU → k×1 conv → BN → Dropout``."""

    def __init__(self, in_channels: int, out_channels: int, num_subsets: int, stride: int = 1,
                 dropout: float = 0.0, use_residual: bool = True, kernel_size: int = 9):
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, num_subsets)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            TemporalConv(out_channels, out_channels, kernel_size, stride=stride),
            Dropout(dropout),
        )
        self.residual = residual(in_channels, out_channels, stride, use_residual)
        self.relu = nn.ReLU()

    #: True: always run :meth:`forward_reference` (see :func:`fusion.fastpath.use_reference`).
    reference = False

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """Fast path: the TCN's ReLU, the residual add and the last ReLU run in place on fresh outputs
        (BN and conv backward do not read their outputs)."""
        if self.reference:
            return self.forward_reference(x, adjacency)
        norm, _, conv, dropout = self.tcn
        y = dropout(conv(norm(self.gcn(x, adjacency)).relu_()))
        return add_relu_(y, self.residual(x))

    def forward_reference(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return self.relu(self.tcn(self.gcn(x, adjacency)) + self.residual(x))

    def fold_batchnorm(self) -> None:
        """Inference: the TCN's leading BN scale into the graph conv's K·C rows, its shift as a
        :class:`fusion.fastpath.ChannelShift` (the 9×1 conv's own BN folds in :class:`TemporalConv`)."""
        if is_norm(self.tcn[0]):
            self.tcn[0] = fold_scale_into_rows(self.gcn.conv, self.tcn[0], self.gcn.num_subsets)


class STGCN(GraphStack):
    """The ST-GCN backbone: ``(B, C, T, V, M)`` → :class:`Features` (``pooled``, ``joints``, ``frames``).

    Args:
        layout: skeleton layout name (gives V and the graph).
        in_channels: input channels C (3 for xyz, 6 for joint+bone, ...).
        channels: output width of each block; the first block has no residual.
        strides: temporal stride of each block.
        dropout: TCN dropout of every block but the first.
        edge_importance: learn a (K, V, V) weight per block multiplying A (the official NTU setting).
        partition: graph partition strategy (see :meth:`SkeletonLayout.partition`); ``"stgcn"`` is Yan's.
        kernel_size: temporal kernel (9).
    """

    name = "stgcn"

    def __init__(self, layout: str = "ntu25", in_channels: int = 3, channels: Sequence[int] = CONFIGS["paper"]["channels"],
                 strides: Sequence[int] = CONFIGS["paper"]["strides"], dropout: float = 0.5,
                 edge_importance: bool = True, partition: str = "stgcn", kernel_size: int = 9):
        super().__init__()
        check_block_lists(self.name, channels, strides)
        self.layout = get_layout(layout)
        self.in_channels = in_channels
        adjacency = torch.from_numpy(self.layout.partition(partition))
        self.register_buffer("A", adjacency)
        self.data_bn = DataNorm(in_channels, self.layout.num_joints, per_person=True)
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            STGCNBlock(widths[i], widths[i + 1], adjacency.shape[0], strides[i], dropout=dropout if i else 0.0,
                       use_residual=i > 0, kernel_size=kernel_size)
            for i in range(len(channels))
        )
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones_like(adjacency)) for _ in self.blocks
        ) if edge_importance else None
        self.out_dim = widths[-1]
        self.apply(_init_weights)

    channels_last = True

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layout_for_blocks(x)
        for i, block in enumerate(self.blocks):
            x = block(x, self.A * self.edge_importance[i] if self.edge_importance is not None else self.A)
        return x


def _init_weights(module: nn.Module) -> None:
    """The official ST-GCN initialisation (``processor/recognition.py::weights_init``)."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def stgcn(layout: str = "ntu25", in_channels: int = 3, config: str = "paper", channels: Sequence[int] | None = None,
          strides: Sequence[int] | None = None, dropout: float | None = None, edge_importance: bool = True,
          partition: str = "stgcn") -> STGCN:
    """Build ST-GCN from a named ``config`` (``paper``, ``small``); explicit widths override it.

    Args:
        layout: skeleton layout name, e.g. ``ntu25``, ``coco17``, ``openpose18``.
        in_channels: input channels C.
        config: ``paper`` (official NTU model, 3.1 M parameters with a 60-class head) or ``small``.
        channels, strides, dropout: override the config's block widths, strides and TCN dropout.
        edge_importance: learnable per-block edge weights (official: on).
        partition: ``stgcn`` (Yan's spatial partition, official) or ``spatial`` (CTR-GCN style).
    """
    cfg = select_config("stgcn", CONFIGS, config, channels=channels, strides=strides, dropout=dropout)
    return STGCN(layout, in_channels, cfg["channels"], cfg["strides"], cfg["dropout"], edge_importance, partition)
