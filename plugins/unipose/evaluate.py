"""``python -m fusion_plugins.unipose.evaluate RUN_DIR``: pose metrics of a trained UniPose run.

``fusion eval`` reports classification; a pose run is judged by MPJPE and accuracy within 10 cm
against the dataset's ground truth (``meta['skeleton_gt']``). This rebuilds the run's model from its
recipe, loads a checkpoint (``last`` by default: the trainer's ``best`` is chosen by top-1) and
measures every UniPose branch in the model plus the naive baseline (2D keypoint + depth at that
pixel) when the batch has depth. Writes ``pose_metrics.json`` in the run directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from fusion.errors import FusionError
from fusion_plugins.unipose import inputs
from fusion_plugins.unipose.metrics import joint_errors, naive_lift
from fusion_plugins.unipose.objective import lifted_joints


@torch.no_grad()
def pose_errors(model, loader, y_up: bool = True, pose_key: str = "pose2d", default_intrinsics: dict | None = None
                ) -> dict[str, torch.Tensor]:
    """Per-joint errors (metres) of every branch over the loader: ``{branch: (S, T, J)}``."""
    model.eval()
    errors: dict[str, list[torch.Tensor]] = {}
    for batch in loader:
        out = model(batch)
        device = next(iter(out.features.values())).frames.device
        k = inputs.intrinsics(batch, device, default_intrinsics)
        uv, _ = inputs.detections(batch, pose_key)
        gt = inputs.ground_truth(batch, uv.shape[1], device)
        if gt is None:
            raise FusionError("unipose evaluate: the dataset gives no meta['skeleton_gt'] to compare with")
        joints = lifted_joints(out.features, k, y_up)
        if "depth" in batch:
            joints["naive"] = naive_lift(uv, batch["depth"].float(), k, y_up)
        for name, pred in joints.items():
            errors.setdefault(name, []).append(joint_errors(pred, gt).cpu())
    return {name: torch.cat(values) for name, values in errors.items()}


def summarise(errors: dict[str, torch.Tensor], threshold: float = 0.10) -> dict[str, dict[str, float]]:
    return {name: {"mpjpe_cm": 100 * float(e.mean()), f"acc_{round(threshold * 100)}cm": float((e < threshold).float().mean()),
                   "joints": int(e.numel())} for name, e in errors.items()}


def evaluate_pose(run_dir: Path, which: str = "last", overrides=()) -> dict:
    from fusion.recipe import apply_overrides, from_dict, read_yaml
    from fusion.train import checkpoint as ckpt
    from fusion.train.build import build_all, build_loader
    from fusion.train.eval_run import load_weights

    if not (run_dir / "recipe.yaml").is_file():
        raise FusionError(f"{run_dir} is not a run directory: no recipe.yaml")
    raw = apply_overrides(read_yaml(run_dir / "recipe.yaml"), overrides)
    raw.pop("source", None)
    recipe = from_dict(raw)
    path = ckpt.find_checkpoint(run_dir, which) or ckpt.find_checkpoint(run_dir, "last")
    if path is None:
        raise FusionError(f"{run_dir}: no complete checkpoint to evaluate")
    built = build_all(recipe)
    load_weights(built.module, path)
    loader = build_loader(recipe, built.test_set, built.collator, False, recipe["eval"]["batch_size"])
    objective = built.module.objective
    errors = pose_errors(built.module.model, loader, getattr(objective, "y_up", True), getattr(objective, "pose_key", "pose2d"),
                         getattr(objective, "intrinsics", None))
    result = {"checkpoint": str(path), "split": recipe["eval"]["split"] or recipe["data"]["test_split"],
              "branches": summarise(errors)}
    (run_dir / "pose_metrics.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusion_plugins.unipose.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--checkpoint", default="last", choices=["last", "best"])
    parser.add_argument("overrides", nargs="*", help="recipe overrides key=value (e.g. eval.batch_size=8)")
    args = parser.parse_args(argv)
    try:
        result = evaluate_pose(args.run_dir, args.checkpoint, args.overrides)
    except FusionError as exc:
        print(f"unipose evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(f"{'branch':<12} {'MPJPE (cm)':>10} {'acc@10cm':>9}")
    for name, row in result["branches"].items():
        print(f"{name:<12} {row['mpjpe_cm']:>10.2f} {row['acc_10cm']:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
