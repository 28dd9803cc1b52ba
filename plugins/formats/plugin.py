"""Readers for real dataset formats (NTU RGB+D, PySKL pickles, Kinetics-skeleton, NW-UCLA, PKU-MMD)."""

from __future__ import annotations
