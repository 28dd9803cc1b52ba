"""Which ``fusion/`` modules import which, and every core -> plugin edge (imports of ``fusion_plugins``).

``python benchmarks/module_deps.py [ROOT]`` prints one line per core module with the modules it imports
(within the project), then the core -> plugin edges and counts. Imports anywhere in a module count
(also inside functions): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, name: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = name.split(".")[: -node.level] if not path.name == "__init__.py" else name.split(".")
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("fusion", "fusion_plugins")}


def graph(root: Path) -> dict[str, set[str]]:
    modules = {module_name(root, p): p for p in sorted((root / "fusion").rglob("*.py"))}
    out = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports(path, name):
            # the longest known module prefix (``from fusion.data import Collator`` -> fusion.data)
            parts = imported.split(".")
            for i in range(len(parts), 0, -1):
                candidate = ".".join(parts[:i])
                if candidate in modules or candidate.startswith("fusion_plugins"):
                    targets.add(candidate if candidate in modules else ".".join(parts[:2]))
                    break
        out[name] = targets - {name}
    return out


def main(root: Path) -> None:
    deps = graph(root)
    for name, targets in deps.items():
        print(f"{name}: {', '.join(sorted(targets)) or '-'}")
    edges = sorted((m, t) for m, ts in deps.items() for t in ts if t.startswith("fusion_plugins"))
    print("\ncore -> plugin edges:")
    for m, t in edges:
        print(f"  {m} -> {t}")
    print(f"\n{len(deps)} core modules, {sum(map(len, deps.values()))} internal import edges, "
          f"{len(edges)} core -> plugin edges")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
