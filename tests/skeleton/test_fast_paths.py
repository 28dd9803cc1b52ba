"""Fast paths equal the reference implementations (outputs, gradients, BN statistics) and BN folding is exact.

The reference is today's implementation, kept reachable through ``fusion.fastpath.use_reference``; both
paths share one set of parameters, so a fast path can only change speed, never the model.
"""

from __future__ import annotations

import copy

import pytest
import torch
from fast_path_helpers import max_error, randomised
from torch import nn

from fusion.fastpath import batch_norm_group, fuse_for_inference, use_reference
from fusion_plugins.rgb.encoders.xshiftnet import RGB_SMALL, xshiftnet_rgb
from fusion_plugins.skeleton.ctrgcn import ctrgcn
from fusion_plugins.skeleton.stgcn import stgcn
from fusion_plugins.skeleton.stgcnpp import stgcnpp
from fusion_plugins.skeleton.transformer import skeleton_transformer
from fusion_plugins.skeleton_methods.hypergcn import hypergcn
from fusion_plugins.skeleton_methods.psumnet import psumnet

SKELETON_MODELS = {
    "ctrgcn": lambda: ctrgcn(config="small"),
    "stgcn": lambda: stgcn(config="small", channels=(16, 32, 32), strides=(1, 2, 1)),
    "stgcnpp": lambda: stgcnpp(config="small"),
    # 17 joints + 3 virtual: torch.cdist computes exact differences up to 25 vertices. With more (ntu25:
    # 28) it switches to the ||a||² + ||b||² - 2ab formula, whose rounding on the zero self-distances makes
    # the reference itself move by ~3e-10 in float64 when its input moves by one ulp; see
    # test_hypergcn_ntu25_fast_path_within_reference_rounding for the paper layout
    "hypergcn": lambda: hypergcn(config="small", layout="coco17"),
    "psumnet": lambda: psumnet(part="hand", base_channels=16),
}
IN_CHANNELS = {"psumnet": 12}
JOINTS = {"psumnet": 13, "hypergcn": 17}


def skeleton_input(name: str, dtype: torch.dtype) -> torch.Tensor:
    joints = JOINTS.get(name, 25)
    return torch.randn(2, IN_CHANNELS.get(name, 3), 16, joints, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)


def run(model: nn.Module, x: torch.Tensor, reference: bool) -> tuple[torch.Tensor, dict, dict]:
    """Output, parameter gradients and buffers after one training step's forward/backward."""
    model = use_reference(copy.deepcopy(model), reference)
    out = model(x).pooled
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    return out, grads, dict(model.named_buffers())


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("name", sorted(SKELETON_MODELS))
def test_fast_path_matches_reference(name, dtype, tolerance):
    torch.manual_seed(0)
    model = randomised(SKELETON_MODELS[name]()).to(dtype).train()
    x = skeleton_input(name, dtype)
    fast_out, fast_grads, fast_buffers = run(model, x, reference=False)
    ref_out, ref_grads, ref_buffers = run(model, x, reference=True)
    assert max_error(fast_out, ref_out) <= tolerance
    assert fast_grads.keys() == ref_grads.keys() and len(ref_grads) > 10
    # gradients relative to the largest one: Hyper-GCN's cdist turns rounding into ~1e-11 noise on
    # gradients that are zero in exact arithmetic (its feature bias), in both paths alike
    scale = max(g.abs().max() for g in ref_grads.values()).clamp_min(1.0)
    worst = max(((fast_grads[k] - ref_grads[k]).abs().max() / scale).item() for k in ref_grads)
    assert worst <= tolerance, worst
    assert fast_buffers.keys() == ref_buffers.keys()
    assert all(max_error(fast_buffers[k].to(dtype), ref_buffers[k].to(dtype)) <= tolerance for k in ref_buffers)


def test_hypergcn_ntu25_fast_path_within_reference_rounding():
    """Hyper-GCN on its paper layout (25 joints + 3 virtual = 28 vertices, where torch.cdist uses the
    mm formula): the reference itself moves by ~3e-10 (float64) / ~2e-5 (float32) in its gradients when
    its input moves by one ulp (the zero self-distances' rounding goes through a square root). The fast
    path must stay within that: outputs 1e-5 in float32, outputs and gradients 1e-8 in float64."""
    torch.manual_seed(0)
    model = randomised(hypergcn(config="small")).train()
    x = skeleton_input("hypergcn_ntu25", torch.float32)
    fast_out, _, _ = run(model, x, reference=False)
    ref_out, _, _ = run(model, x, reference=True)
    assert max_error(fast_out, ref_out) <= 1e-5
    model, x = model.double(), x.double()
    fast_out, fast_grads, _ = run(model, x, reference=False)
    ref_out, ref_grads, _ = run(model, x, reference=True)
    assert max_error(fast_out, ref_out) <= 1e-8
    scale = max(g.abs().max() for g in ref_grads.values()).clamp_min(1.0)
    assert max(((fast_grads[k] - ref_grads[k]).abs().max() / scale).item() for k in ref_grads) <= 1e-8


@pytest.mark.parametrize("cin,cout", [(3, 16), (8, 8), (16, 8)])
def test_graph_conv_channels_last_equals_reference(cin, cout):
    """The channels-last graph conv (A first when widening, else conv first) equals the reference's conv →
    einsum in float64, with gradients for x, A and the conv; its output stays channels-last."""
    from fusion_plugins.skeleton.blocks import GraphConv

    gcn = randomised(GraphConv(cin, cout, 3)).double()
    generator = torch.Generator().manual_seed(3)
    adjacency = torch.rand(3, 25, 25, generator=generator, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, cin, 6, 25, generator=generator, dtype=torch.float64)
    results = []
    for channels_last in (True, False):
        gcn.zero_grad(set_to_none=True)
        adjacency.grad = None
        xi = (x.contiguous(memory_format=torch.channels_last) if channels_last else x).requires_grad_()
        y = gcn(xi, adjacency) if channels_last else gcn.forward_reference(xi, adjacency)
        assert y.is_contiguous(memory_format=torch.channels_last) == channels_last
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        results.append([y, xi.grad, adjacency.grad, gcn.conv.weight.grad, gcn.conv.bias.grad])
    for fast, ref in zip(*results):
        assert max_error(fast, ref) <= 1e-10


@pytest.mark.parametrize("cin,cout", [(3, 16), (16, 16), (16, 8)])
def test_ctrgc_unit_both_layouts_equal_reference(cin, cout):
    """CTR-GCN's graph unit: the standard-layout fast path (export, compile) and the channels-last one (eager
    CPU: conv3 as a batched matmul, output channels-last) equal the reference in float64, gradients included."""
    from fusion_plugins.skeleton.ctrgcn import CTRGCUnit
    from fusion_plugins.skeleton.layouts import get_layout

    adjacency = torch.from_numpy(get_layout("ntu25").partition("spatial")).double()
    unit = randomised(CTRGCUnit(cin, cout, adjacency)).double()
    x = torch.randn(2, cin, 6, 25, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    results = []
    for layout in ("reference", "standard", "channels_last"):
        unit.zero_grad(set_to_none=True)
        xi = (x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x.clone()).requires_grad_()
        y = unit.forward_reference(xi) if layout == "reference" else unit(xi)
        if layout != "reference":
            assert y.is_contiguous(memory_format=torch.channels_last) == (layout == "channels_last" and cin > 1)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        results.append([y, xi.grad] + [p.grad for p in unit.parameters()])
    for other in results[1:]:
        for fast, ref in zip(other, results[0]):
            assert max_error(fast, ref) <= 1e-10


def test_reference_switch_changes_the_code_path():
    """The fast path really is another computation (differences at float rounding level, not zero)."""
    model = randomised(ctrgcn(config="small")).double()
    x = skeleton_input("ctrgcn", torch.float64)
    _, fast, _ = run(model, x, reference=False)
    _, ref, _ = run(model, x, reference=True)
    assert any((fast[k] - ref[k]).abs().max() > 0 for k in ref)


FUSABLE = {
    **SKELETON_MODELS,
    "stgcn_paper_dropout": lambda: stgcn(config="small", dropout=0.5),
    "skeleton_transformer": lambda: skeleton_transformer(config="small"),
}


@pytest.mark.parametrize("name", sorted(FUSABLE))
def test_fuse_for_inference_equals_eval(name):
    model = randomised(FUSABLE[name]()).eval()
    x = skeleton_input(name.split("_")[0], torch.float32)
    fused = fuse_for_inference(model)
    with torch.no_grad():
        expected, got = model(x).pooled, fused(x).pooled
    assert max_error(got, expected) <= 1e-5
    folded = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) - sum(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    assert folded > 0 or name == "skeleton_transformer"
    assert all(not p.requires_grad for p in fused.parameters())
    assert model.state_dict().keys() != fused.state_dict().keys() or folded == 0  # the original is untouched


def test_fuse_for_inference_xshiftnet():
    model = randomised(xshiftnet_rgb(**RGB_SMALL)).eval()
    x = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    fused = fuse_for_inference(model)
    with torch.no_grad():
        assert max_error(fused(x).pooled, model(x).pooled) <= 1e-5
    assert not any(isinstance(m, nn.BatchNorm3d) for m in fused.modules())


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_group_equals_separate_norms(momentum):
    norms = [nn.BatchNorm2d(c, momentum=momentum) for c in (3, 5)]
    for bn in norms:
        randomised(bn)
    twins = copy.deepcopy(norms)
    x = torch.randn(4, 8, 6, 5)
    for _ in range(2):
        grouped = batch_norm_group(x, norms)
        separate = torch.cat([twins[0](x[:, :3]), twins[1](x[:, 3:])], dim=1)
        assert torch.allclose(grouped, separate, atol=1e-6)
    for bn, twin in zip(norms, twins):
        assert torch.allclose(bn.running_mean, twin.running_mean) and torch.allclose(bn.running_var, twin.running_var)
        assert bn.num_batches_tracked == twin.num_batches_tracked == 2


@pytest.mark.slow
def test_compile_encoders_keeps_checkpoint_keys():
    """``train.compile`` compiles in place: the state_dict (checkpoint) keys stay the model's (slow: importing
    torch's compiler takes ~30 s on a small shared machine)."""
    from fusion.fastpath import compile_encoders

    model = nn.Module()
    model.encoders = nn.ModuleDict({"skeleton": ctrgcn(config="small")})
    keys = list(model.state_dict())
    assert compile_encoders(model, report=lambda line: None) == ["skeleton"]
    assert list(model.state_dict()) == keys


@pytest.mark.slow
def test_compiled_encoder_equals_eager_and_reports_compile_time():
    """Compiles a tiny CTR-GCN on CPU (minutes on a small shared machine, hence slow)."""
    from fusion.fastpath import compile_encoders

    model = nn.Module()
    model.encoders = nn.ModuleDict({"skeleton": ctrgcn(config="small", channels=(8, 8), strides=(1, 2))})
    x = skeleton_input("ctrgcn", torch.float32)
    expected = model.encoders["skeleton"](x).pooled
    lines: list[str] = []
    compile_encoders(model, report=lines.append)
    got = model.encoders["skeleton"](x).pooled
    assert max_error(got, expected) <= 1e-5
    assert len(lines) == 1 and lines[0].startswith("train.compile: skeleton compiled")
