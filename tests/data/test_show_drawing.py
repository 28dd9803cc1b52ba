"""``fusion data show`` draws what modality plugins declare (``ModalitySpec.draw``) and names no modality.

A modality registered by a plugin the core has never seen (``thermal``: a panel; ``markers``: 2D joints) is
drawn without touching the core, and :mod:`fusion.data.show` contains no modality name.
"""

import ast
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusion.data import show
from fusion.errors import DataError
from fusion.registry import build_registry, get_registry

PLUGIN = textwrap.dedent('''
    import numpy as np
    import torch
    from fusion import ModalitySpec, hookimpl
    from fusion.types import Drawing

    CALLS = []

    def draw_thermal(ax, clip, t, scale):
        CALLS.append((t, scale))
        ax.imshow(np.stack([clip[t] / scale, 0 * clip[t], 0 * clip[t]], -1))  # red where it is warm
        ax.axis("off")
        return "thermal"

    def marker_joints(clip, meta, image_size):
        return np.asarray(clip, dtype=float)[..., :2] if image_size is not None else None

    def marker_front(clip):
        return np.asarray(clip, dtype=float)[..., :2]

    @hookimpl
    def fusion_add_modalities():
        tensor = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))
        return [
            ModalitySpec(name="thermal", factory=tensor, time_axis=0, raw_layout="(T, H, W) kelvin",
                         draw=Drawing(rank=5, panel=draw_thermal, scale=lambda clip: float(np.max(clip)),
                                      image_size=lambda clip: (clip.shape[2], clip.shape[1]))),
            ModalitySpec(name="markers", factory=tensor, time_axis=1, raw_layout="(M, T, V, 2) pixels",
                         bones=lambda layout: [(0, 1)], draw=Drawing(rank=45, joints=marker_joints,
                                                                   front=marker_front, label="markers")),
        ]
''')


@pytest.fixture
def registry(tmp_path, monkeypatch):
    (tmp_path / "thermal_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return build_registry(["thermal_plugin"])


def sample(t: int = 3) -> dict:
    thermal = np.zeros((t, 20, 30))
    thermal[:, 5:15, 5:25] = 300.0
    markers = np.tile(np.array([[4.0, 4.0], [25.0, 16.0]]), (1, t, 1, 1))  # (M, T, V, 2)
    return {"thermal": thermal, "markers": markers, "label": 0, "meta": {"id": "x", "layout": "two"}}


def test_a_plugin_modality_is_drawn_as_its_plugin_declares(registry, tmp_path):
    import thermal_plugin

    thermal_plugin.CALLS.clear()
    figure = show.SampleFigure(sample(), show.drawable(registry))
    assert figure.frames == 3 and figure.panels == ["thermal"] and figure.overlay == "thermal"
    assert figure.label == "markers" and figure.bones == [(0, 1)]  # the joint modality's bones
    figure.draw(1)
    (ax,) = figure.figure.axes
    assert ax.get_title() == "thermal + markers" and len(ax.lines) == 2  # one bone + the joints
    assert thermal_plugin.CALLS == [(1, 300.0)]
    out = show.save_sample(sample(), tmp_path / "t.png", registry, frame=2)
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] < 50) & (pixels[..., 2] < 50)).any()  # the warm red area
    assert thermal_plugin.CALLS[-1] == (2, 300.0)


def test_joints_without_an_image_get_their_own_panel(registry):
    only = {k: v for k, v in sample().items() if k != "thermal"}
    figure = show.SampleFigure(only, show.drawable(registry))
    assert figure.panels == [""] and figure.overlay is None
    figure.draw(0)
    assert figure.figure.axes[0].get_title() == "markers (front view, x-y)"


def test_a_sample_with_nothing_drawable_names_the_drawable_modalities(registry):
    with pytest.raises(DataError, match=r"none of the drawable modalities \(thermal, .*markers.*\); it has \['label'"):
        show.SampleFigure({"label": 0, "meta": {}}, show.drawable(registry))


def test_show_names_no_modality():
    """No string constant, and no identifier word (split on ``_``), of show.py is a registered modality name."""
    modalities = set(get_registry().names("modality"))
    source = Path(show.__file__).read_text()
    tree = ast.parse(source)
    offenders = []
    for node in ast.walk(tree):
        words = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = node.value.replace("(", " ").replace(")", " ").replace(",", " ").split()
        elif isinstance(node, ast.Name):
            words = node.id.split("_")
        elif isinstance(node, ast.Attribute):
            words = node.attr.split("_")
        elif isinstance(node, (ast.FunctionDef, ast.arg)):
            words = (node.name if isinstance(node, ast.FunctionDef) else node.arg).split("_")
        offenders += [f"line {node.lineno}: {w}" for w in words if w.strip("`\"'.:;") in modalities]
    assert modalities >= {"skeleton", "rgb"} and not offenders, offenders
