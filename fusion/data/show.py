"""Draw one sample's modalities side by side (``fusion data show``): joints over the image, other panels next to it.

Why: a wrong axis, a mirrored camera or joints that miss the person show at a glance in a picture
and nowhere in a loss curve. A ``.png`` shows one frame; a ``.gif`` animates the clip.

This module names no modality: each modality plugin declares in ``ModalitySpec.draw`` (a
:class:`fusion.types.Drawing`) how its clip is drawn, either as a panel (an image, a colour map, a 3D
scatter) or as 2D joints. Joints are drawn over the image panel when they are in its pixels (the
joint modality's ``joints`` hook decides, e.g. from ``meta["intrinsics"]``), else in a panel of their
own (``front``). Bones come from ``meta["bones"]`` or the layout named in ``meta["layout"]`` (the
joint modality's ``ModalitySpec.bones``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from fusion.errors import DataError
from fusion.types import Drawing, ModalitySpec

PANEL_INCHES = 3.0
JOINT_COLOURS = ("#ffdd00", "#00e5ff", "#ff4dd2", "#7CFC00")


def layout_bones(meta: dict, bones_of: Callable[[str], Sequence] | None = None) -> list[tuple[int, int]]:
    """Bone pairs of the sample: ``meta["bones"]``, else ``bones_of(meta["layout"])`` (a modality plugin's
    ``ModalitySpec.bones``), else [] (joints are drawn without bones)."""
    meta = meta or {}
    if meta.get("bones") is not None:
        return [(int(a), int(b)) for a, b in meta["bones"]]
    name = meta.get("layout")
    if not name or bones_of is None:
        return []
    try:
        return [(int(a), int(b)) for a, b in bones_of(name)]
    except Exception:  # a layout the plugin does not know: draw joints only
        return []


def drawable(registry) -> dict[str, ModalitySpec]:
    """The registry's modalities that declare a drawing, by rank."""
    specs = [s for s in registry.all_specs("modality") if s.draw is not None]
    return {s.name: s for s in sorted(specs, key=lambda s: s.draw.rank)}


def draw_joints(ax, xy: np.ndarray, bones: list[tuple[int, int]]) -> None:
    """Joints (M, V, 2) as dots and bones as lines, one colour per person."""
    for person, colour in zip(xy, JOINT_COLOURS):
        if np.isnan(person).all():
            continue
        for a, b in bones:
            ax.plot(person[[a, b], 0], person[[a, b], 1], "-", color=colour, linewidth=1.2)
        ax.plot(person[:, 0], person[:, 1], "o", color=colour, markersize=2.0, markeredgecolor="black", markeredgewidth=0.3)


class SampleFigure:
    """Panels for the drawable modalities a sample has; ``draw(t)`` renders frame ``t`` into the figure.

    ``modalities``: the registry's drawable modalities (:func:`drawable`).
    """

    def __init__(self, sample: dict, modalities: Mapping[str, ModalitySpec], title: str = ""):
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        self.sample, self.title = sample, title
        present = {name: spec for name, spec in modalities.items() if sample.get(name) is not None}
        if not present:
            raise DataError(f"the sample has none of the drawable modalities ({', '.join(modalities) or 'none registered'}); "
                            f"it has {sorted(sample)}")
        first = next(iter(present.values()))
        self.frames = int(np.shape(sample[first.name])[first.time_axis or 0])
        images = [n for n, s in present.items() if s.draw.panel is not None]
        overlay = next((n for n in images if present[n].draw.image_size is not None), None)
        size = present[overlay].draw.image_size(sample[overlay]) if overlay else None
        meta = sample.get("meta") or {}
        self.xy = self.front = None
        self.label, bones_of = "", None
        for name, spec in present.items():  # the lowest-ranked joint modality that can place its joints
            if spec.draw.joints is not None:
                self.xy = spec.draw.joints(sample[name], meta, size)
                if self.xy is not None:
                    self.label, bones_of = spec.draw.label or name, spec.bones
                    break
        self.front = self.xy
        if self.xy is None:  # joints in no image's pixels: a front view in their own panel
            for name, spec in present.items():
                front = spec.draw.front(sample[name]) if spec.draw.front is not None else None
                if front is not None:
                    self.front, self.label, bones_of = front, spec.draw.label or name, spec.bones
                    break
        self.bones = layout_bones(meta, bones_of)
        self.overlay = overlay if self.xy is not None else None
        self.panels = list(images)
        if self.front is not None and self.overlay is None:
            self.panels.insert(0, "")  # the joints' own panel
        if not self.panels:
            raise DataError(f"nothing to draw: the sample has none of {', '.join(modalities)} (keys: {sorted(sample)})")
        self.drawings: dict[str, Drawing] = {n: present[n].draw for n in images}
        self.scales = {n: d.scale(sample[n]) if d.scale is not None else None for n, d in self.drawings.items()}
        self.figure = plt.figure(figsize=(PANEL_INCHES * len(self.panels), PANEL_INCHES + 0.4), dpi=100)

    def draw(self, t: int) -> None:
        fig = self.figure
        fig.clear()
        for i, panel in enumerate(self.panels):
            projection = self.drawings[panel].projection if panel else None
            ax = fig.add_subplot(1, len(self.panels), i + 1, projection=projection)
            if not panel:
                title = self._draw_joints_panel(ax, t)
            else:
                title = self.drawings[panel].panel(ax, self.sample[panel], t, self.scales[panel])
                if panel == self.overlay:
                    if t < self.xy.shape[1]:
                        draw_joints(ax, self.xy[:, t], self.bones)
                    title = f"{title} + {self.label}"
            ax.set_title(title, fontsize=8)
        fig.suptitle(f"{self.title}  frame {t + 1}/{self.frames}".strip(), fontsize=9)
        fig.tight_layout()

    def _draw_joints_panel(self, ax, t: int) -> str:
        draw_joints(ax, self.front[:, t], self.bones)
        finite = self.front[np.isfinite(self.front).all(-1)]
        if len(finite):
            lo, hi = finite.min(0), finite.max(0)
            pad = 0.05 * max(hi - lo) + 1e-6
            ax.set_xlim(lo[0] - pad, hi[0] + pad)
            ax.set_ylim(hi[1] + pad, lo[1] - pad)  # image convention: v down
        ax.set_aspect("equal")
        return f"{self.label} (image plane)" if self.xy is not None else f"{self.label} (front view, x-y)"

    def image(self) -> np.ndarray:
        self.figure.canvas.draw()
        return np.asarray(self.figure.canvas.buffer_rgba())[..., :3].copy()


def sample_title(sample: dict, class_names: list[str] | None = None) -> str:
    meta = sample.get("meta") or {}
    label = sample.get("label")
    name = meta.get("class_name") or (class_names[label] if class_names and label is not None and 0 <= label < len(class_names) else None)
    parts = [str(meta.get("id", "")), f"label {label}" + (f" ({name})" if name else "") if label is not None else ""]
    return "  ".join(p for p in parts if p)


def save_sample(sample: dict, out: str | Path, registry, frame: int | None = None, title: str = "",
                fps: float = 8.0) -> Path:
    """Write ``out``: a ``.png`` of frame ``frame`` (default the middle one) or a ``.gif`` of every frame,
    each modality drawn as its plugin declares (``registry``: the recipe's)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise DataError(f"{out}: the output must end in .png (one frame) or .gif (the clip)")
    figure = SampleFigure(sample, drawable(registry), title)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if suffix == ".png":
            t = figure.frames // 2 if frame is None else frame
            if not 0 <= t < figure.frames:
                raise DataError(f"--frame {t} is outside the clip's {figure.frames} frames (0 to {figure.frames - 1})")
            figure.draw(t)
            figure.figure.savefig(out)
        else:
            from PIL import Image

            images = []
            for t in range(figure.frames):
                figure.draw(t)
                images.append(Image.fromarray(figure.image()))
            images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure.figure)
    return out
