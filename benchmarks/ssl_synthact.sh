#!/usr/bin/env bash
# SSL evaluation table on SynthAct-noisy (plugins/ssl/EVALUATION.md): for each method, pre-train,
# then probe the frozen pooled encoder features and the same architecture at random init.
#
#   benchmarks/ssl_synthact.sh [OUT_DIR] [METHOD ...]     # default runs/ssl_synthact, mamp stars skeletonmae
#   METHODS: mamp stars skeletonmae (also hiclr halp msclr, whose *_noisy.yaml recipes ride on theirs)
#
# Finished pre-training runs (summary.json present) are reused, so re-running only re-evaluates.
# Measured on 2 busy shared CPU cores: pre-training 43 s (MAMP) to 6 min (HiCLR), ~4 min of probes per method.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/ssl_synthact}
shift || true
METHODS=${*:-mamp stars skeletonmae}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RUN="nice -n 5"
R=recipes/synthact/ssl

pretrain() {  # NAME RECIPE [overrides...]
  local name=$1 recipe=$2; shift 2
  [ -f "$OUT/$name/summary.json" ] || $RUN fusion train "$recipe" --out "$OUT/$name" "$@"
}

probe() {  # NAME: every protocol, pre-trained and random init
  local run=$OUT/$1 init
  for init in checkpoint random; do
    E="$RUN fusion eval $run --checkpoint last --init $init"
    $E --protocol linear
    $E --protocol knn --k 1
    $E --protocol semi --mode linear --fraction 0.01 --balanced --seeds 0 1 2 3 4   # 1 clip per class
    $E --protocol semi --mode linear --fraction 0.1 --balanced --seeds 0 1 2 3 4    # 3 clips per class
    $E --protocol fewshot --shots 1 --episodes 50
    $E --protocol fewshot --shots 5 --episodes 50
  done
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
cols = [("linear", {}), ("knn", {}), ("semi", {"fraction": 0.01}), ("semi", {"fraction": 0.1}),
        ("fewshot", {"shots": 1}), ("fewshot", {"shots": 5})]
names = ["linear", "kNN (1-NN)", "linear 1/class", "linear 3/class", "1-shot", "5-shot"]
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
        fmt = lambda d: "–" if d is None else f"{d['top1']:.3f}"
        cells.append(f"**{fmt(p)}** / {fmt(r)}" if p and r and p["top1"] > r["top1"] else f"{fmt(p)} / {fmt(r)}")
    print(f"| {m} | {s['epochs']} ep, {s['seconds']:.0f} s | " + " | ".join(cells) + " |")
print("\ncells: pre-trained / random init (same architecture), top-1 on the SynthAct-noisy xsub test split;"
      " bold: pre-training wins. semi and few-shot: mean over 5 subsets / 50 episodes.")
PY
