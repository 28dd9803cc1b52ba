"""Write a model in a deployable format, after proving the file computes what PyTorch computes.

The file is written next to its destination under a temporary name, loaded back with the runtime a
user would use (:mod:`fusion.export.runtime`), and compared with the eager model on the real inputs,
on random inputs, at another batch size and (with ``dynamic_frames``) at another frame count. Only
a file within ``tolerance`` (max abs difference relative to the reference's scale) is moved into
place; a sidecar ``<file>.json`` records the inputs, classes and the measured differences.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fusion.errors import FusionError, first_line
from fusion.export.graph import ExportableModel, resized_random
from fusion.export.runtime import SUFFIX, load_exported

FORMATS = tuple(SUFFIX)
DEFAULT_TOLERANCE = 1e-4
FRAMES = "twice the frames"


class ExportParityError(FusionError):
    """The exported file does not compute what the PyTorch model computes."""


@dataclass
class ExportResult:
    path: Path
    format: str
    parity: dict[str, dict[str, float]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{name}: max abs {d['max_abs']:.2e}, relative {d['relative']:.2e}" for name, d in self.parity.items()]


def _dynamic_shapes(wrapper: ExportableModel, inputs: tuple, time_axes: dict[int, int]):
    batch = torch.export.Dim("batch", min=1, max=4096)
    shapes = []
    for index in range(len(inputs) - 1):
        axes = {0: batch}
        if index in time_axes:
            traced = int(inputs[index].shape[time_axes[index]])  # strided models need a few frames: from half
            axes[time_axes[index]] = torch.export.Dim(
                f"frames_{wrapper.modalities[index]}", min=max(2, traced // 2), max=100_000
            )
        shapes.append(axes)
    shapes.append({0: batch})
    return (tuple(shapes),)  # forward(*tensors): one variadic argument holding every input


def _write(fmt: str, wrapper: ExportableModel, inputs: tuple, path: Path, time_axes: dict[int, int]) -> None:
    dynamic = _dynamic_shapes(wrapper, inputs, time_axes)
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), torch.no_grad():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(
                wrapper, inputs, str(path), input_names=wrapper.input_names, output_names=["logits"],
                dynamo=True, dynamic_shapes=dynamic, external_data=False, optimize=True,
            )
        elif fmt == "exported-program":
            torch.export.save(torch.export.export(wrapper, inputs, dynamic_shapes=dynamic), str(path))
        else:
            torch.jit.save(torch.jit.trace(wrapper, inputs, check_trace=False), str(path))


def _root_message(error: BaseException) -> str:
    """The innermost cause's first line, without terminal colours (exporters wrap the real reason)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return re.sub(r"\x1b\[[0-9;]*m", "", first_line(error))


def _difference(reference: torch.Tensor, candidate: torch.Tensor) -> dict[str, float]:
    reference, candidate = reference.double(), candidate.double()
    if reference.shape != candidate.shape:
        return {"max_abs": float("inf"), "relative": float("inf")}
    max_abs = float((reference - candidate).abs().max())
    return {"max_abs": max_abs, "relative": max_abs / max(float(reference.abs().max()), 1e-12)}


def export_model(
    model: torch.nn.Module,
    batch: dict,
    fmt: str,
    path: str | Path,
    *,
    time_axes: dict[str, int] | None = None,
    dynamic_frames: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    metadata: dict | None = None,
) -> ExportResult:
    """Export ``model`` (a FusionModel) traced on ``batch`` (a collated batch of >= 2 real samples).

    ``time_axes`` maps a modality to the time axis of its batch tensor; with ``dynamic_frames`` those
    axes stay free in the exported graph, from half the traced frame count up (checked at twice it).
    """
    if fmt not in FORMATS:
        raise FusionError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = Path(path)
    if not path.name.endswith(SUFFIX[fmt]):
        raise FusionError(f"{path}: a {fmt} export must end in {SUFFIX[fmt]}")
    wrapper = ExportableModel(model).eval()
    inputs = wrapper.example_inputs(batch)
    if inputs[0].shape[0] < 2:
        raise FusionError("export needs a batch of at least 2 samples to keep the batch axis dynamic")
    axes = {}
    if dynamic_frames:
        for index, modality in enumerate(wrapper.modalities):
            axis = (time_axes or {}).get(modality)
            if axis is None:
                raise FusionError(f"--dynamic-frames: modality {modality!r} has no time axis in its batch layout")
            axes[index] = axis
    checks = {"real inputs": inputs, "random inputs": resized_random(inputs, 0), "batch of 3": resized_random(inputs, 1, batch=3)}
    if axes:
        checks[FRAMES] = resized_random(inputs, 2, frames=axes)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial{SUFFIX[fmt]}")
    try:
        try:
            _write(fmt, wrapper, inputs, partial, axes)
        except FusionError:
            raise
        except Exception as error:
            first = _root_message(error)
            hint = " (a model with a fixed number of frames: export without --dynamic-frames)" if axes else ""
            raise FusionError(f"{fmt} export of this model failed: {first[:300]}{hint}") from error
        exported = load_exported(partial)
        result = ExportResult(path, fmt)
        with torch.no_grad():
            for name, check in checks.items():
                try:
                    got = exported(*check)
                except Exception as error:
                    hint = "; this model fixes its frame count: export without --dynamic-frames" if name == FRAMES else ""
                    raise ExportParityError(
                        f"{path}: not written, the {fmt} export fails on {name} ({_root_message(error)[:200]}){hint}"
                    ) from error
                result.parity[name] = _difference(wrapper(*check), got)
        worst = max(result.parity.items(), key=lambda kv: kv[1]["relative"])
        if not worst[1]["relative"] <= tolerance:
            raise ExportParityError(
                f"{path}: not written, the {fmt} export differs from PyTorch on {worst[0]} by "
                f"{worst[1]['relative']:.2e} relative (max abs {worst[1]['max_abs']:.2e}; tolerance {tolerance:g})"
            )
        sidecar = {
            **(metadata or {}),
            "format": fmt,
            "modalities": wrapper.modalities,
            "inputs": {n: {"shape": list(x.shape), "dtype": str(x.dtype).removeprefix("torch.")}
                       for n, x in zip(wrapper.input_names, inputs)},
            "dynamic_axes": {n: {"0": "batch", **({str(axes[i]): "frames"} if i in axes else {})}
                             for i, n in enumerate(wrapper.input_names)},
            "output": "logits (B, classes)",
            "parity": result.parity,
            "tolerance": tolerance,
        }
        sidecar_path = path.with_name(path.name + ".json")
        temp_sidecar = sidecar_path.with_name(f".{sidecar_path.name}.partial")
        temp_sidecar.write_text(json.dumps(sidecar, indent=1))
        os.replace(partial, path)
        os.replace(temp_sidecar, sidecar_path)
        return result
    finally:
        partial.unlink(missing_ok=True)
        path.with_name(f".{path.name}.json.partial").unlink(missing_ok=True)
