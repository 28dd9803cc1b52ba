"""Packed skeletons vs the PySKL pickle reader: pack time, data-loader samples/s, memory per worker.

    python benchmarks/packed_loading.py [--subjects 70 --frames 300 --workers 4 --batch 32 --json out.json]

A SynthAct export shaped like NTU's ``ntu60_3danno.pkl`` (two persons, ``--frames`` frames, 25 joints, xyz,
float16 keypoints; ``--subjects 70`` gives 5,040 samples) is written as a PySKL pickle, then packed with
``fusion data pack``'s writer (float32 and float16). Each source is read through a DataLoader as training
reads it (RecipeDataset + the skeleton collator, batch ``--batch``, training's ``worker_init_fn``) with 0
and ``--workers`` workers (persistent, so the second epoch is measured warm). Memory is read from ``/proc/PID/smaps_rollup`` after
the second epoch. The growth per worker is (anonymous memory of all processes with W workers - with 0
workers) / W, anonymous memory counted with ``Pss_Anon`` + ``Pss_Shmem`` (each shared page once): what one
more worker costs that the kernel cannot drop. The mapped file's page cache (``Pss_File``: shared,
reclaimable; a page read by one worker only is that worker's private-clean memory) is shown apart. The
"no data" row reads zeros from nowhere: its growth is what a worker costs whatever it reads. "Worker USS"
is a worker's own anonymous memory (``Private_Dirty``: pages it wrote, copied from the parent or new),
the per-process view of the same cost.
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

import numpy as np
from torch.utils.data import DataLoader

from fusion.data import RecipeDataset
from fusion.registry import get_registry
from fusion.train.build import build_collator
from fusion.train.threads import worker_init


def memory_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"], "dirty": fields.get("Private_Dirty", 0),
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
            "anon": fields.get("Pss_Anon", 0) + fields.get("Pss_Shmem", 0), "file": fields.get("Pss_File", 0)}


def loader_run(base, batch: int, workers: int) -> dict:
    """Samples/s of the second (warm) epoch, and memory after it."""
    registry = get_registry()
    dataset = RecipeDataset(base, ["skeleton"])
    collator = build_collator({"data": {"modalities": ["skeleton"]}, "model": {"encoders": {}}}, registry, dataset)
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=workers, collate_fn=collator,
                        persistent_workers=workers > 0, worker_init_fn=worker_init if workers else None)
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        count = sum(len(b["label"]) for b in loader)
        rates.append(count / (time.perf_counter() - start))
    result = {"samples_per_s": round(rates[-1], 1), "main": memory_mb(os.getpid())}
    worker_memory = [memory_mb(w.pid) for w in loader._iterator._workers] if workers else []
    processes = [result["main"], *worker_memory]
    result["total_anon_mb"] = round(sum(m["anon"] for m in processes), 1)  # heap + shared memory, each page once
    result["total_file_mb"] = round(sum(m["file"] for m in processes), 1)  # mapped files: page cache
    if workers:
        result["worker_uss_mb"] = round(statistics.mean(m["uss"] for m in worker_memory), 1)
        result["worker_pss_mb"] = round(statistics.mean(m["pss"] for m in worker_memory), 1)
        result["worker_rss_mb"] = round(statistics.mean(m["rss"] for m in worker_memory), 1)
        result["worker_dirty_mb"] = round(statistics.mean(m["dirty"] for m in worker_memory), 1)
        loader._iterator._shutdown_workers()
    return result


class NoData:
    """The same number of zero samples of the same shape, read from nowhere: the workers' own memory."""

    def __init__(self, like):
        self.count, self.shape, self.labels = len(like), like[0]["skeleton"].shape, like.labels
        self.num_classes = like.num_classes

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        return {"skeleton": np.zeros(self.shape, np.float32), "label": int(self.labels[index]), "meta": {}}


def make_reader(kind: str, path: str):
    from fusion_plugins.formats.packed import PackedSkeletons
    from fusion_plugins.formats.pyskl import PoseAnnotations

    if kind == "none":
        return NoData(PackedSkeletons("all", path))
    return PoseAnnotations("all", path) if kind == "pickle" else PackedSkeletons("all", path)


def measure_in_subprocess(kind: str, path: Path, batch: int, workers: int) -> dict:
    """One loader run in a fresh interpreter, so that memory read is this reader's alone."""
    cmd = [sys.executable, __file__, "--measure", kind, str(path), str(batch), str(workers)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore::UserWarning"}  # 4 workers on 2 cores warns
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"]:
        kind, path, batch, workers = argv[1], argv[2], int(argv[3]), int(argv[4])
        print(json.dumps(loader_run(make_reader(kind, path), batch, workers)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=70)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--data", help="keep the export and packs in this folder (reused when present)")
    args = parser.parse_args(argv)

    from fusion_plugins.formats.packed import write_pack
    from fusion_plugins.formats.pyskl import PoseAnnotations
    from fusion_plugins.synthact.config import SynthActConfig
    from fusion_plugins.synthact.generate import load_arrays
    from fusion_plugins.synthact.writers import annotations_3d, pickle_bytes

    results: dict = {"subjects": args.subjects, "frames": args.frames, "workers": args.workers, "batch": args.batch}
    with tempfile.TemporaryDirectory(prefix="packed_bench_") as tmp:
        tmp = Path(args.data or tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        pickle_path = tmp / "synthact_3danno.pkl"
        if not pickle_path.is_file():
            cfg = SynthActConfig(subjects=args.subjects, frames=args.frames, second_person=True)
            index, scene, _ = load_arrays(cfg, ("skeleton",), tmp / "cache")
            pickle_path.write_bytes(pickle_bytes(index, annotations_3d(index, scene.skeleton)))
        results["generate_s"] = round(time.perf_counter() - start, 1)
        results["pickle_mb"] = round(pickle_path.stat().st_size / 2**20, 1)
        source = PoseAnnotations("all", str(pickle_path))
        results["samples"] = len(source)
        shape = source[0]["skeleton"].shape
        print(f"SynthAct export: {len(source)} samples x {shape}, pickle {results['pickle_mb']} MB "
              f"(generated in {results['generate_s']} s)", flush=True)
        del source
        for dtype in ("float32", "float16"):
            source = PoseAnnotations("all", str(pickle_path))
            start = time.perf_counter()
            write_pack(source, tmp / f"pack_{dtype}" / "all", ["skeleton"], dtype)
            results[f"pack_{dtype}_s"] = round(time.perf_counter() - start, 1)
            results[f"pack_{dtype}_mb"] = round((tmp / f"pack_{dtype}" / "all" / "skeleton.bin").stat().st_size / 2**20, 1)
            print(f"pack {dtype}: {results[f'pack_{dtype}_s']} s, {results[f'pack_{dtype}_mb']} MB", flush=True)
            del source
        readers = {"no data (zeros)": ("none", tmp / "pack_float32"), "PySKL pickle": ("pickle", pickle_path),
                   "packed float32": ("packed", tmp / "pack_float32"),
                   "packed float16": ("packed", tmp / "pack_float16")}
        rows = {}
        for name, (kind, path) in readers.items():
            for workers in (0, args.workers):
                rows[(name, workers)] = run = measure_in_subprocess(kind, path, args.batch, workers)
                print(f"  {name:<15} workers {workers}: {run['samples_per_s']:8.1f} samples/s, main RSS "
                      f"{run['main']['rss']:.0f} MB, private dirty {run['main']['dirty']:.0f} MB" + (
                          f", per worker private dirty {run['worker_dirty_mb']:.0f} MB, USS {run['worker_uss_mb']:.0f} MB, "
                          f"PSS {run['worker_pss_mb']:.0f} MB" if workers else ""), flush=True)
        results["loader"] = {f"{n} / {w} workers": r for (n, w), r in rows.items()}
    print(f"\n{results['samples']} samples x {shape} ({results['pickle_mb']} MB pickle); batch {args.batch}\n")
    print("growth per worker = (anonymous memory of main + workers with W workers - with 0) / W, anonymous = "
          "Pss_Anon + Pss_Shmem summed over the processes (each shared page counted once); worker USS = a worker's "
          "private anonymous memory (Private_Dirty), mean over workers; page cache = Pss_File summed\n")
    print(f"| reader | samples/s, 0 workers | samples/s, {args.workers} workers | anonymous MB, 0 / {args.workers} workers "
          f"| growth per worker MB | worker USS MB | page cache MB ({args.workers} workers) | pack s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in readers:
        single, multi = rows[(name, 0)], rows[(name, args.workers)]
        pack = {"no data (zeros)": "-", "PySKL pickle": "-", "packed float32": results["pack_float32_s"],
                "packed float16": results["pack_float16_s"]}[name]
        growth = (multi["total_anon_mb"] - single["total_anon_mb"]) / args.workers
        results.setdefault("growth_per_worker_mb", {})[name] = round(growth, 1)
        print(f"| {name} | {single['samples_per_s']:.0f} | {multi['samples_per_s']:.0f} | {single['total_anon_mb']:.0f} / "
              f"{multi['total_anon_mb']:.0f} | {growth:.0f} | {multi['worker_dirty_mb']:.0f} | {multi['total_file_mb']:.0f} "
              f"| {pack} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
