"""Deployable models out: ``fusion export RUN --format onnx|exported-program|torchscript``.

A run's classifier becomes one file that takes positional tensors (one per modality, then a
``(B, modalities)`` bool mask) and returns logits. Every export is checked against PyTorch on random
and real inputs before it is written; a file that disagrees beyond the tolerance is never kept.
"""

from fusion.export.exporter import FORMATS, ExportParityError, ExportResult, export_model
from fusion.export.from_run import export_run
from fusion.export.runtime import ExportedClassifier, ExportedModel, load_exported

__all__ = ["FORMATS", "ExportParityError", "ExportResult", "ExportedClassifier", "ExportedModel", "export_model", "export_run", "load_exported"]
