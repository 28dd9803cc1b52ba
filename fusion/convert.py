"""Official checkpoints into Fusion models: ``fusion convert FORMAT SOURCE --recipe R --out W.safetensors``.

A checkpoint format (registered by a plugin through ``fusion_add_checkpoint_formats``) maps the
official tensor names to the names of the model a recipe builds. This module is the one code path
behind both the CLI verb and the recipe key ``model.init: {checkpoint: PATH, format: NAME}``: it
builds the target names and shapes, calls the format, refuses a shape mismatch with one sentence
and reports every official tensor left unused and every model tensor left unfilled. The written
file holds tensors only (safetensors), so loading it later can never run code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.registry import Registry
from fusion.types import Conversion


@dataclass
class ConversionReport:
    """What a conversion did: tensors filled, official names not used, model names not filled."""

    format: str
    source: str
    filled: int
    unused: list[str] = field(default_factory=list)
    unfilled: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.format}: {self.source}: {self.filled} tensors converted"]
        out += [f"  unused official tensor: {name}" for name in self.unused]
        out += [f"  model tensor not filled (keeps its initialisation): {name}" for name in self.unfilled]
        return out


def convert_into(module: nn.Module, format_name: str, source: str | Path,
                 registry: Registry) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Official checkpoint ``source`` read by format ``format_name`` as tensors named like ``module``'s.

    Raises :class:`ContractError` naming both tensors on a shape mismatch.
    """
    spec = registry.get("checkpoint_format", format_name)
    target = module.state_dict()
    shapes = {name: tuple(value.shape) for name, value in target.items()}
    conversion = spec.factory(str(source), shapes)
    if not isinstance(conversion, Conversion):
        raise ContractError(f"checkpoint format {format_name!r} (plugin {spec.plugin!r}) returned "
                            f"{type(conversion).__name__}, expected fusion.types.Conversion")
    weights: dict[str, torch.Tensor] = {}
    unused = list(conversion.unused)
    for name, (official, tensor) in conversion.tensors.items():
        if name not in target:
            unused.append(official)
            continue
        if tuple(tensor.shape) != shapes[name]:
            raise ContractError(
                f"{format_name}: {source}: official tensor {official} has shape {tuple(tensor.shape)} but the "
                f"model's {name} has {shapes[name]} (does the recipe configure the checkpoint's model?)")
        wanted = target[name].dtype
        value = tensor.to(wanted) if tensor.is_floating_point() == wanted.is_floating_point else tensor
        weights[name] = value.detach().contiguous().clone()
    unfilled = [name for name in target if name not in weights]
    return weights, ConversionReport(format_name, str(source), len(weights), unused, unfilled)


def build_target(recipe_path: str | Path, overrides: Iterable[str] = ()) -> tuple[nn.Module, Registry, dict]:
    """The module a run of ``recipe_path`` trains (model + objective), untrained, its registry and the recipe.

    The recipe's own ``model.init`` is ignored (its earlier stage need not exist). The class count
    is the recipe's ``model.num_classes``, else the training set's.
    """
    from fusion.recipe import load_recipe
    from fusion.train.build import build_base_dataset, build_train_module, registry_for

    recipe = load_recipe(recipe_path, overrides)
    recipe["model"]["init"] = None
    registry = registry_for(recipe)
    num_classes = recipe["model"]["num_classes"]
    if num_classes is None:
        dataset = build_base_dataset(recipe, registry, recipe["data"]["train_split"])
        num_classes = getattr(dataset, "num_classes", None)
        if num_classes is None:
            raise RecipeError(f"{recipe_path}: model.num_classes is not set and the dataset does not say how many "
                              "classes it has; add model.num_classes=N to the command")
    recipe["model"]["num_classes"] = int(num_classes)
    return build_train_module(recipe, registry, int(num_classes)), registry, recipe


def convert_file(format_name: str, source: str | Path, recipe_path: str | Path, out: str | Path,
                 overrides: Iterable[str] = (), run_dir: str | Path | None = None) -> ConversionReport:
    """``fusion convert``: convert ``source`` for the model of ``recipe_path`` and write ``out`` (safetensors).

    With ``run_dir`` the weights also become an evaluable run (``recipe.yaml`` and a complete ``last``
    checkpoint), so ``fusion eval RUN_DIR`` measures the official weights with the recipe's test pipeline.
    """
    from safetensors.torch import save_file

    out = Path(out)
    if out.suffix != ".safetensors":
        raise RecipeError(f"--out {out}: the converted weights are written as safetensors; name the file *.safetensors")
    module, registry, recipe = build_target(recipe_path, overrides)
    weights, report = convert_into(module, format_name, source, registry)
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": format_name, "source": Path(source).name}
    save_file(weights, str(out), metadata=metadata)
    if run_dir is not None:
        _write_run(Path(run_dir), recipe, weights, metadata, report)
    return report


def _write_run(run_dir: Path, recipe: dict, weights: dict[str, torch.Tensor], metadata: dict,
               report: ConversionReport) -> None:
    import json

    from safetensors.torch import save_file

    from fusion.recipe import dump_recipe
    from fusion.train import checkpoint as ckpt

    if run_dir.exists() and any(run_dir.iterdir()):
        raise RecipeError(f"--run {run_dir}: the folder is not empty; name a new run directory")
    if report.unfilled:
        raise ContractError(f"--run {run_dir}: the checkpoint leaves {len(report.unfilled)} model tensors unfilled "
                            f"(first {report.unfilled[0]}), so it cannot be evaluated with this recipe")
    last = ckpt.checkpoint_dir(run_dir, "last")
    last.mkdir(parents=True)
    save_file(weights, str(last / "model.safetensors"), metadata=metadata)
    (last / ckpt.STATE_FILE).write_text(json.dumps({"epoch": 0, "global_step": 0, "converted_from": metadata}, indent=1))
    (last / ckpt.MARKER).write_text("ok\n")
    dump_recipe(recipe, run_dir / "recipe.yaml")
