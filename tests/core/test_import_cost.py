"""Loading the plugins (every ``fusion`` command does) must not import torchvision or timm (~4 s here)."""

import subprocess
import sys


def test_registry_load_leaves_torchvision_and_timm_unimported():
    code = ("import sys; from fusion.registry import get_registry; get_registry(); "
            "print(sorted(m for m in ('torchvision', 'timm', 'pytorchvideo', 'decord') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
