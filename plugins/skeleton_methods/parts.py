"""Part layouts for PSUMNet and the NTU-X dense 118-joint layout.

PSUMNet (Trivedi & Sarvadevabhatla, ECCV-W 2022) trains one stream per body part (body, hands, legs),
each on a subset of the joints in the *global* frame, with its own graph. A part is a
:class:`~fusion_plugins.skeleton.layouts.SkeletonLayout` (so the CTR-GCN stream builds its spatial
partition from it like from any layout) plus the indices of its joints in the full skeleton.

Edge lists are the official ones (1-based part indices). The NTU leg graph of the official code is
shifted by one (L-foot hangs on spine-base, R-hip on L-foot, R-foot isolated); ``psumnet_ntu25_leg``
is the intended tree and ``psumnet_ntu25_leg_official`` the released one, for parity.

``ntux118`` is NTU-X (NTU RGB+D with dense OpenPose keypoints): BODY_25 at 0–24, left hand 21 at
25–45, right hand 21 at 46–66, 51 face landmarks at 67–117. Hands hang on the body wrists and face
landmarks on the nose (a star: the face graph is not used by any method here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fusion.errors import RecipeError
from fusion_plugins.skeleton.layouts import SkeletonLayout, _chain, get_layout, make_layout, register_layout

Pair = tuple[int, int]

# --------------------------------------------------------------------------------------------- NTU-X 118

_BODY25 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
           "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
           "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
           "right_big_toe", "right_small_toe", "right_heel")
_HAND = tuple(f"hand_{i}" for i in range(21))  # 0 wrist, then 4 joints per finger, thumb to pinky
_NTUX_JOINTS = (_BODY25 + tuple(f"left_{j}" for j in _HAND) + tuple(f"right_{j}" for j in _HAND)
                + tuple(f"face_{i}" for i in range(51)))


def _hand_edges(side: str) -> list[tuple[str, str]]:
    edges = [(f"{side}_hand_0", f"{side}_wrist")]
    for finger in range(5):
        edges += _chain(f"{side}_hand_0", *(f"{side}_hand_{1 + 4 * finger + k}" for k in range(4)))
    return edges


_NTUX_BONES = (
    [("nose", "neck"), ("mid_hip", "neck")]
    + [e for s in ("left", "right") for e in (
        _chain("neck", f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist")
        + _chain("mid_hip", f"{s}_hip", f"{s}_knee", f"{s}_ankle", f"{s}_big_toe", f"{s}_small_toe")
        + [(f"{s}_heel", f"{s}_ankle")] + _chain("nose", f"{s}_eye", f"{s}_ear") + _hand_edges(s))]
    + [(f"face_{i}", "nose") for i in range(51)]
)
_NTUX_PARTS = {
    "head": ("nose", "neck") + tuple(f"{s}_{j}" for s in ("left", "right") for j in ("eye", "ear"))
    + tuple(f"face_{i}" for i in range(51)),
    "torso": ("mid_hip",),
    **{f"{s}_arm": tuple(f"{s}_{j}" for j in ("shoulder", "elbow", "wrist")) + tuple(f"{s}_{j}" for j in _HAND)
       for s in ("left", "right")},
    **{f"{s}_leg": tuple(f"{s}_{j}" for j in ("hip", "knee", "ankle", "big_toe", "small_toe", "heel"))
       for s in ("left", "right")},
}

NTUX118 = register_layout(make_layout(
    "ntux118", _NTUX_JOINTS, _NTUX_BONES, centre="neck", parts=_NTUX_PARTS,
    doc="NTU-X dense keypoints: OpenPose BODY_25, 2x21 hand and 51 face joints (118).",
))


# --------------------------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class Part:
    """One PSUMNet stream: joint indices into the full layout, the part's own layout, bone pairs, depth."""

    name: str
    indices: tuple[int, ...]
    layout: SkeletonLayout
    blocks: tuple[int, ...]  # which of the ten CTR-GCN blocks (0-based l1..l10) the stream keeps

    def parents(self) -> np.ndarray:
        """Bone parents from the part's pairs in order (a later pair overwrites an earlier one, as the
        reference feeder does); joints without a pair are their own parent (zero bone)."""
        parents = np.arange(self.layout.num_joints)
        for child, parent in self.layout.bones:
            parents[child] = parent
        return parents


def _part_layout(name: str, full: SkeletonLayout, indices: Sequence[int], pairs_1b: Sequence[Pair] | None,
                 doc: str) -> SkeletonLayout:
    """A layout over ``indices`` of ``full`` whose graph is ``pairs_1b`` (1-based part indices)."""
    bones = tuple((i - 1, j - 1) for i, j in pairs_1b)
    return register_layout(SkeletonLayout(
        name=name, joints=tuple(full.joints[i] for i in indices), bones=bones, centre=0, origin=0,
        parts={}, flip=tuple(range(len(indices))), doc=doc,
    ))


_NTU = get_layout("ntu25")
_NTU_HAND = (20, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24)
_NTU_LEG = (0, 12, 13, 14, 15, 16, 17, 18, 19)
_HAND_PAIRS = ((2, 1), (3, 2), (4, 3), (5, 4), (6, 5), (7, 5), (8, 1), (9, 8), (10, 9), (11, 10), (12, 11), (13, 11))
_LEG_OFFICIAL = ((2, 1), (3, 2), (4, 3), (5, 4), (5, 1), (6, 5), (7, 6), (8, 7))
_LEG_FIXED = ((2, 1), (3, 2), (4, 3), (5, 4), (6, 1), (7, 6), (8, 7), (9, 8))

_NTUX_BODY = tuple(range(25)) + (46, 50, 54, 58, 62, 66) + (25, 29, 33, 37, 41, 45)
_NTUX_BODY_PAIRS = ((1, 2), (3, 2), (4, 3), (5, 4), (6, 2), (7, 6), (8, 7), (9, 2), (10, 9), (11, 10), (12, 11),
                    (13, 9), (14, 13), (15, 14), (16, 1), (17, 1), (18, 16), (19, 17), (20, 15), (21, 20), (22, 15),
                    (23, 12), (24, 23), (25, 12), (26, 4), (27, 26), (28, 27), (29, 26), (30, 26), (31, 26), (32, 7),
                    (33, 32), (34, 32), (35, 32), (36, 32), (37, 32))
_NTUX_HAND = (2, 3, 4, 5, 6, 7) + tuple(range(46, 67)) + tuple(range(25, 46))
_NTUX_HAND_PAIRS = ((2, 1), (3, 2), (7, 3), (8, 7), (9, 8), (10, 9), (11, 10), (12, 7), (13, 12), (14, 13), (15, 14),
                    (16, 7), (17, 16), (18, 17), (19, 18), (20, 7), (21, 20), (22, 21), (23, 22), (24, 7), (25, 24),
                    (26, 25), (27, 26), (5, 4), (6, 5), (28, 6), (29, 28), (30, 29), (31, 30), (32, 31), (33, 28),
                    (34, 33), (35, 34), (36, 35), (37, 28), (38, 37), (39, 38), (40, 39), (41, 28), (42, 41),
                    (43, 42), (44, 43), (45, 28), (46, 45), (47, 46), (48, 47), (4, 1))
_NTUX_LEG = (8, 9, 10, 11, 24, 22, 23, 12, 13, 14, 21, 19, 20)
_NTUX_LEG_PAIRS = ((2, 1), (3, 2), (4, 3), (5, 4), (6, 4), (7, 6), (8, 1), (9, 8), (10, 9), (11, 10), (12, 10), (13, 12))

BODY_BLOCKS = tuple(range(10))
HAND_BLOCKS = (0, 4, 5, 6, 7, 8)
LEG_BLOCKS = (0, 4, 5, 7)

PARTS: dict[str, dict[str, Part]] = {
    "ntu25": {
        "body": Part("body", tuple(range(25)), _NTU, BODY_BLOCKS),
        "hand": Part("hand", _NTU_HAND, _part_layout("psumnet_ntu25_hand", _NTU, _NTU_HAND, _HAND_PAIRS,
                                                     "PSUMNet NTU hand stream (13 joints)."), HAND_BLOCKS),
        "leg": Part("leg", _NTU_LEG, _part_layout("psumnet_ntu25_leg", _NTU, _NTU_LEG, _LEG_FIXED,
                                                  "PSUMNet NTU leg stream (9 joints), intended tree."), LEG_BLOCKS),
        "leg_official": Part("leg", _NTU_LEG, _part_layout(
            "psumnet_ntu25_leg_official", _NTU, _NTU_LEG, _LEG_OFFICIAL,
            "PSUMNet NTU leg stream as released (edges shifted by one, R-foot isolated)."), LEG_BLOCKS),
    },
    "ntux118": {
        "body": Part("body", _NTUX_BODY, _part_layout("psumnet_ntux_body", NTUX118, _NTUX_BODY, _NTUX_BODY_PAIRS,
                                                      "PSUMNet NTU-X body stream (37 joints)."), BODY_BLOCKS),
        "hand": Part("hand", _NTUX_HAND, _part_layout("psumnet_ntux_hand", NTUX118, _NTUX_HAND, _NTUX_HAND_PAIRS,
                                                      "PSUMNet NTU-X hand stream (48 joints)."), HAND_BLOCKS),
        "leg": Part("leg", _NTUX_LEG, _part_layout("psumnet_ntux_leg", NTUX118, _NTUX_LEG, _NTUX_LEG_PAIRS,
                                                   "PSUMNet NTU-X leg stream (13 joints)."), LEG_BLOCKS),
    },
}


def get_part(skeleton: str, part: str, official_quirks: bool = False) -> Part:
    """The PSUMNet part ``part`` (body, hand, leg) of layout ``skeleton`` (ntu25, ntux118)."""
    key = "leg_official" if (part == "leg" and official_quirks and skeleton == "ntu25") else part
    try:
        return PARTS[skeleton][key]
    except KeyError:
        raise RecipeError(
            f"psumnet: no part {part!r} for layout {skeleton!r}; parts: "
            f"{ {k: [p for p in v if p != 'leg_official'] for k, v in PARTS.items()} }") from None
