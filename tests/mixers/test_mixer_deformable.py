"""3D deformable cross-modal transformer: 3DTS sampling, partitions, attention rows, masks, gradients."""

import pytest
import torch
import torch.nn.functional as F

from fusion.errors import ContractError, RecipeError
from fusion.mixers.deformable import (
    DeformableCrossModalTransformer,
    TemporalStrideAttention,
    TokenSearch3D,
    joint_groups,
    reference_grid,
)
from fusion.types import Features
from fusion_plugins.skeleton.keypoints import PoseKeypoints, most_confident_person

ROLES = {"video": "rgb", "pose": "pose2d"}


def small(**kwargs):
    args = dict(num_joints=5, dim=32, heads=4, depth=2, groups=2, stride=(2, 2, 2), joint_group=2,
                temporal_stride=2, mlp_ratio=2.0, max_frames=8)
    args.update(kwargs)
    return DeformableCrossModalTransformer({"rgb": 12, "pose2d": 3}, 5, ROLES, **args)


def inputs(batch=2, frames=4):
    return {"rgb": Features(volume=torch.randn(batch, 12, frames, 8, 8)), "pose2d": Features(joints=torch.randn(batch, 3, 2 * frames, 5))}


def present(batch=2):
    return {m: torch.ones(batch, dtype=torch.bool) for m in ROLES.values()}


def test_logits_shape_and_fused_tokens():
    out = small()(inputs(), present())
    assert out.logits.shape == (2, 5) and out.fused.shape == (2, 64)


@pytest.mark.parametrize("size", [(4, 8, 8), (5, 7, 9)])
def test_zero_offsets_sample_the_reference_grid_which_is_strided_subsampling(size):
    search = TokenSearch3D(dim=6, groups=2, stride=(2, 2, 2))
    z = torch.randn(2, 6, *size)
    sampled, positions = search(z)
    assert torch.allclose(sampled, z[:, :, ::2, ::2, ::2], atol=1e-5)
    ref = reference_grid(size, sampled.shape[2:], (2, 2, 2)).flip(-1)
    assert torch.allclose(positions[0, 0], ref, atol=1e-6)


def test_learned_offsets_move_the_points_within_range_and_sample_trilinearly():
    search = TokenSearch3D(dim=4, groups=2, stride=(1, 2, 2), offset_range=2.0)
    torch.nn.init.normal_(search.offset[-1].weight, std=1.0)
    z = torch.randn(1, 4, 3, 6, 6)
    sampled, positions = search(z)
    ref = reference_grid((3, 6, 6), sampled.shape[2:], (1, 2, 2)).flip(-1)
    delta = positions[0] - ref
    assert delta.abs().amax() > 0
    limit = torch.tensor([2.0 / 3, 2.0 / 3, 2.0 / 3])  # r / (W', H', T') = 2 / 3 on each axis here
    assert torch.all(delta.abs() <= limit + 1e-6)
    grouped = z.view(2, 2, 3, 6, 6)
    expected = F.grid_sample(grouped, positions[0], mode="bilinear", align_corners=True)
    assert torch.allclose(sampled, expected.view_as(sampled), atol=1e-6)


def test_first_step_gradient_reaches_the_zero_initialised_offset_layer():
    mixer = small()
    assert torch.all(mixer.blocks[0].deformable.search.offset[-1].weight == 0)
    F.cross_entropy(mixer(inputs(), present()).logits, torch.tensor([0, 3])).backward()
    for block in mixer.blocks[:-1]:  # the last block's RGB tokens do not reach the classifier
        assert block.deformable.search.offset[-1].weight.grad.abs().sum() > 0


def test_gradients_reach_both_streams():
    feats = inputs()
    feats["rgb"].volume.requires_grad_(True)
    feats["pose2d"].joints.requires_grad_(True)
    small()(feats, present()).logits.sum().backward()
    assert feats["rgb"].volume.grad.abs().sum() > 0 and feats["pose2d"].joints.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["chunk", "stride"])
@pytest.mark.parametrize("joints,size", [(25, 5), (17, 5), (5, 2)])
def test_every_joint_is_in_exactly_one_group(mode, joints, size):
    groups = joint_groups(joints, size, mode)
    members = groups[groups >= 0]
    assert sorted(members.tolist()) == list(range(joints))
    assert groups.shape[1] == size


def test_temporal_stride_partition_covers_each_frame_once_and_subsets_are_independent():
    layer = TemporalStrideAttention(dim=8, heads=2, stride=2).eval()
    frame, p, x = torch.randn(1, 5, 8), torch.randn(1, 5, 3, 8), torch.randn(1, 2, 8)
    on = torch.ones(1, dtype=torch.bool)
    f1, p1, _ = layer(frame, p, x, on, on)
    assert f1.shape == frame.shape and p1.shape == p.shape
    frame2, p2 = frame.clone(), p.clone()
    frame2[:, 1] += 3  # frame 1 belongs to subset S_1 = {1, 3}
    p2[:, 3] -= 2
    f2, q2, _ = layer(frame2, p2, x, on, on)
    even = [0, 2, 4]
    assert torch.allclose(f1[:, even], f2[:, even], atol=1e-6) and torch.allclose(p1[:, even], q2[:, even], atol=1e-6)
    assert not torch.allclose(f1[:, 1], f2[:, 1])


def test_attention_rows_sum_to_one():
    mixer = small()
    block = mixer.blocks[0]
    z, p = mixer.tokens(inputs()["rgb"].volume, inputs()["pose2d"].joints)
    x = mixer.cross_tokens.expand(2, -1, -1)
    _, _, info = block.deformable(z, x, torch.ones(2, dtype=torch.bool), need_weights=True)
    weights = info["weights"]
    assert weights.shape == (2, 4 * 8 * 8 + 2, 2 * 4 * 4 + 2)
    assert torch.allclose(weights.sum(-1), torch.ones_like(weights.sum(-1)), atol=1e-5)


@pytest.mark.parametrize("missing", ["rgb", "pose2d"])
def test_masked_modality_values_do_not_change_the_output(missing):
    mixer = small().eval()
    masks = present()
    masks[missing] = torch.tensor([True, False])
    a = inputs()
    b = {"rgb": Features(volume=a["rgb"].volume.clone()), "pose2d": Features(joints=a["pose2d"].joints.clone())}
    if missing == "rgb":
        b["rgb"].volume.mul_(4).add_(1)
    else:
        b["pose2d"].joints.mul_(-3)
    la, lb = mixer(a, masks).logits, mixer(b, masks).logits
    assert torch.allclose(la[1], lb[1], atol=1e-5)
    assert not torch.allclose(la[0], lb[0])


def test_wrong_joint_count_is_reported():
    feats = inputs()
    feats["pose2d"].joints = torch.randn(2, 3, 8, 7)
    with pytest.raises(ContractError, match="V=7 joints, expected num_joints=5"):
        small()(feats, present())


def test_too_many_frames_and_bad_arguments_are_reported():
    with pytest.raises(ContractError, match="T=16 frames, more than max_frames=8"):
        small()(inputs(frames=16), present())
    with pytest.raises(RecipeError, match=r"dim \(32\) must be divisible by groups \(3\)"):
        small(groups=3)
    with pytest.raises(RecipeError, match="joint_mode must be chunk or stride, got 'zigzag'"):
        joint_groups(5, 2, "zigzag")


def test_keypoints_encoder_rejects_a_wrong_tensor():
    with pytest.raises(ContractError, match=r"tensor 'pose2d' must be pose2d \(B, 3, T, V=5, M\)"):
        PoseKeypoints(num_joints=5, image_size=(64, 64))(torch.zeros(1, 3, 2, 4, 1))


def test_keypoints_encoder_scales_to_unit_box_and_picks_the_confident_person():
    kp = torch.zeros(1, 3, 2, 4, 2)
    kp[:, :, :, :, 0] = torch.tensor([10.0, 20.0, 0.2])[None, :, None, None]
    kp[:, :, 1, :, 1] = torch.tensor([30.0, 0.0, 0.9])[None, :, None]
    merged = most_confident_person(kp)
    assert merged[0, :, 0, 0].tolist() == pytest.approx([10.0, 20.0, 0.2])
    assert merged[0, :, 1, 0].tolist() == pytest.approx([30.0, 0.0, 0.9])
    joints = PoseKeypoints(num_joints=4, image_size=(40, 40))(kp).joints
    assert joints[0, :, 1, 0].tolist() == pytest.approx([0.5, -1.0, 0.9])
