"""UniPose cross-modality input: detection heat per point, heat-guided voting, input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion.errors import ContractError, RecipeError
from fusion_plugins.unipose.detections import DetectionHeat, point_heat, project_points
from fusion_plugins.unipose.geometry import intrinsics_tensor, project
from fusion_plugins.unipose.voting import vote_joints

K = {"fx": 60.0, "fy": 55.0, "cx": 32.0, "cy": 30.0}


def test_point_heat_is_the_score_on_the_ray_and_falls_as_a_gaussian():
    joints = np.array([[[0.1, 0.2, 3.0], [-0.3, 0.0, 2.5]]], dtype=np.float32)  # (T=1, V=2, 3)
    uv = project_points(joints, K)
    keypoints = np.concatenate([uv, np.array([[[0.8], [1.0]]])], -1)
    on_ray = joints * np.array([[[1.1], [0.9]]])  # same pixels, other depths
    one_pixel_right = np.array([[[0.1 + 3.0 / K["fx"], 0.2, 3.0]]])
    points = np.concatenate([on_ray, one_pixel_right, np.zeros((1, 1, 3))], axis=1).astype(np.float32)
    heat = point_heat(points, keypoints, K, sigma=2.0)
    assert heat.shape == (1, 4, 2)
    assert heat[0, 0, 0] == pytest.approx(0.8) and heat[0, 1, 1] == pytest.approx(1.0)
    assert heat[0, 2, 0] == pytest.approx(0.8 * np.exp(-1 / 8), rel=1e-4)  # 1 px off, sigma 2
    assert heat[0, 3].tolist() == [0.0, 0.0]  # padding point


def test_projection_matches_the_torch_geometry():
    xyz = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32) * 0.3 + [0, 0, 3]
    for y_up in (True, False):
        expected = project(torch.from_numpy(xyz), intrinsics_tensor(K, 2), y_up)[..., :2].numpy()
        assert np.allclose(project_points(xyz, K, y_up), expected, atol=1e-4)


def test_transform_appends_one_channel_per_joint_and_names_bad_input():
    rng = np.random.default_rng(0)
    sample = {"pointcloud": (rng.normal(size=(3, 16, 3)) + [0, 0, 3]).astype(np.float32),
              "pose2d": rng.uniform(0, 64, size=(1, 3, 25, 3)).astype(np.float32), "meta": {"intrinsics": K}}
    out = DetectionHeat(sigma=1.5)(sample)
    assert out["pointcloud"].shape == (3, 16, 28) and np.array_equal(out["pointcloud"][..., :3], sample["pointcloud"])
    with pytest.raises(ContractError, match="pose2d"):
        DetectionHeat()({"pointcloud": sample["pointcloud"], "meta": sample["meta"]})
    with pytest.raises(ContractError, match="intrinsics"):
        DetectionHeat()({**sample, "meta": {}})
    with pytest.raises(ContractError, match=r"T = 3"):
        DetectionHeat()({**sample, "pose2d": sample["pose2d"][:, :2]})
    with pytest.raises(RecipeError, match="sigma"):
        DetectionHeat(sigma=0)


def test_weighted_voting_uses_the_weight_for_choice_and_mean():
    points = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]]])
    hm = torch.zeros(1, 1, 4, 4)
    hm[:, :, 0] = 1.0  # full closeness: votes are the points
    hm[:, :, 1] = 1.0
    weight = torch.tensor([[[0.0, 1.0, 3.0, 0.0]]])
    joint = vote_joints(points, hm, 0.5, k=2, weight=weight)
    assert torch.allclose(joint, torch.tensor([[[1.75, 0.0, 0.0]]]))


def small_lifter(**kw):
    from fusion_plugins.unipose.pointcloud import unipose_pointcloud

    net = {"num_centroids": [16, 8], "k": 4, "sa_mlps": [[8, 8, 16], [16, 16, 32], [32, 32, 64]],
           "fp_mlps": [[16, 16], [16, 16], [16, 16, 16]], "head_mlp": [16]}
    from fusion.construct import context
    from fusion.registry import get_registry

    return unipose_pointcloud(num_joints=25, topk=4, network=net, ctx=context(get_registry()), **kw)


def test_untrained_heat_guided_lifter_starts_at_the_points_on_each_ray():
    torch.manual_seed(0)
    gt = torch.randn(1, 2, 25, 3) * 0.3 + torch.tensor([0.0, 0.0, 3.0])
    cloud = (gt.unsqueeze(3) + 0.01 * torch.randn(1, 2, 25, 3, 3)).flatten(2, 3)  # 3 points around each joint
    uv = project(gt, intrinsics_tensor(K, 1))[..., :2]
    pose2d = torch.cat([uv, torch.ones(1, 2, 25, 1)], -1).unsqueeze(0).numpy()[:, 0][None]
    sample = DetectionHeat(sigma=1.0)({"pointcloud": cloud[0].numpy(), "pose2d": pose2d[0], "meta": {"intrinsics": K}})
    model = small_lifter(in_channels=28, detection_channels=25).eval()
    joints = model(torch.from_numpy(sample["pointcloud"])[None]).aux["joints3d"]
    assert (joints - gt).norm(dim=-1).mean() < 0.05  # C3P's random start is tens of cm off


def test_lifter_names_wrong_channels_and_bad_arguments():
    with pytest.raises(RecipeError, match="detection_channels"):
        small_lifter(in_channels=28, detection_channels=17)
    with pytest.raises(RecipeError, match="in_channels"):
        small_lifter(in_channels=3, detection_channels=25)
    with pytest.raises(ContractError, match="detection_heat"):
        small_lifter(in_channels=28, detection_channels=25)(torch.zeros(1, 2, 32, 3))


def test_two_stack_factory_takes_lists_and_keeps_the_official_size():
    from fusion_plugins.pointcloud.two_stack import SMALL, pointnet2_two_stack

    listed = {key: [list(v) if isinstance(v, tuple) else v for v in value] if isinstance(value, tuple) else value
              for key, value in SMALL.items()}
    a, b = pointnet2_two_stack(in_channels=3, **SMALL), pointnet2_two_stack(in_channels=3, **listed)
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert b.stack1.sa1 is not None and isinstance(type(b).__init__, type(pointnet2_two_stack.__init__))


def test_image_lifter_and_losses_name_bad_arguments():
    from fusion_plugins.unipose.image_lifter import unipose_a2j_depth
    from fusion_plugins.unipose.losses import bone_consistency_loss

    with pytest.raises(RecipeError, match="backbone"):
        unipose_a2j_depth(backbone="vgg")
    lifter = unipose_a2j_depth(num_joints=5, backbone="small", widths=[8, 8, 8, 8], head_width=8, head_layers=1)
    with pytest.raises(ContractError, match=r"\(B, 1, T, H, W\)"):
        lifter(torch.zeros(1, 3, 2, 32, 32))
    with pytest.raises(RecipeError, match="consistency"):
        bone_consistency_loss(torch.zeros(1, 2, 5, 3), torch.tensor([[0, 1]]), mode="spatial")


def test_fusion_streams_share_the_clip_and_train_only_the_recognisers():
    from test_unipose import SMALL_NET, build, synthetic_batch

    from fusion_plugins.unipose.fusion import normalise_clip

    cloud = {"name": "pointnet2_temporal", "args": {"num_centroids": [16, 8], "radii": [0.2, 0.4], "k": [4, 4],
                                                    "sa_mlps": [[8, 8, 16], [16, 16, 32], [32, 32, 32]]}}
    recogniser = {"name": "stgcn", "args": {"layout": "ntu25", "in_channels": 3, "config": "small"}}
    encoders = {"pointcloud": {"name": "unipose_pointcloud", "args": {"num_joints": 25, "in_channels": 3, "topk": 8, "network": SMALL_NET}}}
    batch = synthetic_batch()
    for streams in (["lifted", "cloud"], ["cloud"], ["lifted"]):
        model = build(encoders, mixer="unipose_fusion", roles={"pose": "pointcloud"},
                      mixer_args={"recogniser": recogniser, "cloud": cloud, "cloud_frames": 2, "cloud_points": 32,
                                  "streams": streams, "projection": 16})
        out = model(batch)
        assert out.logits.shape == (2, 2)
        torch.nn.functional.cross_entropy(out.logits, batch["label"]).backward()
        assert all(p.grad is None for p in model.encoders.parameters())  # the lifter stays as stage 1 left it
        for name in streams:
            module = model.mixer.lifted.recogniser if name == "lifted" else model.mixer.cloud
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()), name
    xyz = torch.tensor([[[[1.0, 0, 3], [3.0, 0, 3], [0, 0, 0]]]])
    assert torch.allclose(normalise_clip(xyz), torch.tensor([[[[-1.0, 0, 0], [1.0, 0, 0], [0, 0, 0]]]]))
    with pytest.raises(RecipeError, match="streams"):
        build(encoders, mixer="unipose_fusion", roles={"pose": "pointcloud"}, mixer_args={"streams": ["rgb"]})


@pytest.mark.parametrize("name", ["unipose_pointcloud", "unipose_pointcloud_c3p", "unipose_a2j", "unipose_recognise",
                                  "unipose_fusion"])
def test_synthact_unipose_recipes_validate(name):
    from pathlib import Path

    from fusion.recipe import load_recipe
    from fusion.registry import get_registry

    path = Path(__file__).resolve().parents[2] / "recipes" / "synthact" / f"{name}.yaml"
    plugins = load_recipe(path)["plugins"]
    recipe = load_recipe(path, registry=get_registry(plugins))  # every component name resolves
    encoder = recipe["model"]["encoders"]["pointcloud"]["args"]
    assert encoder["in_channels"] == 3 + encoder.get("detection_channels", 0)
