"""Measuring Fusion models and recipes: profile (cost of one model), bench (a matrix of runs)."""
