"""X-ShiftNet (EPAM-Net): official structure, shapes, init, local weights."""

import pytest
import torch

from fusion_plugins.rgb.encoders.xshiftnet import (
    POSE_SMALL,
    RGB_SMALL,
    ShiftBlock,
    se_width,
    xshiftnet_pose,
    xshiftnet_rgb,
)


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def stage_shapes(model, x) -> list[tuple[int, ...]]:
    shapes = []
    names = ["conv1_s", *model.res_layers, "conv5"]
    hooks = [getattr(model, n).register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for n in names]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    return shapes


def test_se_rounding_rule():
    assert [se_width(c, 1 / 16) for c in (54, 108, 216, 432)] == [8, 8, 16, 32]  # 432: 24 < 0.9 * 27, +8


def test_rgb_full_structure_and_stage_shapes():
    model = xshiftnet_rgb()
    assert [len(getattr(model, n)) for n in model.res_layers] == [3, 5, 11, 7]
    assert model.out_dim == 432 and trainable(model) == 1_980_030
    # 224 / 32 = 7 in the paper; a 64 x 64 input keeps the test cheap: 64 / 32 = 2.
    assert stage_shapes(model, torch.rand(1, 3, 2, 64, 64)) == [
        (24, 2, 32, 32), (24, 2, 16, 16), (48, 2, 8, 8), (96, 2, 4, 4), (192, 2, 2, 2), (432, 2, 2, 2)
    ]
    block = model.layer4[0]
    assert block.conv2.conv.kernel_size == (1, 3, 3) and block.conv2.conv.groups == 432
    assert block.se_module.fc1.out_channels == 32 and model.layer4[1].se_module is None
    assert all(b.shift_div == 8 for b in model.modules() if isinstance(b, ShiftBlock))


def test_pose_full_structure_and_stage_shapes():
    model = xshiftnet_pose()
    assert [len(getattr(model, n)) for n in model.res_layers] == [5, 11, 7]
    assert model.out_dim == 216 and trainable(model) == 519_580
    assert stage_shapes(model, torch.rand(1, 17, 3, 16, 16)) == [
        (24, 3, 16, 16), (24, 3, 8, 8), (48, 3, 4, 4), (96, 3, 2, 2), (216, 3, 2, 2)
    ]
    assert all(b.shift_div == 4 for b in model.modules() if isinstance(b, ShiftBlock))


def test_small_configs_are_spatially_aligned():
    rgb, pose = xshiftnet_rgb(**RGB_SMALL), xshiftnet_pose(**POSE_SMALL)
    fr = rgb(torch.rand(2, 3, 8, 64, 64))
    fs = pose(torch.rand(2, 17, 24, 16, 16))
    assert fr.volume.shape == (2, rgb.out_dim, 8, 2, 2) and fs.volume.shape == (2, pose.out_dim, 24, 2, 2)
    assert fr.frames.shape == (2, 8, rgb.out_dim) and fr.pooled.shape == (2, rgb.out_dim)
    assert fr.provided() == {"volume", "frames", "pooled"}
    (fr.pooled.sum() + fs.pooled.sum()).backward()
    assert rgb.conv1_s.conv.weight.grad is not None and pose.conv1_s.conv.weight.grad is not None


def test_zero_init_residual_block_is_identity():
    model = xshiftnet_rgb(**{**RGB_SMALL, "stage_blocks": (2, 1, 1, 1)})
    block = model.layer1[1]  # no downsampling
    x = torch.rand(2, 8, 4, 8, 8)
    assert torch.allclose(block(x), x)


def test_pretrained_must_be_a_local_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        xshiftnet_rgb(**RGB_SMALL, pretrained="https://example.com/x.pth")
    with pytest.raises(FileNotFoundError, match="local checkpoint"):
        xshiftnet_rgb(**RGB_SMALL, pretrained=str(tmp_path / "missing.pth"))


def test_local_checkpoint_round_trip(tmp_path):
    source = xshiftnet_rgb(**RGB_SMALL)
    torch.nn.init.normal_(source.conv5.bn.weight)
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    loaded = xshiftnet_rgb(**RGB_SMALL, pretrained=str(path))
    x = torch.rand(1, 3, 2, 32, 32)
    assert torch.allclose(source.eval()(x).pooled, loaded.eval()(x).pooled)
