"""Does the default thread count win? The quickstart with the thread policy's default, with 1 thread and with
every core (PyTorch's own default), on the machine as it is and under a competing CPU load (a second training).

    python benchmarks/thread_policy.py [--epochs 3 --repeats 2 --json out.json]

Each configuration runs ``fusion train recipes/synthact/quickstart.yaml train.epochs=E`` in a fresh process
(the thread choice is per process); configurations alternate within each repeat, so a change of load on a
shared machine hits all of them alike. The time is the run's own ``summary.json`` seconds (training and
evaluation, no interpreter start-up). The competing load is another quickstart training with every core,
restarted until the measurement ends. The table gives the median seconds and each configuration's ratio to
the best one of its condition; the default should be within 10 % of the best (ratio <= 1.10).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "synthact" / "quickstart.yaml"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def configurations() -> dict[str, list[str]]:
    return {"default (policy)": [], "1 thread": ["--threads", "1"], f"{cores()} threads (all cores)": [
        "--threads", str(cores())]}


def environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # the policy decides, as for a user
    return env | {"FUSION_PROGRESS": "0"}


def train_once(flags: list[str], epochs: int, out: Path) -> tuple[float, dict]:
    """Seconds of one quickstart training and the thread choice it recorded."""
    cmd = [sys.executable, "-m", "fusion", "train", str(RECIPE), f"train.epochs={epochs}", "--out", str(out), *flags]
    done = subprocess.run(cmd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((out / "summary.json").read_text())
    threads = json.loads((out / "environment.json").read_text())["threads"]
    return float(summary["seconds"]), threads


class CompetingLoad:
    """Another quickstart training on every core, restarted until stopped."""

    def __init__(self, folder: Path):
        self.folder, self.process, self.count = folder, None, 0

    def poll(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.count += 1
            out = self.folder / f"load{self.count}"
            cmd = [sys.executable, "-m", "fusion", "train", str(RECIPE), "train.epochs=50", "--out", str(out),
                   "--threads", str(cores())]
            self.process = subprocess.Popen(cmd, env=environment(), stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


def measure(condition: str, epochs: int, repeats: int, folder: Path, load: CompetingLoad | None) -> dict:
    times: dict[str, list[float]] = {name: [] for name in configurations()}
    chosen: dict[str, int] = {}
    for repeat in range(repeats):
        names = list(configurations())
        if repeat % 2:
            names.reverse()  # alternate the order between repeats
        for name in names:
            if load is not None:
                load.poll()
                time.sleep(3)  # let the competing training reach its steps
            out = folder / f"{condition}-{repeat}-{name.split()[0]}"
            seconds, threads = train_once(configurations()[name], epochs, out)
            times[name].append(seconds)
            chosen[name] = threads["threads"]
            print(f"  {condition:<6} repeat {repeat + 1}  {name:<22} {seconds:6.1f} s  ({threads['threads']} threads, "
                  f"{threads['source']})", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    best = min(medians.values())
    return {name: {"seconds": times[name], "median_s": round(medians[name], 2), "threads": chosen[name],
                   "ratio_to_best": round(medians[name] / best, 3)} for name in times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    results = {"cores": cores(), "epochs": args.epochs, "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="thread_policy_") as tmp:
        folder = Path(tmp)
        train_once(["--threads", "1"], 2, folder / "warm")  # SynthAct cache and imports warm for everyone
        print(f"quickstart, {args.epochs} epochs, {cores()} cores, {args.repeats} repeats per configuration")
        results["as is"] = measure("as is", args.epochs, args.repeats, folder, None)
        load = CompetingLoad(folder)
        try:
            results["loaded"] = measure("loaded", args.epochs, args.repeats, folder, load)
        finally:
            load.stop()
    print("\n| condition | configuration | threads | median s | ratio to best |\n|---|---|---|---|---|")
    for condition in ("as is", "loaded"):
        for name, row in results[condition].items():
            print(f"| {condition} | {name} | {row['threads']} | {row['median_s']:.1f} | {row['ratio_to_best']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
