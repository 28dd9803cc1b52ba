"""Registration and the feature contract: every mixer is registered and says what is missing, and for whom."""

import pytest

from fusion.errors import ContractError
from fusion.model import build_model
from fusion.registry import get_registry

XS_RGB = {"name": "xshiftnet_rgb", "args": {"base_channels": 8, "stage_blocks": [1, 1, 1, 1]}}


def model_block(encoders, mixer, head=None):
    return {"model": {"encoders": encoders, "mixer": mixer, "head": head or {"name": "linear", "args": {}}}}


def test_every_mixer_and_pose_input_is_registered():
    registry = get_registry()
    assert {"late", "concat", "sum", "attention_gate", "mmixer", "epamnet", "deformable"} <= set(registry.names("mixer"))
    assert {"pose_heatmaps", "pose_heatmap_net", "pose_keypoints"} <= set(registry.names("encoder"))
    assert "branch_ce" in registry.names("objective")


def test_epamnet_without_a_pose_volume_names_role_field_and_providers():
    recipe = model_block(
        {"rgb": XS_RGB, "pose2d": {"name": "pose_keypoints", "args": {"num_joints": 17}}},
        {"name": "epamnet", "roles": {"video": "rgb", "pose": "pose2d"}, "args": {}},
    )
    with pytest.raises(ContractError) as err:
        build_model(recipe, get_registry(), 5)
    text = str(err.value)
    for word in ("'epamnet'", "'volume'", "'pose'", "'pose2d'", "pose_keypoints", "pose_heatmap_net", "pose_heatmaps"):
        assert word in text, word


def test_deformable_with_an_unmapped_role_says_which_modalities_exist():
    recipe = model_block({"rgb": XS_RGB}, {"name": "deformable", "roles": {"video": "rgb"}, "args": {}})
    with pytest.raises(ContractError, match="role 'pose'.*model.mixer.roles.pose"):
        build_model(recipe, get_registry(), 5)


def test_mmixer_needs_frames_from_every_modality():
    recipe = model_block(
        {"rgb": XS_RGB, "pose2d": {"name": "pose_heatmaps", "args": {"num_joints": 17}}},
        {"name": "mmixer", "args": {"dim": 8, "hidden": 8}},
    )
    with pytest.raises(ContractError, match="'frames'.*'pose2d'.*pose_heatmap_net"):
        build_model(recipe, get_registry(), 5)
