"""Run an exported file: ONNX Runtime for ``.onnx``, ``torch.export`` for ``.pt2``, TorchScript for ``.ts``.

Every format is called the same way (positional tensors in, logits out), so ``fusion predict`` and the
export-time parity check use one code path whatever the file is.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch

from fusion.errors import FusionError, first_line

#: File suffix of each export format.
SUFFIX = {"onnx": ".onnx", "exported-program": ".pt2", "torchscript": ".ts"}
#: The run's recipe is copied to ``<file>.recipe.yaml``, its metadata written to ``<file>.json``.
RECIPE_SUFFIX = ".recipe.yaml"


@dataclass
class ExportedModel:
    """A loaded export: ``model(*tensors) -> logits``, with the metadata written beside it."""

    path: Path
    format: str
    run: Callable[..., torch.Tensor]
    metadata: dict = field(default_factory=dict)

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.run(*tensors)

    @property
    def modalities(self) -> list[str]:
        return list(self.metadata.get("modalities", []))

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata.get("class_names", []))

    @property
    def recipe_file(self) -> Path:
        """The run's recipe, copied beside the export (``fusion predict FILE`` applies its test transforms)."""
        return self.path.with_name(self.path.name + RECIPE_SUFFIX)


class ExportedClassifier:
    """An export called like a :class:`~fusion.model.FusionModel` (batch in, ``.logits`` out) by ``fusion predict``."""

    def __init__(self, exported: ExportedModel):
        self.exported = exported
        if not exported.modalities:
            raise FusionError(f"{exported.path}: no {exported.path.name}.json beside it; export the run again")

    def __call__(self, batch: dict) -> SimpleNamespace:
        tensors = [batch[m].float() for m in self.exported.modalities]
        mask = torch.stack([batch["mask"][m].bool() for m in self.exported.modalities], dim=1)
        return SimpleNamespace(logits=self.exported(*tensors, mask))

    def eval(self) -> ExportedClassifier:
        return self


def format_of(path: Path) -> str:
    for name, suffix in SUFFIX.items():
        if path.name.endswith(suffix):
            return name
    raise FusionError(f"{path}: not an exported model (expected a {', '.join(SUFFIX.values())} file)")


def _onnx_runner(path: Path) -> Callable[..., torch.Tensor]:
    try:
        import onnxruntime
    except ImportError as error:
        raise FusionError(f"{path}: running ONNX files needs onnxruntime (pip install onnxruntime)") from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*tensors: torch.Tensor) -> torch.Tensor:
        feeds = {name: t.detach().cpu().numpy() for name, t in zip(names, tensors)}
        return torch.from_numpy(session.run(None, feeds)[0])

    return run


def _torch_runner(path: Path, fmt: str) -> Callable[..., torch.Tensor]:
    with warnings.catch_warnings():  # torch.jit is deprecated upstream; the format is still asked for
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.export.load(str(path)).module() if fmt == "exported-program" else torch.jit.load(str(path))

    def run(*tensors: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(*tensors)

    return run


def load_exported(path: str | Path) -> ExportedModel:
    """Load an exported model and its metadata (``<file>.json``); one sentence if the file is not usable."""
    path = Path(path)
    if not path.is_file():
        raise FusionError(f"{path}: no such exported model file")
    fmt = format_of(path)
    sidecar = path.with_name(path.name + ".json")
    metadata = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    try:
        run = _onnx_runner(path) if fmt == "onnx" else _torch_runner(path, fmt)
    except FusionError:
        raise
    except Exception as error:  # a damaged or foreign file: the runtime's own message, in one line
        first = first_line(error)
        raise FusionError(f"{path}: cannot load this {fmt} file ({first[:200]})") from error
    return ExportedModel(path, fmt, run, metadata)
