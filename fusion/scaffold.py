"""``fusion plugin new NAME``: write a separate installable plugin distribution.

The scaffold has a pyproject with the ``fusion.plugins`` entry point, one encoder registered through
``fusion_add_encoders`` and one test, so a new plugin starts from something that installs and passes.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from fusion.errors import FusionError

PYPROJECT = '''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A Fusion plugin: {name}"
requires-python = ">=3.10"
dependencies = ["fusion-har"]

[project.entry-points."fusion.plugins"]
{name} = "{package}.plugin"

[tool.setuptools.packages.find]
include = ["{package}*"]
'''

PLUGIN = '''"""The {name} plugin: registers its components with Fusion through hooks."""

from fusion import EncoderSpec, hookimpl

from {package}.encoder import {cls}


@hookimpl
def fusion_add_encoders():
    return [
        EncoderSpec(
            name="{name}_encoder",
            factory={cls},
            modality="skeleton",
            provides=frozenset({{"pooled", "frames"}}),
            doc="A minimal skeleton encoder from the {name} plugin (edit me).",
        )
    ]
'''

ENCODER = '''"""A minimal encoder: a per-frame MLP over joints, averaged over time and persons."""

import torch
from torch import nn

from fusion import Features


class {cls}(nn.Module):
    """Input (B, C, T, V, M) skeletons; returns pooled (B, D) and frames (B, T, D) features."""

    def __init__(self, in_channels: int = 3, num_joints: int = 25, dim: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels * num_joints, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> Features:
        b, c, t, v, m = x.shape
        frames = self.mlp(x.permute(0, 4, 2, 1, 3).reshape(b, m, t, c * v)).mean(1)
        return Features(pooled=frames.mean(1), frames=frames)
'''

TEST = '''import torch

from {package}.encoder import {cls}
from {package}.plugin import fusion_add_encoders


def test_encoder_shapes():
    encoder = {cls}(in_channels=3, num_joints=25, dim=16)
    features = encoder(torch.randn(2, 3, 8, 25, 1))
    assert features.pooled.shape == (2, 16)
    assert features.frames.shape == (2, 8, 16)


def test_registers_encoder():
    (spec,) = fusion_add_encoders()
    assert spec.name == "{name}_encoder"
'''


def write_plugin(name: str, parent: Path) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise FusionError(f"plugin name {name!r} must be a lowercase Python identifier, e.g. 'my_plugin'")
    package = f"fusion_{name}"
    root = Path(parent) / f"fusion-{name.replace('_', '-')}"
    if root.exists():
        raise FusionError(f"{root} already exists; choose another --dir or name")
    cls = "".join(part.title() for part in name.split("_")) + "Encoder"
    fill = {"name": name, "package": package, "dist": f"fusion-{name.replace('_', '-')}", "cls": cls}
    files = {
        "pyproject.toml": PYPROJECT,
        f"{package}/__init__.py": f'"""Fusion plugin {name}."""\n',
        f"{package}/plugin.py": PLUGIN,
        f"{package}/encoder.py": ENCODER,
        "tests/test_plugin.py": TEST,
        "README.md": "# {dist}\n\nA Fusion plugin. Install with `pip install -e .`, then `fusion list encoders`.\n",
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fill))
    return root
