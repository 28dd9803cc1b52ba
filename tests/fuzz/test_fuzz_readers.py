"""Fuzzed readers: mutated versions of valid files give a correct sample or a DataError naming the file.

Every reader (NTU .skeleton, NTU depth PNG, PySKL pickle, st-gcn .npy + label pickle, CTR-GCN .npz, keypoint_folder,
Kinetics JSON, NW-UCLA JSON, PKU-MMD text) and the recipe YAML loader get seeded mutations of valid
seed files (:mod:`mutate`: byte flips, truncation, inserted lines, huge numbers, wrong counts,
CRLF/BOM, values of the wrong type, decompression bombs), run by :mod:`worker` in a subprocess whose
address space is capped at +1 GiB, with a 10 s alarm per case. Never a traceback, a hang, a memory
blow-up, a silently wrong sample or an error that does not name the file.

The default suite runs 35 cases per target (350 in all, about 20 s); ``-m slow`` runs 400 per target.
A failing case is replayed with ``python tests/fuzz/worker.py OUT SEED 1 TARGET``.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from targets import TARGETS  # noqa: E402

FAILURES = ("bug", "silent", "hang", "memory", "unnamed")


def run_fuzz(tmp_path: Path, first: int, cases: int) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(HERE / "worker.py"), str(tmp_path), str(first), str(cases), *TARGETS],
                          capture_output=True, text=True, env=env, timeout=60 + 3 * cases * len(TARGETS))
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(rows) == cases * len(TARGETS), done.stderr[-3000:]
    return rows


def report(rows: list[dict]) -> str:
    """Per target and per mutation: cases, clear errors, accepted samples (printed with ``-s``)."""
    lines = []
    for key in ("target", "mutation"):
        counts = Counter((r[key].split(":")[0], r["outcome"]) for r in rows)
        for name in sorted({k for k, _ in counts}):
            total = sum(v for (k, _), v in counts.items() if k == name)
            lines.append(f"{key} {name}: {total} cases, {counts[name, 'error']} clear error, "
                         f"{counts[name, 'accepted']} accepted, "
                         f"{sum(counts[name, f] for f in FAILURES)} failures")
    return "\n".join(lines)


def check(rows: list[dict]) -> None:
    print(report(rows))
    failures = [r for r in rows if r["outcome"] in FAILURES]
    assert not failures, "\n".join(json.dumps(r) for r in failures[:10])
    for name in TARGETS:  # both outcomes occur: the mutations reach past the first check of every reader
        outcomes = Counter(r["outcome"] for r in rows if r["target"] == name)
        assert outcomes["error"] > 0, (name, outcomes)


def test_fuzz_every_reader_default(tmp_path):
    check(run_fuzz(tmp_path, 0, 35))


@pytest.mark.slow
def test_fuzz_every_reader_thousands(tmp_path):
    rows = run_fuzz(tmp_path, 10_000, 400)
    check(rows)
    for name in TARGETS:
        assert Counter(r["outcome"] for r in rows if r["target"] == name)["accepted"] > 0, name
