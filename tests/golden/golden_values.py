"""Golden values of the paper recipes: parameter counts, an initialisation checksum and a fixed-seed forward.

Generated from the code as it was before the construction redesign (issue 19) by
``python tests/golden/golden_values.py`` (writes ``recipes.json`` next to this file); the test asserts the
current code reproduces them, so refactoring the wiring cannot silently change a model. Inputs are
random tensors of a shape found by trying a few candidates per modality (the shape used is stored),
in float64 where the model supports it.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
GOLDEN = Path(__file__).with_name("recipes.json")
#: Recipes whose model is changed on purpose after the golden values were taken (HaLP's encoder, issue 17).
EXCLUDED = ("halp_",)
#: Above this many parameters the forward runs in float32 (float64 activations of a 180M model do not fit).
FLOAT64_MAX_PARAMS = 30_000_000

CANDIDATES = {
    "skeleton": [(c, t, v, m) for c in (3, 2, 6) for t in (64, 120, 100, 32, 48, 20) for v in (25, 17, 20, 18, 22)
                 for m in (2, 1)],
    "pose2d": [(c, t, v, m) for c in (3, 2) for t in (64, 48, 32) for v in (17, 25) for m in (2, 1)],
    "rgb": [(3, t, s, s) for t in (8, 16, 32, 4) for s in (112, 64, 128, 224, 160)],
    "depth": [(1, t, s, s) for t in (8, 16, 32, 4) for s in (112, 64, 128, 224)],
    "pointcloud": [(t, n, c) for t in (4, 8, 16, 24) for n in (512, 256, 1024, 2048) for c in (3, 4, 6)],
}


def paper_recipes() -> list[Path]:
    return sorted(
        p for p in RECIPES.rglob("*.yaml")
        if not p.name.startswith("_") and p.parts[-2] not in ("_base", "bench")
        and p.relative_to(RECIPES).parts[0] not in ("synthact",)
    )


def build(path: Path):
    from fusion.recipe import load_recipe, validate
    from fusion.train.build import build_train_module, registry_for

    recipe = load_recipe(path)
    registry = registry_for(recipe)
    validate(recipe, registry)
    recipe["model"]["init"] = None  # no earlier run's checkpoint on this machine
    torch.manual_seed(0)
    return build_train_module(recipe, registry, int(recipe["model"].get("num_classes") or 12))


def checksum(module: torch.nn.Module) -> list[float]:
    with torch.no_grad():
        params = [p.detach().double() for p in module.parameters()]
        return [float(sum(p.sum() for p in params)), float(sum(p.abs().sum() for p in params))]


def counts(module: torch.nn.Module) -> list[int]:
    return [sum(p.numel() for p in module.parameters() if p.requires_grad), sum(p.numel() for p in module.parameters())]


def make_batch(shapes: dict[str, tuple], dtype: torch.dtype, batch: int = 2) -> dict:
    gen = torch.Generator().manual_seed(0)
    out = {m: torch.randn((batch, *s), generator=gen, dtype=torch.float64).to(dtype) for m, s in shapes.items()}
    out["mask"] = {m: torch.ones(batch, dtype=torch.bool) for m in shapes}
    out["label"] = torch.zeros(batch, dtype=torch.long)
    out["index"] = torch.arange(batch)
    out["meta"] = [{} for _ in range(batch)]
    return out


def forward(model: torch.nn.Module, shapes: dict[str, tuple], dtype: torch.dtype) -> list[float]:
    model = model.to(dtype).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        out = model(make_batch(shapes, dtype))
    y = out.logits if out.logits is not None else out.fused
    y = y.detach().double()
    return [float(y.sum()), float(y.abs().sum()), *[float(v) for v in y.flatten()[:4]], *y.shape]


def find_forward(model: torch.nn.Module) -> tuple[dict, str, list[float]] | None:
    modalities = list(model.encoders)
    big = sum(p.numel() for p in model.parameters()) > FLOAT64_MAX_PARAMS
    for combo in itertools.product(*(CANDIDATES.get(m, []) for m in modalities)):
        shapes = dict(zip(modalities, combo))
        for dtype in ((torch.float32,) if big else (torch.float64, torch.float32)):
            try:
                return shapes, str(dtype), forward(model, shapes, dtype)
            except Exception:
                continue
    return None


def generate(out: Path) -> None:
    """Write the table to ``out`` after each recipe (resumes where an interrupted run stopped)."""
    table = json.loads(out.read_text()) if out.exists() else {}
    for path in paper_recipes():
        key = str(path.relative_to(RECIPES))
        if key in table or path.name.startswith(EXCLUDED):
            continue
        module = build(path)
        entry = {"params": counts(module), "checksum": checksum(module)}
        found = find_forward(module.model)
        if found is not None:
            shapes, dtype, values = found
            entry.update(shapes={m: list(s) for m, s in shapes.items()}, dtype=dtype, output=values)
        print(key, entry.get("params"), entry.get("shapes"), file=sys.stderr, flush=True)
        table[key] = entry
        out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        del module


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN)
