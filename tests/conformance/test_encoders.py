"""Every registered encoder, timm style: builds from its defaults, runs forward on its modality's input,
fills exactly the Features fields its spec declares with ``out_dim`` features, puts in ``aux`` exactly the
fields its spec declares (``EncoderSpec.aux``; built with :data:`AUX_ARGS` where a field is filled only under an
argument), and trains (backward).

New encoders are covered by registering them; one whose default configuration needs another input than
its modality's below declares it in :data:`INPUTS`. Encoders that take seconds on a CPU at their default
size run with ``pytest -m slow``.
"""

import pytest
import torch

from fusion.construct import build, context
from fusion.registry import get_registry
from fusion.types import Features, aux_names

REGISTRY = get_registry()
#: Per-sample input in the batch layout of each modality (small: 16 frames, 64 x 64 images, 512 points).
MODALITY_INPUT = {"skeleton": (3, 16, 25, 2), "pose2d": (3, 16, 17, 1), "rgb": (3, 8, 64, 64),
                  "depth": (1, 8, 64, 64), "pointcloud": (2, 512, 3), "": (3, 16, 25, 2)}
#: Encoders whose default configuration reads another input than their modality's default above.
INPUTS = {
    "finetec": (3, 32, 17, 1),            # the completion MLPs are sized for 32 COCO frames
    "psumnet": (12, 16, 25, 2),           # joint, bone, motion streams stacked (4 x 3 channels)
    "pointnet2_two_stack": (2, 512, 6),  # xyz + normals (C3P)
    "unipose_pointcloud": (2, 512, 6),   # xyz + normals (C3P)
    "xshiftnet_pose": (17, 8, 56, 56),    # joint heatmaps, one channel per COCO joint
}
#: Arguments under which an encoder fills the aux fields its spec declares with a ``when`` condition.
AUX_ARGS = {"stgcn_multiskeleton": {"ensemble": True}}
#: Default-size encoders that take several seconds each on a CPU.
SLOW = {"bigru", "depth_r2plus1d_r50", "depth_tsm", "depth_slowfast_r50", "depth_x3d_l", "r2plus1d_r50", "tsm",
        "slowfast_r50", "x3d_l", "pointnet2_two_stack", "unipose_pointcloud", "x3d_m", "x3d_s", "depth_x3d_m", "depth_x3d_s", "unipose_a2j_depth", "unipose_a2j_rgb", "pose_heatmap_net", "cascadeformer"}
ENCODERS = [pytest.param(s.name, marks=pytest.mark.slow) if s.name in SLOW else s.name
            for s in REGISTRY.all_specs("encoder")]


def example_input(spec, batch: int = 2) -> torch.Tensor:
    shape = INPUTS.get(spec.name, MODALITY_INPUT[spec.modality])
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
    if spec.modality == "pose2d" and spec.name in INPUTS:
        return x.abs()
    if spec.modality == "pose2d":  # pixel x, y and a score in [0, 1]
        x[:, :2] = x[:, :2].abs() * 50
        x[:, 2] = x[:, 2].sigmoid()
    return x


@pytest.mark.parametrize("name", ENCODERS)
def test_encoder_contract(name):
    spec = REGISTRY.get("encoder", name)
    torch.manual_seed(0)
    encoder = build("encoder", {"name": name, "args": AUX_ARGS.get(name, {})}, context(REGISTRY, f"encoder {name}"))
    out_dim = int(encoder.out_dim)
    features = encoder(example_input(spec))
    assert isinstance(features, Features), f"{name} returned {type(features).__name__}, not Features"
    assert features.provided() == set(spec.provides), f"{name}: declares {sorted(spec.provides)}, fills {sorted(features.provided())}"
    declared = aux_names(spec.aux)
    assert set(features.aux) == declared, (f"{name}: declares aux {sorted(declared)}, fills {sorted(features.aux)} (a "
                                           "field filled only under an argument: add that argument to AUX_ARGS)")
    if features.pooled is not None:
        assert features.pooled.shape == (2, out_dim)
    if features.frames is not None:
        assert features.frames.shape[0] == 2 and features.frames.shape[-1] == out_dim
    if features.volume is not None:
        assert features.volume.shape[:2] == (2, out_dim)
    for field in features.provided():
        assert torch.isfinite(getattr(features, field)).all(), f"{name}: {field} is not finite"
    params = [p for p in encoder.parameters() if p.requires_grad]
    if params:
        sum(getattr(features, f).float().mean() for f in features.provided()).backward()
        grads = [p.grad for p in params if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), f"{name}: no finite gradient reaches its weights"
