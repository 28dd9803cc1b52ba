"""PSUMNet (Trivedi & Sarvadevabhatla, ECCV-W 2022): part streams with unified modalities.

Each stream sees one body part (:mod:`.parts`) in the global frame, with the four classic modalities
concatenated along channels, ``[joint, bone, joint-velocity, bone-velocity]`` (3 + 3 + 3 + 3 = 12), and
is a CTR-GCN (the official STRB = ``TCN_GCN_unit``, SAMG = ``CTRGC``, TRM = multi-scale TCN) with a
part-specific depth: body keeps all ten blocks, hand ``[l1, l5, l6, l7, l8, l9]``, leg ``[l1, l5, l6, l8]``.
Streams are trained as separate runs and fused with weights body 1.8, hand 1.5, leg 0.5
(``fusion_plugins.skeleton.ensemble.KNOWN_WEIGHTS['psumnet']``).

With 12 input channels the first block's CTRGC has ``12 // 8 = 1`` relation channel, which is the
official SAMG rule; the shared CTR-GCN implementation gives the same (its special case is 3 or 9).
"""

from __future__ import annotations

import numpy as np

from fusion.errors import RecipeError
from fusion_plugins.skeleton.ctrgcn import CTRGCN
from fusion_plugins.skeleton.streams import compute_streams
from fusion_plugins.skeleton.transforms import SkeletonTransform

from .parts import get_part

UNIFIED = ("joint", "bone", "motion", "bone_motion")
#: The ten CTR-GCN blocks at base width 64: (width multiplier, stride).
_BLOCKS = ((1, 1), (1, 1), (1, 1), (1, 1), (2, 2), (2, 1), (2, 1), (4, 2), (4, 1), (4, 1))


class PartStream(SkeletonTransform):
    """Select a part's joints and unify the modalities: ``(M, T, V, C)`` → ``(M, T, V_part, 4·C)``.

    Args:
        part: ``body``, ``hand`` or ``leg``.
        layout: the full skeleton (``ntu25`` or ``ntux118``).
        official_quirks: use the released (shifted) NTU leg graph for bones and adjacency.
    """

    name = "psumnet.part"

    def __init__(self, part: str = "body", layout: str = "ntu25", official_quirks: bool = False, key: str = "skeleton"):
        super().__init__(key, score=False)
        self.part = get_part(layout, part, official_quirks)
        self.full = layout
        self.index = np.asarray(self.part.indices)
        self.parents = self.part.parents()

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        expected = max(self.part.indices) + 1
        if x.shape[2] < expected:
            raise RecipeError(f"{self.name}: part {self.part.name!r} of {self.full!r} indexes joint {expected - 1}, "
                              f"but sample[{self.key!r}] has {x.shape[2]} joints")
        return compute_streams(x[:, :, self.index], UNIFIED, self.parents).astype(np.float32)


def psumnet(part: str = "body", layout: str = "ntu25", in_channels: int = 12, base_channels: int = 64,
            num_persons: int = 2, official_quirks: bool = False) -> CTRGCN:
    """One PSUMNet stream: a CTR-GCN over the part's layout with the part's blocks.

    Args:
        part: ``body`` (10 blocks), ``hand`` (6) or ``leg`` (4).
        layout: the full skeleton the part comes from (``ntu25``, ``ntux118``).
        in_channels: 12 for the unified modalities.
        base_channels: width of the first stage (64 in the paper; 16 for CPU tests).
        num_persons: M (the data BN normalises each person slot separately).
        official_quirks: the released NTU leg graph.
    """
    if base_channels % 4:
        raise RecipeError(f"psumnet: base_channels must be divisible by the 4 TCN branches, got {base_channels}")
    chosen = get_part(layout, part, official_quirks)
    blocks = [_BLOCKS[i] for i in chosen.blocks]
    channels = [base_channels * mult for mult, _ in blocks]
    strides = [stride for _, stride in blocks]
    return CTRGCN(chosen.layout.name, in_channels, channels, strides, num_persons)
