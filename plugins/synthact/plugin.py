"""The SynthAct plugin: Fusion's built-in procedurally generated multimodal dataset."""

from __future__ import annotations
