#!/usr/bin/env bash
# SSL evaluation table on SynthAct-noisy (plugins/ssl/EVALUATION.md): for each method, pre-train,
# then probe the frozen pooled encoder features and the same architecture at random init.
#
#   benchmarks/ssl_synthact.sh [OUT_DIR] [METHOD ...]     # default runs/ssl_synthact, all six methods
#   METHODS: mamp stars skeletonmae hiclr halp msclr (each *_noisy.yaml recipe rides on its default-data one)
#
# Finished pre-training runs (summary.json present) are reused, so re-running only re-evaluates.
# Measured on 2 shared CPU cores: pre-training 27 s (MAMP) to 5 min (SkeletonMAE, 50 epochs); the 14 probe calls
# of a method take 4-12 s in one process after ~6 s of imports (features extracted once per init, then read
# from RUN/feature-cache; plugins/ssl/EVALUATION.md). Whole table from scratch: about 15 min.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/ssl_synthact}
shift || true
METHODS=${*:-mamp stars skeletonmae hiclr halp msclr}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RUN="nice -n 5"
R=recipes/synthact/ssl

pretrain() {  # NAME RECIPE [overrides...]
  local name=$1 recipe=$2; shift 2
  [ -f "$OUT/$name/summary.json" ] || $RUN fusion train "$recipe" --out "$OUT/$name" "$@"
}

probe() {  # NAME: every protocol, pre-trained and random init, in one process (imports and plugins load once;
           # frozen features are extracted once per init and then read from RUN/feature-cache)
  $RUN python - "$OUT/$1" <<'PY'
import sys, time
from fusion.train.protocols import ProtocolOptions, run_protocol

run, started = sys.argv[1], time.perf_counter()
calls = [("linear", {}), ("semi", {"mode": "linear", "fraction": 1.0, "seeds": [0, 1, 2, 3, 4]}),  # 5 probe seeds
         ("knn", {"k": 1}),
         ("semi", {"mode": "linear", "fraction": 0.01, "balanced": True, "seeds": [0, 1, 2, 3, 4]}),  # 1 clip/class
         ("semi", {"mode": "linear", "fraction": 0.1, "balanced": True, "seeds": [0, 1, 2, 3, 4]}),   # 3 clips/class
         ("fewshot", {"shots": 1, "episodes": 50}), ("fewshot", {"shots": 5, "episodes": 50})]
for init in ("checkpoint", "random"):
    for protocol, options in calls:
        t = time.perf_counter()
        r = run_protocol(run, protocol, ProtocolOptions(checkpoint="last", init=init, **options))
        spread = f" ± {r['top1_std']:.4f}" if "top1_std" in r else ""
        print(f"{protocol} {options} ({init}) top-1 {r['top1']:.4f}{spread}  features {r['feature_seconds']} s "
              f"(cache hit: {r['feature_cache_hit']})  call {time.perf_counter() - t:.1f} s -> {r['output']}", flush=True)
print(f"probes: {time.perf_counter() - started:.0f} s")
PY
}

for m in $METHODS; do
  case $m in
    mamp) pretrain mamp $R/mamp_pretrain_noisy.yaml ;;
    stars) pretrain mamp $R/mamp_pretrain_noisy.yaml
           pretrain stars $R/stars_tune_noisy.yaml model.init.checkpoint="$OUT/mamp" ;;
    skeletonmae) pretrain skeletonmae $R/skeletonmae_pretrain_noisy.yaml ;;
    hiclr|halp|msclr) pretrain "$m" $R/${m}_noisy.yaml ;;
    *) echo "unknown method $m" >&2; exit 2 ;;
  esac
  probe "$m" > "$OUT/$m/probes.log" 2>&1
done

python - "$OUT" $METHODS <<'PY'
"""Markdown table from the newest protocol-*.json of each (protocol, options, init) in each run."""
import json, sys
from pathlib import Path

out, methods = Path(sys.argv[1]), sys.argv[2:]
cols = [("linear", {}), ("semi", {"fraction": 1.0}), ("knn", {}), ("semi", {"fraction": 0.01}),
        ("semi", {"fraction": 0.1}), ("fewshot", {"shots": 1}), ("fewshot", {"shots": 5})]
names = ["linear", "linear, 5 probe seeds", "kNN (1-NN)", "linear 1/class", "linear 3/class", "1-shot", "5-shot"]
print("| method | pre-train | " + " | ".join(names) + " |")
print("|---|---|" + "---|" * len(names))
for m in methods:
    run = out / m
    newest = {}
    for f in sorted(run.glob("protocol-*.json"), key=lambda p: p.stat().st_mtime):
        d = json.loads(f.read_text())
        o = d["options"]
        for i, (proto, want) in enumerate(cols):
            if d["protocol"] == proto and all(o.get(k) == v for k, v in want.items()):
                newest[(i, d["init"])] = d
    s = json.loads((run / "summary.json").read_text())
    cells = []
    for i in range(len(cols)):
        p, r = newest.get((i, "checkpoint")), newest.get((i, "random"))
        fmt = lambda d: "–" if d is None else f"{d['top1']:.3f}" + (f" ± {d['top1_std']:.3f}" if i == 1 else "")
        cells.append(f"**{fmt(p)}** / {fmt(r)}" if p and r and p["top1"] > r["top1"] else f"{fmt(p)} / {fmt(r)}")
    print(f"| {m} | {s['epochs']} ep, {s['seconds']:.0f} s | " + " | ".join(cells) + " |")
print("\ncells: pre-trained / random init (same architecture), top-1 on the SynthAct-noisy xsub test split;"
      " bold: pre-training wins. 5 probe seeds: mean ± std of the full-label linear probe over probe seeds 0-4;"
      " 1/class, 3/class and few-shot: mean over 5 subsets / 50 episodes.")
PY
