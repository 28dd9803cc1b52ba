"""``fusion export RUN``: the run's checkpoint, traced on real samples of its test split."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fusion.errors import FusionError
from fusion.export.exporter import ExportResult, export_model
from fusion.export.graph import time_axis
from fusion.export.runtime import RECIPE_SUFFIX, SUFFIX


def first_samples(dataset, count: int) -> list:
    """The first ``count`` readable samples (a broken sample is skipped by the dataset's policy)."""
    samples = []
    for index in range(len(dataset)):
        sample = dataset[index]
        if sample is not None:
            samples.append(sample)
        if len(samples) == count:
            return samples
    raise FusionError(f"export needs {count} readable samples of the test split; it has {len(samples)}")


def export_run(
    run_dir: str | Path,
    fmt: str,
    out: str | Path | None = None,
    *,
    dynamic_frames: bool = False,
    which: str | None = None,
    overrides=(),
    trust_plugins: bool = False,
) -> ExportResult:
    """Export a run's checkpoint (``which``: best, last; default the recipe's ``eval.checkpoint``)."""
    from fusion.train.eval_run import load_run

    run_dir = Path(run_dir)
    recipe, built, checkpoint = load_run(run_dir, overrides, which, trust_plugins=trust_plugins)
    if fmt not in SUFFIX:
        raise FusionError(f"--format must be one of {', '.join(SUFFIX)}, got {fmt!r}")
    out = Path(out) if out else run_dir / "export" / f"model{SUFFIX[fmt]}"
    batch = built.collator(first_samples(built.test_set, 2))
    model = built.module.model
    layouts = {m: built.registry.get("modality", m).batch_layout for m in model.modalities}
    metadata = {
        "run": str(run_dir.resolve()),
        "checkpoint": str(checkpoint),
        "class_names": list(built.class_names),
    }
    result = export_model(
        model, batch, fmt, out,
        time_axes={m: time_axis(layout) for m, layout in layouts.items()},
        dynamic_frames=dynamic_frames,
        metadata=metadata,
    )
    # the recipe travels with the file: `fusion predict FILE` applies its test transforms without the run
    recipe_copy = out.with_name(out.name + RECIPE_SUFFIX)
    partial = recipe_copy.with_name(f".{recipe_copy.name}.partial")
    shutil.copyfile(run_dir / "recipe.yaml", partial)
    os.replace(partial, recipe_copy)
    return result
