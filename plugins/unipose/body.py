"""The body a lifter reasons about: limb pairs for the bone prior and symmetry, bones for consistency.

Indices come from the skeleton plugin's layouts (``ntu25``, ``coco17``, ...) by joint name, so a new
keypoint convention needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from fusion.errors import RecipeError
from fusion_plugins.unipose.geometry import joint_names_to_indices
from fusion_plugins.unipose.losses import DEFAULT_BONE_PRIOR, LIMB_NAMES, LIMBS


@dataclass(frozen=True)
class BodyModel:
    """``limbs (8, 2)`` (left four, then right four), ``bones (P, 2)`` and ``prior (8,)`` metres."""

    num_joints: int
    limbs: torch.Tensor
    bones: torch.Tensor
    prior: torch.Tensor
    flip: torch.Tensor


def load_layout(name: str):
    """The skeleton layout ``name`` from the skeleton plugin (imported here, when a lifter is built)."""
    try:
        from fusion_plugins.skeleton.layouts import get_layout
    except ImportError as exc:  # pragma: no cover - the skeleton plugin ships with Fusion
        raise RecipeError(f"unipose needs the skeleton plugin for layout {name!r}: {exc}") from None
    return get_layout(name)


def body_model(layout: str = "ntu25", bone_prior: Mapping[str, float] | None = None) -> BodyModel:
    """Limbs, bones and the limb-length prior for ``layout``; ``bone_prior`` overrides limb lengths by name."""
    spec = load_layout(layout)
    prior = dict(DEFAULT_BONE_PRIOR)
    unknown = set(bone_prior or {}) - set(LIMB_NAMES)
    if unknown:
        raise RecipeError(f"unipose bone_prior: unknown limb {sorted(unknown)[0]!r}; limbs are {', '.join(LIMB_NAMES)}")
    prior.update({k: float(v) for k, v in (bone_prior or {}).items()})
    limbs = [joint_names_to_indices(spec.joints, pair, "bone prior") for pair in LIMBS]
    return BodyModel(
        num_joints=spec.num_joints,
        limbs=torch.tensor(limbs, dtype=torch.long),
        bones=torch.tensor(spec.bones, dtype=torch.long),
        prior=torch.tensor([prior[name] for name in LIMB_NAMES] * 2, dtype=torch.float32),
        flip=torch.tensor(spec.flip, dtype=torch.long),
    )
