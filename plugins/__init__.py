"""Fusion's built-in plugins (installed as ``fusion_plugins``), registered through entry points."""
