"""Mixers: modules that fuse per-modality Features into one vector (and/or logits).

Each mixer lives in its own file and is registered by the core plugin (:mod:`fusion.builtin`).
Every mixer honours ``masks``: a modality whose mask is False for a sample contributes nothing.
"""
