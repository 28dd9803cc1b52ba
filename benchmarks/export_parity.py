"""Export parity table: every listed model exported in every format, checked against PyTorch.

    python benchmarks/export_parity.py [--formats onnx exported-program torchscript] [--models stgcn ...]

Models are built from the shipped SynthAct recipes (tiny SynthAct: 6 subjects, 4 classes) with
all-zero parameters re-drawn, so parity compares real numbers. Each cell is the worst relative
difference (max abs / max |reference|) over real inputs, random inputs, a batch of 3 and, where the
model allows it, twice the frames (``--dynamic-frames``), as ``fusion export`` prints it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "export"))

MODELS = {
    "stgcn": ("recipes/synthact/quickstart.yaml", ()),
    "ctrgcn": ("recipes/synthact/skeleton_ctrgcn.yaml", ()),
    "skeleton_transformer": ("recipes/synthact/ssl/stars_tune.yaml", ()),
    "x3d": ("recipes/synthact/rgb.yaml", ()),
    "xshiftnet": ("recipes/synthact/rgb.yaml", ("model.encoders.rgb={name: xshiftnet_rgb, args: {base_channels: 8, "
                                                "stage_blocks: [1, 1, 1, 1], frame_difference: true}}",)),
    "late (skeleton + point cloud)": ("recipes/synthact/late.yaml", ()),
    "mmixer (skeleton + point cloud)": ("recipes/synthact/mmixer.yaml", ()),
}
SUFFIX = {"onnx": ".onnx", "exported-program": ".pt2", "torchscript": ".ts"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", nargs="+", default=list(SUFFIX), choices=list(SUFFIX))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    from test_export import built_model

    from fusion.errors import FusionError
    from fusion.export import export_model

    print(f"| model | {' | '.join(args.formats)} |")
    print(f"|---|{'---|' * len(args.formats)}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            recipe, overrides = MODELS[name]
            model, batch, axes = built_model(recipe, *overrides)
            cells = []
            for fmt in args.formats:
                start = time.perf_counter()
                result = None
                for dynamic in (True, False):  # frames dynamic where the model allows it
                    try:
                        result = export_model(model, batch, fmt, Path(tmp) / f"m{SUFFIX[fmt]}", time_axes=axes,
                                              dynamic_frames=dynamic)
                        break
                    except FusionError as error:
                        failure = str(error)
                if result is None:
                    cells.append(f"refused: {failure[:80]}")
                    continue
                worst = max(d["relative"] for d in result.parity.values())
                frames = "T dynamic" if "twice the frames" in result.parity else "T fixed"
                cells.append(f"{worst:.1e} ({frames}, {time.perf_counter() - start:.0f} s)")
            print(f"| {name} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
