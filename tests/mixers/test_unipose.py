"""UniPose: weak-supervision invariants, A2J decoding, voting, OBB, metrics, gradients, lift-then-recognise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion.errors import ContractError
from fusion_plugins.unipose import losses
from fusion_plugins.unipose.a2j import A2JHead, anchor_grid
from fusion_plugins.unipose.body import body_model, load_layout
from fusion_plugins.unipose.geometry import (
    backproject,
    cam_to_obb,
    intrinsics_tensor,
    obb_to_cam,
    oriented_box,
    project,
)
from fusion_plugins.unipose.metrics import accuracy_within, mpjpe, naive_lift
from fusion_plugins.unipose.voting import vote_joints

K = {"fx": 60.0, "fy": 55.0, "cx": 32.0, "cy": 30.0}


def intrinsics(batch=2):
    return intrinsics_tensor(K, batch)


@pytest.mark.parametrize("y_up", [True, False])
def test_projection_round_trip(y_up):
    xyz = torch.randn(2, 5, 3) * 0.5 + torch.tensor([0.0, 0.0, 3.0])
    assert torch.allclose(backproject(project(xyz, intrinsics(), y_up), intrinsics(), y_up), xyz, atol=1e-5)


@pytest.mark.parametrize("y_up", [True, False])
def test_ray_loss_is_zero_on_the_ray_and_scale_invariant(y_up):
    torch.manual_seed(0)
    uv = torch.rand(2, 4, 17, 2) * 64
    depth = 1.0 + 3.0 * torch.rand(2, 4, 17, 1)
    on_ray = backproject(torch.cat([uv, depth], -1), intrinsics(), y_up)  # X = lambda K^-1 [u; 1]
    assert losses.ray_loss(on_ray, uv, intrinsics(), y_up) < 1e-6
    off_ray = on_ray + 0.2 * torch.randn_like(on_ray)
    value = losses.ray_loss(off_ray, uv, intrinsics(), y_up)
    assert value > 1e-3
    for scale in (0.25, 3.0):
        assert torch.allclose(losses.ray_loss(scale * off_ray, uv, intrinsics(), y_up), value, rtol=1e-5)


def test_ray_loss_hand_computed():
    # u at the principal point: d = (0, 0, 1); X = (0.1, 0, 1): e = 0.1, |d| = 1, |P| = sqrt(1.01)
    joints = torch.tensor([[[0.1, 0.0, 1.0]]])
    uv = torch.tensor([[[K["cx"], K["cy"]]]])
    expected = 0.1 / np.sqrt(1.01)
    assert losses.ray_loss(joints, uv, intrinsics(1)).item() == pytest.approx(expected, rel=1e-5)


def symmetric_skeleton(layout="ntu25"):
    """Random left joints, right joints their mirror image about x = 0, centre joints on x = 0."""
    spec = load_layout(layout)
    flip = torch.tensor(spec.flip)
    joints = torch.randn(spec.num_joints, 3)
    centre = flip == torch.arange(spec.num_joints)
    joints[centre, 0] = 0.0
    right = torch.tensor([name.startswith("right_") for name in spec.joints])
    joints[right] = joints[flip[right]] * torch.tensor([-1.0, 1.0, 1.0])
    return joints


@pytest.mark.parametrize("layout", ["ntu25", "coco17"])
def test_symmetry_loss_is_zero_for_a_mirrored_skeleton(layout):
    torch.manual_seed(1)
    body = body_model(layout)
    assert losses.symmetry_loss(symmetric_skeleton(layout)[None, None], body.limbs) < 1e-10
    assert losses.symmetry_loss(torch.randn(1, 1, body.num_joints, 3), body.limbs) > 1e-3


def test_bone_prior_is_zero_at_the_prior_and_hand_computed_off_it():
    body = body_model("ntu25", {"forearm": 0.3})
    spec = load_layout("ntu25")
    joints = torch.zeros(spec.num_joints, 3)
    for side, x in (("left", 1.0), ("right", -1.0)):
        chain = [("shoulder", "upper_arm"), ("elbow", "forearm"), ("wrist", None)]
        leg = [("hip", "thigh"), ("knee", "shin"), ("ankle", None)]
        for parts, y0, direction in ((chain, 1.4, torch.tensor([x, 0.0, 0.0])), (leg, 0.9, torch.tensor([0.0, -1.0, 0.0]))):
            position = torch.tensor([0.2 * x, y0, 3.0])
            for joint, limb in parts:
                joints[spec.index(f"{side}_{joint}")] = position
                if limb:
                    length = 0.3 if limb == "forearm" else losses.DEFAULT_BONE_PRIOR[limb]
                    position = position + length * direction
    assert losses.bone_prior_loss(joints[None], body.limbs, body.prior) < 1e-10
    # every limb 5 cm too long (joints scaled about each limb root would be complex: shift the wrists only)
    longer = joints.clone()
    for side, x in (("left", 1.0), ("right", -1.0)):
        longer[spec.index(f"{side}_wrist"), 0] += 0.05 * x
    # 2 of 8 limbs off by 0.05 m: mean squared error = 2 * 0.0025 / 8
    assert losses.bone_prior_loss(longer[None], body.limbs, body.prior).item() == pytest.approx(2 * 0.0025 / 8, rel=1e-4)


def test_motion_and_consistency_terms():
    t = torch.linspace(0, 1, 6).view(1, 6, 1, 1)
    linear = torch.randn(1, 1, 25, 3) + t * torch.randn(1, 1, 25, 3)
    assert losses.motion_loss(linear) < 1e-10
    assert losses.motion_loss(linear + 0.1 * torch.randn_like(linear)) > 1e-5
    bones = body_model("ntu25").bones
    rigid = torch.randn(1, 1, 25, 3).expand(1, 5, 25, 3) + t[:, :5]  # translating rigid body
    assert losses.bone_consistency_loss(rigid, bones, "temporal") < 1e-10


def test_a2j_weights_sum_to_one_and_uniform_responses_give_the_mean_anchor():
    torch.manual_seed(0)
    head = A2JHead(8, 8, num_joints=3, stride=8, offsets=(2, 6), width=8, layers=1)
    out = head(torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4))
    assert out["weights"].shape == (2, 4 * 4 * 4, 3)
    assert torch.allclose(out["weights"].sum(1), torch.ones(2, 3), atol=1e-6)
    for branch in (head.response, head.offset):
        torch.nn.init.zeros_(branch[-1].weight)
        torch.nn.init.zeros_(branch[-1].bias)
    out = head(torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4))
    # cells at 0, 8, 16, 24 plus offsets 2, 6: mean position 12 + 4 = 16 on both axes
    assert torch.allclose(out["uv"], torch.full((2, 3, 2), 16.0), atol=1e-5)
    assert torch.allclose(out["anchor_uv"], out["uv"])


def test_anchor_grid_order_and_parameter_count():
    grid = anchor_grid(2, 3, 16, (2, 6, 10, 14))
    assert grid.shape == (2 * 3 * 16, 2)
    assert grid[:2].tolist() == [[2.0, 2.0], [6.0, 2.0]]  # (u, v): u offsets vary fastest
    assert grid[16].tolist() == [18.0, 2.0]  # next cell along u
    head = A2JHead(4, 4, num_joints=2, stride=8, offsets=(2, 6), width=8, layers=1)
    # per branch: conv 4->8 (3x3, bias) 296 + BN 16 + output conv 8->4J*c (3x3, bias)
    expected = 3 * (296 + 16) + (8 * 8 * 9 + 8) * 2 + (8 * 16 * 9 + 16)
    assert sum(p.numel() for p in head.parameters()) == expected


def test_voting_with_full_closeness_is_the_mean_point():
    points = torch.randn(2, 10, 3)
    hm = torch.cat([torch.ones(2, 3, 1, 10), torch.randn(2, 3, 3, 10)], dim=2)
    joints = vote_joints(points, hm, radius=0.5, k=10)
    assert torch.allclose(joints, points.mean(1, keepdim=True).expand(2, 3, 3), atol=1e-6)
    hm[:, :, 0] = 0.5  # half closeness: every vote moves by half the radius along the unit V
    hm[:, :, 1:] = torch.tensor([0.0, 0.0, 2.0]).view(1, 1, 3, 1)
    joints = vote_joints(points, hm, radius=0.5, k=10)
    shifted = points.mean(1, keepdim=True) + torch.tensor([0.0, 0.0, 0.25])
    assert torch.allclose(joints, shifted.expand(2, 3, 3), atol=1e-6)


def test_obb_round_trip_is_exact_and_normalises_the_longest_side():
    torch.manual_seed(0)
    points = torch.randn(3, 50, 3) * torch.tensor([0.2, 0.8, 0.1]) + torch.tensor([0.3, 0.1, 3.0])
    rotation, scale, offset = oriented_box(points)
    assert torch.allclose(torch.linalg.det(rotation), torch.ones(3), atol=1e-5)
    inside = cam_to_obb(points, rotation, scale, offset)
    extent = inside.amax(1) - inside.amin(1)
    assert torch.allclose(extent.amax(-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(inside.amax(1) + inside.amin(1), torch.zeros(3, 3), atol=1e-5)
    assert torch.allclose(obb_to_cam(inside, rotation, scale, offset), points, atol=1e-5)
    assert (rotation[:, 1, 0] > 0).all()  # first axis (the tall one) points along camera +y


def test_mpjpe_and_accuracy_hand_computed():
    gt = torch.zeros(1, 1, 4, 3)
    pred = torch.tensor([[[[0.03, 0.04, 0.0], [0.0, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.01]]]])
    assert mpjpe(pred, gt).item() == pytest.approx((0.05 + 0.0 + 0.2 + 0.01) / 4)
    assert accuracy_within(pred, gt, 0.10).item() == pytest.approx(0.75)


def test_naive_lift_reads_the_depth_at_the_keypoint_and_fills_holes():
    depth = torch.full((1, 1, 1, 8, 8), 2.0)
    depth[0, 0, 0, 5, 3] = 0.0  # a hole
    depth[0, 0, 0, 2, 6] = 3.0
    k = intrinsics_tensor({"fx": 10.0, "fy": 10.0, "cx": 4.0, "cy": 4.0}, 1)
    uv = torch.tensor([[[[6.5, 2.5], [3.5, 5.5]]]])
    joints = naive_lift(uv, depth, k, y_up=True)
    expected = backproject(torch.tensor([[[[6.5, 2.5, 3.0], [3.5, 5.5, 2.0]]]]), k, True)
    assert torch.allclose(joints, expected)


def test_missing_intrinsics_are_named():
    with pytest.raises(ContractError, match="intrinsics"):
        intrinsics_tensor([{"id": "x"}])


# ---------------------------------------------------------------------------------------------------
# The model: small branches, one synthetic RGB-D batch

SMALL_NET = {"num_centroids": [16, 8], "k": 4, "sa_mlps": [[8, 8, 16], [16, 16, 32], [32, 32, 64]],
             "fp_mlps": [[16, 16], [16, 16], [16, 16, 16]], "head_mlp": [16]}
SMALL_A2J = {"backbone": "small", "widths": [8, 8, 16, 16], "head_width": 8, "head_layers": 1}


def synthetic_batch(batch=2, frames=3, joints=25, points=64, size=32):
    torch.manual_seed(0)
    gt = torch.randn(batch, frames, joints, 3) * 0.3 + torch.tensor([0.0, 0.0, 3.0])
    uvz = project(gt, intrinsics(batch))
    pose2d = torch.cat([uvz[..., :2], torch.ones(batch, frames, joints, 1)], -1).permute(0, 3, 1, 2).unsqueeze(-1)
    cloud = gt[:, :, torch.randint(joints, (points,))] + 0.05 * torch.randn(batch, frames, points, 3)
    return {
        "pointcloud": cloud,
        "rgb": torch.rand(batch, 3, frames, size, size),
        "depth": 3.0 + 0.1 * torch.rand(batch, 1, frames, size, size),
        "pose2d": pose2d,
        "mask": {m: torch.ones(batch, dtype=torch.bool) for m in ("pointcloud", "rgb", "depth")},
        "label": torch.tensor([0, 1][:batch]),
        "meta": [{"intrinsics": K, "skeleton_gt": gt[i, None].numpy()} for i in range(batch)],
    }


def build(encoders, mixer="concat", mixer_args=None, roles=None):
    from fusion.model import build_model
    from fusion.registry import get_registry

    recipe = {"model": {"encoders": encoders, "mixer": {"name": mixer, "args": mixer_args or {}, "roles": roles or {}},
                        "head": {"name": "linear", "args": {}}}}
    return build_model(recipe, get_registry(), num_classes=2)


def test_gradients_reach_every_branch_and_logs_carry_mpjpe():
    from fusion_plugins.unipose.objective import unipose_lift

    model = build({
        "pointcloud": {"name": "unipose_pointcloud", "args": {"num_joints": 25, "in_channels": 3, "topk": 8, "network": SMALL_NET}},
        "rgb": {"name": "unipose_a2j_rgb", "args": {"num_joints": 25, **SMALL_A2J}},
        "depth": {"name": "unipose_a2j_depth", "args": {"num_joints": 25, **SMALL_A2J}},
    })
    batch = synthetic_batch()
    loss, out = unipose_lift(classify_weight=1.0)(model, batch)
    loss.backward()
    for branch in ("encoders.pointcloud", "encoders.rgb", "encoders.depth", "head"):
        params = [(n, p) for n, p in model.named_parameters() if n.startswith(branch)]
        missing = [n for n, p in params if p.grad is None]
        assert not missing, f"no gradient in {missing[:3]}"
        assert sum(p.grad.abs().sum() for _, p in params) > 0, branch
    logs = out["logs"]
    for name in ("mpjpe_pointcloud", "mpjpe_rgb", "mpjpe_depth", "mpjpe_naive", "acc10_pointcloud", "ray_1", "ray_2"):
        assert torch.isfinite(logs[name]), name
    assert out["logits"].shape == (2, 2)


def test_lift_then_recognise_classifies_lifted_joints_without_touching_the_lifter():
    model = build(
        {"pointcloud": {"name": "unipose_pointcloud", "args": {"num_joints": 25, "in_channels": 3, "topk": 8, "network": SMALL_NET}}},
        mixer="unipose_recognise", roles={"pose": "pointcloud"},
        mixer_args={"recogniser": {"name": "stgcn", "args": {"layout": "ntu25", "in_channels": 3, "config": "small"}}},
    )
    batch = synthetic_batch()
    out = model(batch)
    assert out.logits.shape == (2, 2)
    lifted = out.aux["lifted"]
    origin = load_layout("ntu25").origin
    assert torch.allclose(lifted[:, :, 0, origin], torch.zeros(2, 3), atol=1e-6)  # centred on the first frame
    torch.nn.functional.cross_entropy(out.logits, batch["label"]).backward()
    assert all(p.grad is None for p in model.encoders.parameters())
    assert any(p.grad is not None for p in model.mixer.parameters())


def test_pose_evaluation_reports_every_branch_and_the_naive_baseline():
    from fusion_plugins.unipose.evaluate import pose_errors, summarise

    model = build({"pointcloud": {"name": "unipose_pointcloud",
                                  "args": {"num_joints": 25, "in_channels": 3, "topk": 8, "network": SMALL_NET}}})
    batch = synthetic_batch()
    errors = pose_errors(model, [batch])
    assert set(errors) == {"pointcloud", "naive"} and errors["naive"].shape == (2, 3, 25)
    row = summarise({"x": torch.tensor([0.05, 0.15, 0.02, 0.3])})["x"]
    assert row["mpjpe_cm"] == pytest.approx(13.0) and row["acc_10cm"] == pytest.approx(0.5)
