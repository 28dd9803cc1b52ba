"""Objectives: ``forward(model, batch) -> (loss, outputs)``."""
