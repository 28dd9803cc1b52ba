"""Depth encoders: one-channel backbones behind a normalisation that keeps holes at zero."""

import pytest
import torch

from fusion.errors import RecipeError
from fusion_plugins.depth.encoders import FACTORIES, normalize_depth
from fusion_plugins.rgb.encoders import x3d
from fusion_plugins.rgb.encoders._common import adapt_input_filters
from fusion_plugins.rgb.encoders.xshiftnet import RGB_SMALL


@pytest.fixture
def depth():
    d = torch.rand(2, 1, 3, 4, 4) * 6 + 0.5
    d[:, :, :, 0, 0] = 0  # holes
    return d


def test_range_normalisation_clips_and_keeps_holes(depth):
    out = normalize_depth(depth, "range", max_range=4.0)
    assert torch.all(out[:, :, :, 0, 0] == 0) and out.min() >= 0 and out.max() <= 1
    valid = (depth > 0) & (depth < 4)
    torch.testing.assert_close(out[valid], depth[valid] / 4)
    assert torch.all(out[depth >= 4] == 1)


def test_standardize_gives_zero_mean_unit_variance_over_valid_pixels(depth):
    out = normalize_depth(depth, "standardize")
    assert torch.all(out[:, :, :, 0, 0] == 0)
    for sample, raw in zip(out, depth):
        values = sample[raw > 0]
        assert values.mean().abs() < 1e-5 and values.std(unbiased=False) == pytest.approx(1.0, abs=1e-4)
    torch.testing.assert_close(normalize_depth(depth, "none"), depth)
    with pytest.raises(RecipeError, match="normalize='minmax' is unknown; expected one of range, standardize, none"):
        normalize_depth(depth, "minmax")


def test_every_video_backbone_has_a_depth_version():
    assert {"depth_xshiftnet", "depth_x3d_xs", "depth_x3d_s", "depth_x3d_m", "depth_slowfast_r50",
            "depth_r2plus1d_r50", "depth_tsm"} <= set(FACTORIES)


def test_depth_xshiftnet_small_features_and_one_input_channel(depth):
    model = FACTORIES["depth_xshiftnet"](**RGB_SMALL, normalize="standardize")
    assert model.backbone.conv1_s.conv.in_channels == 1
    features = model(torch.rand(2, 1, 4, 32, 32) * 3)
    assert features.provided() == {"volume", "frames", "pooled"}
    assert features.volume.shape == (2, model.out_dim, 4, 1, 1)
    features.pooled.sum().backward()


def test_depth_tsm_uses_timm_in_chans():
    model = FACTORIES["depth_tsm"](backbone="resnet18", normalize="range")
    assert model.backbone.backbone.conv1.in_channels == 1
    assert model(torch.rand(1, 1, 2, 32, 32)).volume.shape == (1, 512, 2, 1, 1)


def test_depth_x3d_small():
    model = FACTORIES["depth_x3d_xs"](**x3d.SMALL)
    assert model(torch.rand(1, 1, 4, 32, 32)).pooled.shape == (1, model.out_dim)


def test_recipe_keys_are_checked_and_pretrained_must_be_local(tmp_path):
    from fusion.recipe import check_args

    factory = FACTORIES["depth_xshiftnet"]
    with pytest.raises(RecipeError, match="in_channel"):
        check_args("model.encoders.depth.args", factory, {"in_channel": 1})
    check_args("model.encoders.depth.args", factory, {"base_channels": 8, "normalize": "range"})
    with pytest.raises(FileNotFoundError, match="never downloads"):
        factory(**RGB_SMALL, pretrained=str(tmp_path / "absent.pth"))


def test_rgb_filters_summed_for_one_channel():
    weight = torch.randn(4, 3, 1, 3, 3)
    grey = torch.rand(1, 1, 1, 3, 3)
    one = adapt_input_filters(weight, 1)
    assert one.shape == (4, 1, 1, 3, 3)
    # a grey image (same value in R, G, B) gives the same response through the summed filter
    torch.testing.assert_close((one * grey).sum((1, 2, 3, 4)), (weight * grey.expand(1, 3, 1, 3, 3)).sum((1, 2, 3, 4)))


def test_rgb_checkpoint_loads_into_depth_encoder(tmp_path):
    from fusion_plugins.rgb.encoders.xshiftnet import xshiftnet_rgb

    rgb = xshiftnet_rgb(**RGB_SMALL)
    path = tmp_path / "rgb.pth"
    torch.save(rgb.state_dict(), path)
    depth = FACTORIES["depth_xshiftnet"](**RGB_SMALL, pretrained=str(path))
    torch.testing.assert_close(depth.backbone.conv1_s.conv.weight, rgb.conv1_s.conv.weight.sum(1, keepdim=True))
    torch.testing.assert_close(depth.backbone.conv5.conv.weight, rgb.conv5.conv.weight)
