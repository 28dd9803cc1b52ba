"""PointNet++ encoders: Features of the small configs, C3P's two-stack layout and its parameter count."""

import pytest
import torch

from fusion.errors import RecipeError
from fusion_plugins.pointcloud import temporal, two_stack
from fusion_plugins.pointcloud.temporal import pointnet2_temporal
from fusion_plugins.pointcloud.two_stack import pointnet2_two_stack


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mlp(channels):
    """Conv 1x1 with bias + BN per layer."""
    return sum(a * b + b + 2 * b for a, b in zip(channels[:-1], channels[1:]))


def c3p_count(joints, in_channels=6):
    def stack(cin):
        sa = mlp([cin, 64, 64, 128]) + mlp([131, 128, 128, 256]) + mlp([259, 256, 512, 1024])
        fp = mlp([1280, 256, 256]) + mlp([384, 256, 128]) + mlp([128 + cin, 128, 128, 128])
        heads = 2 * mlp([128, 128]) + (128 * joints + joints) + (128 * 3 * joints + 3 * joints)
        return sa + fp + heads
    return stack(in_channels) + stack(in_channels + 128 + 4 * joints)


@pytest.mark.parametrize("joints", [17, 15])
def test_two_stack_paper_configuration_matches_c3p_layout(joints):
    model = pointnet2_two_stack(num_joints=joints)
    assert trainable(model) == c3p_count(joints)
    stack2_input = 6 + 128 + 4 * joints  # 202 for J = 17
    assert model.stack2.sa1.mlp[0].in_channels == stack2_input
    assert model.stack2.fp3.mlp[0].in_channels == 128 + stack2_input


def test_two_stack_small_features_and_joint_maps():
    torch.manual_seed(0)
    model = pointnet2_two_stack(in_channels=3, **two_stack.SMALL).eval()
    x = torch.rand(1, 2, 256, 3)
    features = model(x)
    assert features.provided() == {"pooled", "frames", "points", "xyz"}
    assert features.points.shape == (1, 2, 256, model.out_dim) and features.frames.shape == (1, 2, model.out_dim)
    torch.testing.assert_close(features.xyz, x)
    hm1, hm2 = features.aux["hm"]
    assert hm1.shape == hm2.shape == (1, 2, 5, 4, 256)
    assert torch.all((hm2[:, :, :, 0] > 0) & (hm2[:, :, :, 0] < 1))  # closeness is a sigmoid


def test_temporal_encoder_small_features_and_gradients():
    model = pointnet2_temporal(in_channels=4, **temporal.SMALL)
    x = torch.rand(2, 5, 64, 4)
    features = model(x)
    assert features.provided() == {"pooled", "frames", "points", "xyz"}
    assert features.frames.shape == (2, 5, model.out_dim) and features.pooled.shape == (2, model.out_dim)
    assert features.points.shape == (2, 5, 8, model.out_dim) and features.xyz.shape == (2, 5, 8, 3)
    features.pooled.sum().backward()
    assert model.sa1.mlp[0].weight.grad is not None


@pytest.mark.parametrize("kind", ["gru", "transformer", "none"])
def test_temporal_models_keep_the_width(kind):
    model = pointnet2_temporal(in_channels=3, temporal=kind, **{k: v for k, v in temporal.SMALL.items()})
    assert model(torch.rand(1, 4, 64, 3)).frames.shape == (1, 4, model.out_dim)


def test_paper_trunk_width_and_unknown_temporal_model():
    assert pointnet2_temporal().out_dim == 1024
    with pytest.raises(RecipeError, match="temporal='lstm' is unknown; expected one of conv, gru, transformer, none"):
        pointnet2_temporal(temporal="lstm")
