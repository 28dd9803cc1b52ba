"""Fast paths of the MAMP/STARS skeleton transformer (with MAMP's decoder) and of X-ShiftNet equal their references.

Same protocol as ``test_fast_paths.py``: one set of parameters moved off its initial values, both paths run
through ``fusion.fastpath.use_reference``; outputs and every parameter gradient must agree to 1e-10 in
float64 and 1e-5 in float32 (relative to the reference's scale), inference (BN folded) to 1e-5.
"""

from __future__ import annotations

import copy

import pytest
import torch
from fast_path_helpers import max_error, randomised
from torch import nn

from fusion.fast_linear import fast_linear, onednn_ready
from fusion.fastpath import fuse_for_inference, use_reference
from fusion_plugins.rgb.encoders.tsm import temporal_shift
from fusion_plugins.rgb.encoders.xshiftnet import POSE_SMALL, RGB_SMALL, shifted, xshiftnet_pose, xshiftnet_rgb
from fusion_plugins.skeleton.transformer import skeleton_transformer
from fusion_plugins.ssl.mamp import MAMP, masked_mse

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def compare_gradients(fast: nn.Module, ref: nn.Module, tolerance: float) -> None:
    fast_grads = {k: p.grad for k, p in fast.named_parameters() if p.grad is not None}
    ref_grads = {k: p.grad for k, p in ref.named_parameters() if p.grad is not None}
    assert fast_grads.keys() == ref_grads.keys() and len(ref_grads) > 10
    scale = max(g.abs().max() for g in ref_grads.values()).clamp_min(1.0)
    worst = max(((fast_grads[k] - ref_grads[k]).abs().max() / scale).item() for k in ref_grads)
    assert worst <= tolerance, worst


def pair(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    return use_reference(copy.deepcopy(model), False), use_reference(copy.deepcopy(model), True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("pool,drop_path", [("mean", 0.0), ("joints", 0.2)])
def test_transformer_fast_path_matches_reference(dtype, pool, drop_path):
    model = randomised(skeleton_transformer(config="small", pool=pool, drop_path=drop_path)).to(dtype).train()
    x = torch.randn(2, 3, 16, 25, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)
    nets, outputs = pair(model), []
    for net in nets:
        torch.manual_seed(3)  # DropPath draws: the same in both paths
        out = net(x).pooled
        (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)).sum().backward()
        outputs.append(out)
    assert max_error(outputs[0], outputs[1]) <= TOLERANCE[dtype]
    compare_gradients(*nets, TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mamp_pretraining_step_fast_path_matches_reference(dtype):
    """Encoder on the visible tokens, masked decoder and loss: the MAMP step both paths take."""
    torch.manual_seed(0)
    encoder = randomised(skeleton_transformer(config="small")).to(dtype)
    objective = randomised(MAMP(encoder_dim=32, frames=16, decoder_dim=32, decoder_depth=2, decoder_heads=4), 1).to(dtype)
    x = torch.randn(2, 3, 16, 25, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)
    losses, nets = [], []
    for reference in (False, True):
        enc, obj = use_reference(copy.deepcopy(encoder), reference), use_reference(copy.deepcopy(objective), reference)
        seq = enc.fold_persons(x)
        mask = obj.masking(enc.patchify(seq), torch.Generator().manual_seed(2))
        loss = masked_mse(obj.reconstruct(enc, seq, mask), obj.targets(enc, seq), mask.mask)
        loss.backward()
        losses.append(loss)
        nets.append(nn.ModuleList([enc, obj]))
    assert max_error(losses[0], losses[1]) <= TOLERANCE[dtype]
    compare_gradients(*nets, TOLERANCE[dtype])


def test_transformer_inference_matches_reference_eval():
    """Inference (bias, GELU and residual fused into oneDNN products) against the reference in eval mode."""
    model = randomised(skeleton_transformer(config="small", pool="joints")).eval()
    x = torch.randn(2, 3, 16, 25, 2, generator=torch.Generator().manual_seed(1))
    fused = use_reference(fuse_for_inference(model), False)
    with torch.inference_mode():
        expected = use_reference(model, True)(x)
        got = fused(x)
    assert max_error(got.pooled, expected.pooled) <= 1e-5
    assert max_error(got.joints, expected.joints) <= 1e-5


def test_fast_linear_fuses_on_cpu_float32_and_falls_back_otherwise():
    """The float32 tests above really run oneDNN, and every variant equals the plain ops (values and gradients)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 7, 16, generator=generator, requires_grad=True)
    w = torch.randn(24, 16, generator=generator, requires_grad=True)
    b = torch.randn(24, generator=generator, requires_grad=True)
    r = torch.randn(3, 7, 24, generator=generator, requires_grad=True)
    assert onednn_ready(x, w) == torch.backends.mkldnn.is_available()
    assert not onednn_ready(x.double(), w.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not onednn_ready(x, w) and fast_linear(x, w, b).dtype == torch.bfloat16  # autocast still applies
    for kwargs, plain in (({"residual": r}, lambda: r + nn.functional.linear(x, w, b)),
                          ({"gelu": True}, lambda: nn.functional.gelu(nn.functional.linear(x, w, b)))):
        weights = torch.randn(3, 7, 24, generator=generator)
        got = fast_linear(x, w, b, **kwargs)
        grads = torch.autograd.grad((got * weights).sum(), [x, w, b] + ([r] if "residual" in kwargs else []))
        expected = plain()
        ref_grads = torch.autograd.grad((expected * weights).sum(), [x, w, b] + ([r] if "residual" in kwargs else []))
        assert max_error(got, expected) <= 1e-5
        assert all(max_error(g, e) <= 1e-5 for g, e in zip(grads, ref_grads))
        with torch.inference_mode():
            assert max_error(fast_linear(x, w, b, **kwargs), expected.detach()) <= 1e-5


XSHIFTNETS = {
    "rgb": (lambda: xshiftnet_rgb(**RGB_SMALL), (2, 3, 4, 32, 32)),
    "pose": (lambda: xshiftnet_pose(**POSE_SMALL), (2, 17, 4, 16, 16)),
    "rgb_frame_difference": (lambda: xshiftnet_rgb(**RGB_SMALL, frame_difference=True, stem_stride=1), (1, 3, 3, 16, 16)),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(XSHIFTNETS))
def test_xshiftnet_fast_path_matches_reference(name, dtype):
    """Outputs, gradients and BN running statistics of a training step (depthwise and 1x1x1 convs as 2D / matmul)."""
    factory, shape = XSHIFTNETS[name]
    model = randomised(factory()).to(dtype).train()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    nets, outputs = pair(model), []
    for net in nets:
        out = net(x).pooled
        (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)).sum().backward()
        outputs.append(out)
    assert max_error(outputs[0], outputs[1]) <= TOLERANCE[dtype]
    compare_gradients(*nets, TOLERANCE[dtype])
    fast_buffers, ref_buffers = dict(nets[0].named_buffers()), dict(nets[1].named_buffers())
    assert all(max_error(fast_buffers[k].to(dtype), ref_buffers[k].to(dtype)) <= TOLERANCE[dtype] for k in ref_buffers)


@pytest.mark.parametrize("name", sorted(XSHIFTNETS))
def test_xshiftnet_folded_inference_matches_reference_eval(name):
    factory, shape = XSHIFTNETS[name]
    model = randomised(factory()).eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    fused = use_reference(fuse_for_inference(model), False)
    with torch.inference_mode():
        expected = use_reference(model, True)(x).volume
        assert max_error(fused(x).volume, expected) <= 1e-5


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_shift_by_concatenation_is_temporal_shift_bit_for_bit(frames):
    x = torch.randn(2, 16, frames, 3, 3, generator=torch.Generator().manual_seed(0))
    for div in (4, 8):
        assert torch.equal(shifted(x, div), temporal_shift(x, div))
