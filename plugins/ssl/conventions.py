"""Skeleton conventions derived from NTU-25 for MS-CLR, and their padded unified representation.

MS-CLR trains one encoder on several keypoint conventions of the same clip. The paper extracts the
extra conventions (SMPL-X 42, SMPL 24, Berkeley MHAD 43) with MeTRAbs from the RGB videos; without
those files Fusion *derives* conventions from the NTU-25 skeleton, each a fixed linear map
``x_s = W_s · x_ntu`` over joints (rows of ``W_s`` sum to 1), with its own layout and graph:

- ``ntu25``   the NTU joints themselves (identity).
- ``kinect20`` Kinect v1 / NW-UCLA order (layout ``nwucla20``): the 20 joints both sensors share
  (spine_base → hip_center, spine_mid → spine, spine_shoulder → shoulder_center; no neck, tips, thumbs).
- ``smpl24``  the SMPL kinematic tree (layout ``smpl24``): pelvis and limbs from NTU joints, the three
  spine joints and the collars interpolated (e.g. collar = ½ spine_shoulder + ½ shoulder).

Unified representation: every convention is zero-padded on the joint axis to the largest joint count,
and its graph partition is embedded in a ``(K, V_max, V_max)`` matrix whose rows and columns of padded
joints are zero, so padded joints never reach real ones (:func:`unified_partition`). These mappings
are proposed here ([inferred]); loaded conventions plug in as another :class:`Convention`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fusion.errors import ContractError, RecipeError
from fusion_plugins.skeleton.layouts import SkeletonLayout, get_layout, make_layout, register_layout


@dataclass(frozen=True)
class Convention:
    """A keypoint convention derived from a source layout.

    Attributes:
        name: convention name (``ntu25``, ``kinect20``, ``smpl24``).
        layout: its skeleton layout (joint names, graph).
        mixing: (V_s, V_source) float32; row ``v`` gives joint ``v`` as a weighted mean of source joints.
        source: the layout the mixing reads (``ntu25``).
    """

    name: str
    layout: SkeletonLayout
    mixing: np.ndarray
    source: str = "ntu25"

    @property
    def num_joints(self) -> int:
        return self.layout.num_joints


def mixing_matrix(layout: SkeletonLayout, source: SkeletonLayout, recipe: Mapping[str, Mapping[str, float] | str]
                  ) -> np.ndarray:
    """``(V, V_source)`` matrix from ``{joint: source_joint | {source_joint: weight}}``; rows normalised."""
    matrix = np.zeros((layout.num_joints, source.num_joints), dtype=np.float32)
    for joint in layout.joints:
        parts = recipe.get(joint, joint)
        parts = {parts: 1.0} if isinstance(parts, str) else parts
        for name, weight in parts.items():
            matrix[layout.index(joint), source.index(name)] = weight
    return matrix / matrix.sum(1, keepdims=True)


_SMPL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
_SMPL_BONES = [("spine1", "pelvis"), ("spine2", "spine1"), ("spine3", "spine2"), ("neck", "spine3"), ("head", "neck")] + [
    edge for s in ("left", "right") for edge in (
        (f"{s}_hip", "pelvis"), (f"{s}_knee", f"{s}_hip"), (f"{s}_ankle", f"{s}_knee"), (f"{s}_foot", f"{s}_ankle"),
        (f"{s}_collar", "spine3"), (f"{s}_shoulder", f"{s}_collar"), (f"{s}_elbow", f"{s}_shoulder"),
        (f"{s}_wrist", f"{s}_elbow"), (f"{s}_hand", f"{s}_wrist"))
]
SMPL24 = register_layout(make_layout(
    "smpl24", _SMPL_JOINTS, _SMPL_BONES, centre="pelvis",
    parts={"head": ("neck", "head"), "torso": ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar"),
           **{f"{s}_arm": tuple(f"{s}_{j}" for j in ("shoulder", "elbow", "wrist", "hand")) for s in ("left", "right")},
           **{f"{s}_leg": tuple(f"{s}_{j}" for j in ("hip", "knee", "ankle", "foot")) for s in ("left", "right")}},
    doc="SMPL 24-joint kinematic tree (MS-CLR's smpl_24 convention); rooted at the pelvis.",
))

#: How each derived convention reads NTU-25 joints (a joint not listed takes the NTU joint of its name).
_RECIPES: dict[str, tuple[str, dict]] = {
    "ntu25": ("ntu25", {}),
    "kinect20": ("nwucla20", {"hip_center": "spine_base", "spine": "spine_mid", "shoulder_center": "spine_shoulder"}),
    "smpl24": ("smpl24", {
        "pelvis": "spine_base", "spine1": {"spine_base": 0.5, "spine_mid": 0.5}, "spine2": "spine_mid",
        "spine3": {"spine_mid": 0.5, "spine_shoulder": 0.5},
        **{f"{s}_collar": {"spine_shoulder": 0.5, f"{s}_shoulder": 0.5} for s in ("left", "right")},
    }),
}
_CONVENTIONS: dict[str, Convention] = {}


def get_convention(name: str) -> Convention:
    """The convention ``name`` derived from NTU-25."""
    if name not in _RECIPES:
        close = difflib.get_close_matches(str(name), list(_RECIPES), n=2)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise RecipeError(f"unknown skeleton convention {name!r}{hint} Known: {', '.join(_RECIPES)}")
    if name not in _CONVENTIONS:
        layout_name, recipe = _RECIPES[name]
        layout, source = get_layout(layout_name), get_layout("ntu25")
        _CONVENTIONS[name] = Convention(name, layout, mixing_matrix(layout, source, recipe))
    return _CONVENTIONS[name]


def convention_names() -> list[str]:
    return list(_RECIPES)


def pad_joints(x: torch.Tensor, num_joints: int) -> torch.Tensor:
    """Zero-pad ``(B, C, T, V, M)`` on the joint axis to ``num_joints`` (real joints first, unchanged)."""
    extra = num_joints - x.shape[3]
    if extra < 0:
        raise ContractError(f"pad_joints: skeleton tensor (B, C, T, V, M) has V={x.shape[3]} joints, "
                            f"which do not fit in {num_joints}")
    return torch.nn.functional.pad(x, (0, 0, 0, extra)) if extra else x


def unified_mixing(conventions: Sequence[Convention], num_joints: int) -> torch.Tensor:
    """(S, V_max, V_source): each convention's mixing with zero rows for its padded joints."""
    out = torch.zeros(len(conventions), num_joints, conventions[0].mixing.shape[1])
    for i, convention in enumerate(conventions):
        out[i, : convention.num_joints] = torch.from_numpy(convention.mixing)
    return out


def unified_partition(convention: Convention, num_joints: int, strategy: str = "stgcn") -> torch.Tensor:
    """The convention's (K, V, V) partition embedded in (K, V_max, V_max); padded rows/columns are zero."""
    a = torch.from_numpy(convention.layout.partition(strategy))
    out = torch.zeros(a.shape[0], num_joints, num_joints)
    v = convention.num_joints
    out[:, :v, :v] = a
    return out


def derive(x: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, V_source, M)`` → ``(B, C, T, V, M)`` through a (V, V_source) mixing matrix."""
    return torch.einsum("vw,bctwm->bctvm", mixing.to(x.dtype), x)
