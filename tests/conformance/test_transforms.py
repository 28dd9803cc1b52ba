"""Every registered transform: builds (from its defaults, or the arguments in :data:`ARGS`), keeps the
sample's keys, leaves its input untouched, and is deterministic for a seeded generator.

Samples are random arrays in each modality's raw layout (``fusion.types`` / docs/architecture.md).
"""

import numpy as np
import pytest

from fusion.construct import build, context
from fusion.registry import get_registry

REGISTRY = get_registry()
#: Transforms that need arguments (no usable default) or a sample of another shape.
ARGS = {
    "ssl.views": {"views": [[{"name": "ssl.gauss_noise", "args": {"p": 1.0}}], [{"name": "ssl.shear"}]]},
    "ssl.one_of": {"choices": [[{"name": "ssl.joint_zero"}], [{"name": "ssl.shear"}]]},
    **{f"{m}.{t}": {"size": 32} for m in ("video", "depth") for t in ("center_crop", "random_resized_crop", "resize")},
    "video.uniform_sample": {"num_frames": 8}, "depth.uniform_sample": {"num_frames": 8},
    "pointcloud.sample": {"num_points": 128},
}


def raw_sample(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    skeleton = rng.normal(0, 0.5, (2, 32, 25, 3)).astype(np.float32)
    skeleton[..., 2] += 3.0  # in front of the camera
    pose2d = np.concatenate([rng.uniform(0, 64, (2, 16, 17, 2)), rng.uniform(0, 1, (2, 16, 17, 1))], -1)
    return {
        "skeleton": skeleton,
        "pose2d": pose2d.astype(np.float32),
        "rgb": rng.integers(0, 255, (16, 64, 64, 3), dtype=np.uint8),
        "depth": rng.integers(500, 4000, (16, 64, 64), dtype=np.uint16),
        "pointcloud": rng.normal(0, 1, (16, 512, 3)).astype(np.float32),
        "label": 3,
        "meta": {"id": "s0", "layout": "ntu25", "frames": 32,
                 "intrinsics": {"fx": 60.0, "fy": 60.0, "cx": 32.0, "cy": 32.0, "width": 64, "height": 64}},
    }


def equal(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return a == b


@pytest.mark.parametrize("name", REGISTRY.names("transform"))
def test_transform_contract(name):
    transform = build("transform", {"name": name, "args": ARGS.get(name, {})}, context(REGISTRY, f"transform {name}"))
    sample = raw_sample()
    original = raw_sample()
    first = transform(dict(sample), np.random.default_rng(7))
    assert equal(sample, original), f"{name} modified its input sample in place"
    assert set(original) <= set(first), f"{name} dropped keys {sorted(set(original) - set(first))}"
    again = transform(dict(raw_sample()), np.random.default_rng(7))
    assert equal(first, again), f"{name} is not deterministic for a seeded generator"
