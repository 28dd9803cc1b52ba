"""``fusion plugin new`` writes a distribution that installs, is discovered through its entry point, and passes its test."""

import json
import subprocess
import sys

import pytest

from fusion.cli import main
from fusion.errors import FusionError
from fusion.scaffold import write_plugin


def run(*args, **kw):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, **kw)


def test_scaffold_installs_and_is_discovered(tmp_path, capsys):
    assert main(["plugin", "new", "demo_scaffold", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "fusion-demo-scaffold"
    assert {p.name for p in root.iterdir()} >= {"pyproject.toml", "fusion_demo_scaffold", "tests", "README.md"}
    installed = run("-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(root))
    assert installed.returncode == 0, installed.stderr
    try:
        listed = run("-m", "fusion", "list", "encoder", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert {"kind": "encoder", "name": "demo_scaffold_encoder", "plugin": "demo_scaffold"}.items() <= next(
            r for r in rows if r["name"] == "demo_scaffold_encoder").items()
        tested = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests"), cwd=root)
        assert tested.returncode == 0, tested.stdout + tested.stderr
    finally:
        run("-m", "pip", "uninstall", "-y", "fusion-demo-scaffold")
    after = run("-m", "fusion", "list", "encoder", "--json")
    assert "demo_scaffold_encoder" not in after.stdout


def test_scaffold_rejects_bad_names(tmp_path):
    with pytest.raises(FusionError, match="must be a lowercase Python identifier"):
        write_plugin("Bad-Name", tmp_path)
    write_plugin("twice", tmp_path)
    with pytest.raises(FusionError, match="already exists"):
        write_plugin("twice", tmp_path)
