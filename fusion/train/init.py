"""Start a stage from an earlier one: ``model.init`` loads weights, ``model.freeze`` fixes modules.

Multi-stage recipes (self-supervised pretraining -> linear probe / fine-tuning, CascadeFormer's
two stages) point ``model.init.checkpoint`` at the previous run. Weights come from
``model.safetensors`` only, so an initialisation can never execute code.

```yaml
model:
  init: {checkpoint: runs/mamp-pretrain, keys: model.encoders., exclude: [model.head.], which: last}
  freeze: [encoders.skeleton]     # module prefixes relative to the model; kept in eval mode
```

With ``format`` the checkpoint is an official release file (``model.init: {checkpoint: ctrgcn.pt,
format: ctrgcn}``), converted in memory exactly as ``fusion convert`` does (:mod:`fusion.convert`).

``model.init`` may also be a list of such blocks, applied in order (EPAM-Net's fusion stage starts from
two unimodal runs: each one's backbone and head, renamed into the fused model).
"""

from __future__ import annotations

import logging
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from fusion.errors import RecipeError, first_line
from fusion.registry import Registry, unknown_name_message

log = logging.getLogger(__name__)

INIT_KEYS = {"checkpoint", "keys", "exclude", "which", "rename", "format"}


def resolve_weights(path: str | Path, which: str = "best") -> Path:
    """A run directory, a checkpoint directory or a ``.safetensors`` file -> the weights file."""
    from fusion.train.checkpoint import find_checkpoint

    path = Path(path)
    if path.is_file() and path.suffix == ".safetensors":
        return path
    if (path / "model.safetensors").is_file():
        return path / "model.safetensors"
    if path.is_dir():
        found = find_checkpoint(path, which) or find_checkpoint(path, "last")
        if found is not None and (found / "model.safetensors").is_file():
            return found / "model.safetensors"
    raise RecipeError(
        f"model.init.checkpoint: {path} is not a run directory with a complete checkpoint, a checkpoint "
        "directory or a .safetensors file (train the previous stage first)"
    )


def check_init(init: object, registry: Registry | None = None) -> None:
    """Validate ``model.init`` (a block or a list of blocks) at recipe load, naming the bad key."""
    for i, spec in enumerate(init if isinstance(init, list) else [init] if init else []):
        key = f"model.init[{i}]" if isinstance(init, list) else "model.init"
        if not isinstance(spec, dict):
            raise RecipeError(f"{key}: expected a mapping with 'checkpoint', got {type(spec).__name__} {spec!r}")
        unknown = sorted(set(spec) - INIT_KEYS)
        if unknown:
            raise RecipeError(f"{key}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(INIT_KEYS))}")
        if not isinstance(spec.get("checkpoint"), str):
            raise RecipeError(f"{key}.checkpoint: expected a path (run directory, checkpoint directory, .safetensors "
                              f"file or, with format, an official checkpoint), got {spec.get('checkpoint')!r}")
        for sub, types, what in (("keys", (str, list), "a prefix or a list of prefixes"),
                                 ("exclude", list, "a list of prefixes"), ("rename", dict, "a mapping old. -> new.")):
            if spec.get(sub) is not None and not isinstance(spec[sub], types):
                raise RecipeError(f"{key}.{sub}: expected {what}, got {type(spec[sub]).__name__} {spec[sub]!r}")
        if spec.get("which", "best") not in ("best", "last"):
            raise RecipeError(f"{key}.which: {spec['which']!r}; allowed values: best, last")
        name = spec.get("format")
        if name is not None:
            if not isinstance(name, str):
                raise RecipeError(f"{key}.format: expected a checkpoint format name, got {name!r}")
            if registry is not None and name not in registry.specs["checkpoint_format"]:
                raise RecipeError(f"{key}.format: " + unknown_name_message(
                    "checkpoint_format", name, registry.names("checkpoint_format")))
            if "which" in spec:
                raise RecipeError(f"{key}.which: applies to run directories, not to an official checkpoint (format)")


def apply_init(module: nn.Module, spec: dict, registry: Registry | None = None) -> int:
    """Copy matching tensors from ``spec['checkpoint']`` into ``module``; return how many were loaded.

    Keys are those of the trained module (``model.encoders.skeleton....``, ``objective....``).
    ``keys`` keeps only names with that prefix (a string or a list), ``exclude`` drops prefixes,
    ``rename`` maps a source prefix to a target prefix (e.g. an SSL objective's encoder to the model's).
    """
    unknown = set(spec) - INIT_KEYS
    if unknown:
        raise RecipeError(f"model.init: unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(INIT_KEYS))}")
    if "checkpoint" not in spec:
        raise RecipeError("model.init: missing 'checkpoint' (a run directory, checkpoint directory or .safetensors file)")
    if spec.get("format"):
        from fusion.convert import convert_into
        from fusion.registry import get_registry

        source = spec["checkpoint"]
        weights, report = convert_into(module, spec["format"], source, registry or get_registry())
        for line in report.lines():
            log.info(line)
    else:
        source = resolve_weights(spec["checkpoint"], spec.get("which", "best"))
        try:
            weights = load_file(str(source))
        except Exception as exc:  # SafetensorError: truncated or not a safetensors file
            raise RecipeError(f"model.init: {source} is damaged or truncated ({first_line(exc)})") from None
    for old, new in (spec.get("rename") or {}).items():
        weights.update({new + k[len(old):]: v for k, v in weights.items() if k.startswith(old)})
    keep = spec.get("keys") or ""
    keep = (keep,) if isinstance(keep, str) else tuple(keep)
    exclude = tuple(spec.get("exclude") or ())
    target = module.state_dict()
    chosen = {k: v for k, v in weights.items() if k.startswith(keep) and not (exclude and k.startswith(exclude))}
    loaded = {}
    for key, value in chosen.items():
        if key not in target:
            continue
        if target[key].shape != value.shape:
            raise RecipeError(
                f"model.init: {source}: tensor {key} has shape {tuple(value.shape)}, the model expects "
                f"{tuple(target[key].shape)} (is the encoder configured as in the previous stage?)"
            )
        loaded[key] = value
    if not loaded:
        raise RecipeError(
            f"model.init: no tensor of {source} matches the model under prefix {keep}; "
            f"checkpoint keys start like {sorted(weights)[:3]}"
        )
    module.load_state_dict(loaded, strict=False)
    return len(loaded)


def apply_freeze(model: nn.Module, prefixes: list[str]) -> int:
    """Stop gradients into modules under ``prefixes``; they also stay in eval mode (frozen BN statistics)."""
    modules = dict(model.named_modules())
    frozen = 0
    for prefix in prefixes:
        if prefix not in modules:
            near = [n for n in modules if n and n.split(".")[0] == prefix.split(".")[0]][:5]
            raise RecipeError(f"model.freeze: the model has no module {prefix!r}; modules start like {near}")
        for param in modules[prefix].parameters():
            param.requires_grad_(False)
            frozen += param.numel()
    model.frozen_modules = [modules[p] for p in prefixes]
    return frozen
