"""Package discovery only (metadata lives in pyproject.toml): ``plugins/`` installs as ``fusion_plugins``."""

from setuptools import find_packages, setup

plugin_packages = ["fusion_plugins"] + [f"fusion_plugins.{name}" for name in find_packages("plugins")]
setup(
    packages=find_packages(include=["fusion", "fusion.*"]) + plugin_packages,
    package_dir={"fusion_plugins": "plugins"},
)
