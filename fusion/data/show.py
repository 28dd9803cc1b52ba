"""Draw one sample's modalities side by side: skeleton over RGB, depth colour map, point cloud.

Why: a wrong axis, a mirrored camera or joints that miss the person show at a glance in a picture
and nowhere in a loss curve. A ``.png`` shows one frame; a ``.gif`` animates the clip.

Skeleton over RGB uses ``pose2d`` when the sample has it, else 2D skeletons as they are, else 3D
joints projected with ``meta["intrinsics"]`` when those describe the RGB frame (their width and
height match it), in the Kinect convention the built-in data uses (``u = cx + fx x / z``,
``v = cy - fy y / z``; ``y_up: false`` flips v). Otherwise the skeleton gets its own front-view
panel. Bones come from ``meta["bones"]`` or the layout named in ``meta["layout"]`` (the modality plugin's ``bones``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fusion.errors import DataError

DRAWN = ("rgb", "skeleton", "pose2d", "depth", "pointcloud")
PANEL_INCHES = 3.0


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


def bones_from(registry, sample: dict) -> Callable[[str], Sequence] | None:
    """The ``bones`` function of the first modality in ``sample`` whose spec has one (skeleton, pose2d)."""
    for spec in registry.all_specs("modality"):
        if spec.bones is not None and sample.get(spec.name) is not None:
            return spec.bones
    return None


def keypoints_2d(sample: dict) -> np.ndarray | None:
    """(M, T, V, 2) image coordinates of the joints (NaN where a joint is missing), or None."""
    meta = sample.get("meta") or {}
    if sample.get("pose2d") is not None:
        pose = np.asarray(sample["pose2d"], dtype=np.float64)
        xy = pose[..., :2].copy()
        if pose.shape[-1] > 2:
            xy[pose[..., 2] <= 0] = np.nan
        return xy
    skeleton = sample.get("skeleton")
    if skeleton is None:
        return None
    skeleton = np.asarray(skeleton, dtype=np.float64)
    if skeleton.shape[-1] == 2:
        return skeleton
    k = meta.get("intrinsics")
    rgb = sample.get("rgb")
    if not k or not all(key in k for key in ("fx", "fy", "cx", "cy")):
        return None
    if rgb is not None and (k.get("width"), k.get("height")) != (np.shape(rgb)[2], np.shape(rgb)[1]):
        return None  # intrinsics of another sensor (NTU: depth camera, no RGB calibration)
    z = skeleton[..., 2]
    valid = z > 1e-6
    zs = np.where(valid, z, 1.0)
    sign = -1.0 if k.get("y_up", True) else 1.0
    xy = np.stack([k["cx"] + k["fx"] * skeleton[..., 0] / zs, k["cy"] + sign * k["fy"] * skeleton[..., 1] / zs], -1)
    xy[~valid] = np.nan
    return xy


def _frames(sample: dict) -> int:
    for key, axis in (("rgb", 0), ("depth", 0), ("pointcloud", 0), ("skeleton", 1), ("pose2d", 1)):
        if sample.get(key) is not None:
            return int(np.shape(sample[key])[axis])
    raise DataError(f"the sample has none of the drawable modalities ({', '.join(DRAWN)}); it has {sorted(sample)}")


def _draw_joints(ax, xy: np.ndarray, bones: list[tuple[int, int]]) -> None:
    """Joints (M, V, 2) as dots and bones as lines, one colour per person."""
    for person, colour in zip(xy, ("#ffdd00", "#00e5ff", "#ff4dd2", "#7CFC00")):
        if np.isnan(person).all():
            continue
        for a, b in bones:
            ax.plot(person[[a, b], 0], person[[a, b], 1], "-", color=colour, linewidth=1.2)
        ax.plot(person[:, 0], person[:, 1], "o", color=colour, markersize=2.0, markeredgecolor="black", markeredgewidth=0.3)


class SampleFigure:
    """Panels for the modalities a sample has; ``draw(t)`` renders frame ``t`` into the figure."""

    def __init__(self, sample: dict, title: str = "", bones_of: Callable[[str], Sequence] | None = None):
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        self.sample = sample
        self.frames = _frames(sample)
        self.xy = keypoints_2d(sample)
        self.bones = layout_bones(sample.get("meta") or {}, bones_of)
        self.panels = [p for p in ("rgb", "depth", "pointcloud") if sample.get(p) is not None]
        self.front = self.xy
        if self.xy is None and sample.get("skeleton") is not None:
            # 3D joints with no intrinsics to project them: a front view, drawn in its own panel
            joints = np.asarray(sample["skeleton"], dtype=np.float64)
            self.front = np.where((joints == 0).all(-1, keepdims=True), np.nan, joints[..., :2] * [1.0, -1.0])
        if self.front is not None and (self.xy is None or "rgb" not in self.panels):
            self.panels.insert(0, "skeleton")
        if not self.panels:
            raise DataError(f"nothing to draw: the sample has none of {', '.join(DRAWN)} (keys: {sorted(sample)})")
        self.figure = plt.figure(figsize=(PANEL_INCHES * len(self.panels), PANEL_INCHES + 0.4), dpi=100)
        self.title = title
        depth = sample.get("depth")
        if depth is not None:
            nonzero = np.asarray(depth)[np.asarray(depth) > 0]
            self.depth_range = (np.percentile(nonzero, [1, 99]) if nonzero.size else np.array([0.0, 1.0])).tolist()
        cloud = sample.get("pointcloud")
        if cloud is not None:
            xyz = np.asarray(cloud)[..., :3].reshape(-1, 3)
            xyz = xyz[np.abs(xyz).sum(1) > 0]
            self.cloud_range = (xyz.min(0), xyz.max(0)) if len(xyz) else (np.zeros(3) - 1, np.ones(3))

    def draw(self, t: int) -> None:
        fig = self.figure
        fig.clear()
        for i, panel in enumerate(self.panels):
            projection = "3d" if panel == "pointcloud" else None
            ax = fig.add_subplot(1, len(self.panels), i + 1, projection=projection)
            getattr(self, f"_draw_{panel}")(ax, t)
        fig.suptitle(f"{self.title}  frame {t + 1}/{self.frames}".strip(), fontsize=9)
        fig.tight_layout()

    def _draw_rgb(self, ax, t: int) -> None:
        rgb = np.asarray(self.sample["rgb"][t])
        ax.imshow(rgb)
        if self.xy is not None and t < self.xy.shape[1]:
            _draw_joints(ax, self.xy[:, t], self.bones)
        ax.set_xlim(0, rgb.shape[1])
        ax.set_ylim(rgb.shape[0], 0)
        ax.set_title("rgb + skeleton" if self.xy is not None else "rgb", fontsize=8)
        ax.axis("off")

    def _draw_skeleton(self, ax, t: int) -> None:
        _draw_joints(ax, self.front[:, t], self.bones)
        finite = self.front[np.isfinite(self.front).all(-1)]
        if len(finite):
            lo, hi = finite.min(0), finite.max(0)
            pad = 0.05 * max(hi - lo) + 1e-6
            ax.set_xlim(lo[0] - pad, hi[0] + pad)
            ax.set_ylim(hi[1] + pad, lo[1] - pad)  # image convention: v down
        ax.set_aspect("equal")
        ax.set_title("skeleton (image plane)" if self.xy is not None else "skeleton (front view, x-y)", fontsize=8)

    def _draw_depth(self, ax, t: int) -> None:
        import matplotlib.pyplot as plt

        depth = np.asarray(self.sample["depth"][t]).astype(np.float64)
        cmap = plt.get_cmap("turbo").with_extremes(bad="black")
        image = ax.imshow(np.ma.masked_equal(depth, 0), cmap=cmap, vmin=self.depth_range[0], vmax=self.depth_range[1])
        self.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
        ax.set_title("depth (mm; black = no reading)", fontsize=8)
        ax.axis("off")

    def _draw_pointcloud(self, ax, t: int) -> None:
        xyz = np.asarray(self.sample["pointcloud"][t])[..., :3]
        xyz = xyz[np.abs(xyz).sum(1) > 0]
        lo, hi = self.cloud_range
        # camera frame: x, y image plane, z depth; show depth going into the page
        ax.scatter(xyz[:, 0], xyz[:, 2], xyz[:, 1], c=xyz[:, 2], cmap="viridis", s=2, depthshade=False)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[2], hi[2])
        ax.set_zlim(lo[1], hi[1])
        ax.view_init(elev=10, azim=-80)
        ax.set_xlabel("x", fontsize=6)
        ax.set_ylabel("z", fontsize=6)
        ax.set_zlabel("y", fontsize=6)
        ax.tick_params(labelsize=5)
        ax.set_title(f"point cloud ({len(xyz)} points)", fontsize=8)

    def image(self) -> np.ndarray:
        self.figure.canvas.draw()
        return np.asarray(self.figure.canvas.buffer_rgba())[..., :3].copy()


def sample_title(sample: dict, class_names: list[str] | None = None) -> str:
    meta = sample.get("meta") or {}
    label = sample.get("label")
    name = meta.get("class_name") or (class_names[label] if class_names and label is not None and 0 <= label < len(class_names) else None)
    parts = [str(meta.get("id", "")), f"label {label}" + (f" ({name})" if name else "") if label is not None else ""]
    return "  ".join(p for p in parts if p)


def save_sample(sample: dict, out: str | Path, frame: int | None = None, title: str = "", fps: float = 8.0,
                bones_of: Callable[[str], Sequence] | None = None) -> Path:
    """Write ``out``: a ``.png`` of frame ``frame`` (default the middle one) or a ``.gif`` of every frame;
    ``bones_of`` names a layout's bones (:func:`bones_from` the recipe's registry)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise DataError(f"{out}: the output must end in .png (one frame) or .gif (the clip)")
    figure = SampleFigure(sample, title, bones_of)
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
