"""PSUMNet invariants."""

import numpy as np
import pytest
import torch

from fusion.errors import RecipeError
from fusion_plugins.skeleton.ensemble import ensemble_scores
from fusion_plugins.skeleton.layouts import get_layout
from fusion_plugins.skeleton_methods.psumnet import PartStream, psumnet


@pytest.mark.parametrize("part,joints", [("body", 25), ("hand", 13), ("leg", 9)])
def test_part_shapes_and_channel_order(part, joints):
    x = np.random.default_rng(0).normal(size=(2, 8, 25, 3)).astype(np.float32)
    out = PartStream(part)({"skeleton": x}, None)["skeleton"]
    assert out.shape == (2, 8, joints, 12)
    index = PartStream(part).index
    assert np.allclose(out[..., :3], x[:, :, index])  # joint
    assert np.allclose(out[:, :-1, :, 6:9], x[:, 1:, index] - x[:, :-1, index])  # joint velocity
    assert np.allclose(out[:, :-1, :, 9:], out[:, 1:, :, 3:6] - out[:, :-1, :, 3:6])  # bone velocity
    assert not out[:, -1, :, 6:].any()  # last-frame velocity is 0


def test_hand_bones_and_official_leg_quirk():
    x = np.random.default_rng(1).normal(size=(1, 4, 25, 3)).astype(np.float32)
    hand = PartStream("hand")({"skeleton": x}, None)["skeleton"]
    assert np.allclose(hand[..., 1, 3:6], x[:, :, 4] - x[:, :, 20])  # L-shoulder -> spine-shoulder
    leg = PartStream("leg", official_quirks=True)({"skeleton": x}, None)["skeleton"]
    assert not leg[..., 8, 3:6].any()  # R-foot is isolated: zero bone
    assert np.allclose(leg[..., 4, 3:6], x[:, :, 15] - x[:, :, 0])  # L-foot hangs on spine-base
    fixed = PartStream("leg")({"skeleton": x}, None)["skeleton"]
    assert np.allclose(fixed[..., 8, 3:6], x[:, :, 19] - x[:, :, 18])


@pytest.mark.parametrize("part,blocks,joints", [("body", 10, 25), ("hand", 6, 13), ("leg", 4, 9)])
def test_stream_depths_and_forward(part, blocks, joints):
    model = psumnet(part, base_channels=16)
    assert len(model.blocks) == blocks
    features = model(torch.randn(2, 12, 16, joints, 2))
    assert features.joints.shape == (2, 64, 4, joints)


def test_ntux_dense_layout_parts():
    assert get_layout("ntux118").num_joints == 118
    x = np.zeros((1, 4, 118, 3), dtype=np.float32)
    shapes = [PartStream(p, layout="ntux118")({"skeleton": x}, None)["skeleton"].shape[2] for p in ("body", "hand", "leg")]
    assert shapes == [37, 48, 13]
    with pytest.raises(RecipeError, match="indexes joint"):
        PartStream("body", layout="ntux118")({"skeleton": np.zeros((1, 4, 25, 3), np.float32)}, None)


def test_weighted_stream_ensemble():
    s = {k: np.random.default_rng(i).normal(size=(3, 5)) for i, k in enumerate(("body", "hand", "leg"))}
    assert np.allclose(ensemble_scores(s, "psumnet"), 1.8 * s["body"] + 1.5 * s["hand"] + 0.5 * s["leg"])
