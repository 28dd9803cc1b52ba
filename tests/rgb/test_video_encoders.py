"""PyTorchVideo and timm-TSM encoders: small configs give the Features contract, full configs build."""

import pytest
import torch

from fusion.errors import RecipeError
from fusion_plugins.rgb.encoders import VIDEO_FACTORIES, r2plus1d, slowfast, timm_tsm, x3d
from fusion_plugins.rgb.encoders.tsm import TemporalShift

SMALL = {
    "x3d_xs": x3d.SMALL,
    "x3d_s": x3d.SMALL,
    "x3d_m": x3d.SMALL,
    "x3d_l": x3d.SMALL,
    "slowfast_r50": slowfast.SMALL,
    "r2plus1d_r50": r2plus1d.SMALL,
    "tsm": timm_tsm.SMALL,
}


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_config_features(name):
    model = VIDEO_FACTORIES[name](**SMALL[name])
    features = model(torch.rand(2, 3, 4, 32, 32))
    assert features.provided() == {"volume", "frames", "pooled"}
    batch, dim, frames = features.volume.shape[:3]
    assert (batch, dim) == (2, model.out_dim)
    assert features.frames.shape == (2, frames, model.out_dim) and features.pooled.shape == (2, model.out_dim)
    assert features.volume.shape[3:] == (1, 1)  # 32 / 32
    features.pooled.sum().backward()


@pytest.mark.parametrize(
    "factory, params, out_dim",
    [(x3d.x3d_s, 2_089_938, 432), (r2plus1d.r2plus1d_r50, 27_288_000, 2048), (slowfast.slowfast_r50, 33_644_488, 2304)],
)
def test_full_configs_build(factory, params, out_dim):
    model = factory()
    assert trainable(model) == params and model.out_dim == out_dim


def test_time_strides():
    clip = torch.rand(1, 3, 8, 32, 32)
    assert slowfast.slowfast_r50(**slowfast.SMALL)(clip).frames.shape[1] == 2  # slow pathway: T / alpha
    assert r2plus1d.r2plus1d_r50(**r2plus1d.SMALL)(clip).frames.shape[1] == 2  # stages 3-4 stride time
    assert x3d.x3d_xs(**x3d.SMALL)(clip).frames.shape[1] == 8


def test_tsm_shifts_every_residual_block_and_adds_no_parameters():
    import timm

    model = timm_tsm.tsm("resnet18")
    assert sum(isinstance(m, TemporalShift) for m in model.modules()) == 8
    plain = timm.create_model("resnet18", pretrained=False, num_classes=0, global_pool="")
    assert trainable(model) == trainable(plain)
    mobile = timm_tsm.tsm("mobilenetv3_small_100", shift_div=8)
    shifted = [m for m in mobile.modules() if isinstance(m, TemporalShift)]
    assert shifted and all(m.shift_div == 8 for m in shifted)


def test_tsm_mixes_frames():
    model = timm_tsm.tsm("resnet18").eval()
    for norm in model.modules():  # timm zero-initialises each block's last BN, which would hide the shift
        if isinstance(norm, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(norm.weight)
    clip = torch.rand(1, 3, 4, 32, 32)
    changed = clip.clone()
    changed[:, :, 0] = 0
    with torch.no_grad():
        a, b = model(clip).frames, model(changed).frames
    assert not torch.allclose(a[:, 1], b[:, 1])  # frame 1 sees frame 0 through the shift


def test_tsm_rejects_backbone_without_residual_blocks():
    with pytest.raises(RecipeError, match="backbone 'vit_tiny_patch16_224' has no residual block"):
        timm_tsm.tsm("vit_tiny_patch16_224")


@pytest.mark.parametrize("name", ["x3d_xs", "tsm", "r2plus1d_r50"])
def test_pretrained_must_be_local(name, tmp_path):
    with pytest.raises(RecipeError, match=r"pretrained='.*nope.pyth' is not a local checkpoint file; .*never downloads"):
        VIDEO_FACTORIES[name](**SMALL.get(name, {}), pretrained=str(tmp_path / "nope.pyth"))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        VIDEO_FACTORIES[name](**SMALL.get(name, {}), pretrained="https://dl.fbaipublicfiles.com/x.pyth")
