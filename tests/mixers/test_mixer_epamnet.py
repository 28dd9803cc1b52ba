"""EPAM-Net: STA block, heatmaps, time alignment, two heads with summed logits, branch CE, masks, gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from fusion.errors import ContractError, RecipeError
from fusion.mixers._common import align_time, temporal_indices
from fusion.mixers.epamnet import BranchCrossEntropy, EPAMNet, SpatialTemporalAttention
from fusion.types import Features, ModelOutput
from fusion_plugins.skeleton.heatmaps import PoseHeatmapNet, PoseHeatmaps, keypoint_heatmaps

POSE_SMALL = {"base_channels": 8, "stage_blocks": [1, 1, 1]}


def test_sta_has_107_parameters_and_maps_into_0_1():
    sta = SpatialTemporalAttention()
    assert sum(p.numel() for p in sta.parameters()) == 107
    a = sta(torch.randn(2, 216, 16, 7, 7) * 5)
    assert a.shape == (2, 1, 16, 7, 7)
    assert torch.all(a > 0) and torch.all(a < 1)


def test_sta_is_constant_for_constant_pose_features_away_from_the_zero_padding():
    sta = SpatialTemporalAttention().eval()
    a = sta(torch.full((1, 8, 16, 15, 15), 0.3))
    interior = a[:, :, 3:-3, 3:-3, 3:-3]  # beyond the 7-tap kernels' reach of the padding
    assert torch.allclose(interior, interior.flatten()[0].expand_as(interior))


def test_temporal_indices_official_and_centre():
    assert temporal_indices(48, 16).tolist() == list(range(0, 48, 3))
    assert temporal_indices(32, 8, mode="centre").tolist() == [2, 6, 10, 14, 18, 22, 26, 30]
    assert temporal_indices(5, 5, mode="centre").tolist() == [0, 1, 2, 3, 4]
    x = torch.arange(48.0).view(1, 1, 48)
    assert align_time(x, 16, dim=2).flatten().tolist() == [float(i) for i in range(0, 48, 3)]
    with pytest.raises(RecipeError, match="centre"):
        temporal_indices(4, 2, mode="middle")


def test_heatmap_peak_is_the_score_at_the_keypoint_and_persons_merge_by_max():
    kp = torch.zeros(1, 3, 1, 2, 2)  # (B, C, T, V, M)
    kp[0, :, 0, 0, 0] = torch.tensor([20.0, 12.0, 0.8])  # joint 0 person 0 at pixel (x 20, y 12) of 32 x 32
    kp[0, :, 0, 0, 1] = torch.tensor([4.0, 4.0, 0.5])
    maps = keypoint_heatmaps(kp, size=(16, 16), image_size=(32, 32), sigma=0.6)
    assert maps.shape == (1, 2, 1, 16, 16)
    assert math.isclose(maps[0, 0, 0, 6, 10].item(), 0.8, rel_tol=1e-6)  # (y 12, x 20) / 2
    assert math.isclose(maps[0, 0, 0, 2, 2].item(), 0.5, rel_tol=1e-6)
    assert math.isclose(maps[0, 0, 0, 6, 11].item(), 0.8 * math.exp(-1 / (2 * 0.36)), rel_tol=1e-5)
    assert maps[0, 0, 0, 6, 14].item() == 0  # beyond int(mu + 3 sigma)
    assert torch.all(maps[0, 1] == 0)  # joint 1 has score 0 in both persons: nothing drawn


def test_pose_heatmaps_encoder_checks_its_input():
    enc = PoseHeatmaps(num_joints=17, size=(8, 8), image_size=(32, 32))
    assert enc(torch.rand(2, 3, 4, 17, 1) * 32).volume.shape == (2, 17, 4, 8, 8)
    with pytest.raises(ContractError, match="V=17"):
        enc(torch.rand(2, 3, 4, 25, 1))


def small_epamnet(classes=5, **kwargs):
    from fusion.construct import context
    from fusion.registry import get_registry

    pose = PoseHeatmapNet("xshiftnet_pose", POSE_SMALL, num_joints=17, size=(16, 16), image_size=(64, 64),
                          ctx=context(get_registry()))
    rgb = get_registry().get("encoder", "xshiftnet_rgb").factory(base_channels=8, stage_blocks=(1, 1, 1, 1))
    mixer = EPAMNet({"rgb": rgb.out_dim, "pose2d": pose.out_dim}, classes, {"video": "rgb", "pose": "pose2d"}, **kwargs)
    return rgb, pose, mixer


def keypoints(batch=2, frames=6):
    kp = torch.rand(batch, 3, frames, 17, 1)
    kp[:, :2] *= 64
    return kp


def test_shapes_spatial_alignment_and_summed_logits():
    rgb, pose, mixer = small_epamnet()
    video, kp = torch.randn(2, 3, 2, 64, 64), keypoints()
    fr, fs = rgb(video), pose(kp)
    assert fr.volume.shape[-2:] == fs.volume.shape[-2:] == (2, 2)  # H_rgb / 32 == H_pose / 8
    assert fs.volume.shape[2] == 3 * fr.volume.shape[2]
    mixer.eval()
    out = mixer({"rgb": fr, "pose2d": fs}, {"rgb": torch.ones(2, dtype=torch.bool), "pose2d": torch.ones(2, dtype=torch.bool)})
    z = out.aux["logits_per_modality"]
    assert out.logits.shape == (2, 5) and torch.allclose(out.logits, z["rgb"] + z["pose2d"])
    assert out.aux["attention"].shape == (2, 1, 2, 2, 2)


def test_mismatched_maps_are_an_error_unless_resized():
    _, _, mixer = small_epamnet()
    features = {"rgb": Features(volume=torch.randn(2, 144, 4, 2, 2)), "pose2d": Features(volume=torch.randn(2, 72, 12, 4, 4))}
    masks = {"rgb": torch.ones(2, dtype=torch.bool), "pose2d": torch.ones(2, dtype=torch.bool)}
    with pytest.raises(ContractError, match="resize_attention"):
        mixer(features, masks)
    _, _, mixer = small_epamnet(resize_attention=True)
    assert mixer(features, masks).logits.shape == (2, 5)


def test_rgb_loss_reaches_the_pose_backbone_through_the_attention_but_not_the_pose_head():
    rgb, pose, mixer = small_epamnet()
    for m in pose.modules():  # zero-init residual BNs would hide the block convs' gradients at init
        if isinstance(m, torch.nn.BatchNorm3d):
            torch.nn.init.ones_(m.weight)
    present = torch.ones(2, dtype=torch.bool)
    out = mixer({"rgb": rgb(torch.randn(2, 3, 2, 64, 64)), "pose2d": pose(keypoints())}, {"rgb": present, "pose2d": present})
    F.cross_entropy(out.aux["logits_per_modality"]["rgb"], torch.tensor([0, 1])).backward()
    assert pose.backbone.conv1_s.conv.weight.grad.abs().sum() > 0
    assert mixer.pose_head.fc.weight.grad is None
    assert mixer.attention.spatial.weight.grad.abs().sum() > 0


def test_masked_pose_gives_plain_rgb_logits_and_ignores_its_values():
    rgb, pose, mixer = small_epamnet()
    mixer.eval()
    fr = rgb(torch.randn(2, 3, 2, 64, 64))
    masks = {"rgb": torch.ones(2, dtype=torch.bool), "pose2d": torch.tensor([True, False])}
    a = mixer({"rgb": fr, "pose2d": pose(keypoints())}, masks)
    b = mixer({"rgb": fr, "pose2d": pose(keypoints() * 0.5)}, masks)
    assert torch.allclose(a.logits[1], b.logits[1], atol=1e-6)
    assert torch.allclose(a.logits[1], mixer.video_head(fr.volume)[1], atol=1e-6)
    assert not torch.allclose(a.logits[0], b.logits[0])


class _Fixed(torch.nn.Module):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, batch):
        return self.out


def test_branch_ce_is_the_sum_of_the_two_cross_entropies_masked_per_branch():
    z_rgb, z_pose = torch.randn(4, 3), torch.randn(4, 3)
    label = torch.tensor([0, 1, 2, 0])
    out = ModelOutput(logits=z_rgb + z_pose, fused=None, features={}, aux={"logits_per_modality": {"rgb": z_rgb, "pose2d": z_pose}})
    batch = {"label": label, "mask": {"rgb": torch.ones(4, dtype=torch.bool), "pose2d": torch.tensor([1, 1, 0, 1]).bool()}}
    loss, info = BranchCrossEntropy()(_Fixed(out), batch)
    keep = batch["mask"]["pose2d"]
    expected = F.cross_entropy(z_rgb, label) + F.cross_entropy(z_pose[keep], label[keep])
    assert torch.allclose(loss, expected)
    assert set(info["logs"]) == {"ce_rgb", "ce_pose2d"}


def test_xshiftnet_rgb_stem_stride_defaults_to_the_paper_and_1_halves_the_stride():
    from fusion_plugins.rgb.encoders.xshiftnet import RGB_SMALL, xshiftnet_rgb

    clip = torch.randn(1, 3, 2, 64, 64)
    assert xshiftnet_rgb(**RGB_SMALL).eval()(clip).volume.shape[-2:] == (2, 2)  # stride 32 (paper)
    assert xshiftnet_rgb(**RGB_SMALL, stem_stride=1).eval()(clip).volume.shape[-2:] == (4, 4)  # stride 16
    with pytest.raises(RecipeError, match="stem_stride must be 1 or 2, got 4"):
        xshiftnet_rgb(**RGB_SMALL, stem_stride=4)
