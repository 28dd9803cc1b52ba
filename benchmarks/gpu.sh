#!/usr/bin/env bash
# GPU check for issue 20, a few minutes on one CUDA machine: training samples/s of CTR-GCN, MAMP and X3D
# in fp32, bf16 autocast and torch.compile (benchmarks/gpu_throughput.py), then a 2-process torchrun
# launch of the same (DDP; NCCL with two GPUs, gloo when both processes share one). Results: one JSON
# line per run in $OUT_FILE (default gpu_results.jsonl; under $OUT when set, as on the lent device) and
# a markdown table on stdout, for docs/performance.md. Never part of CI.
#
#   bash benchmarks/gpu.sh                 # all of it
#   MODELS="ctrgcn" MODES="fp32 bf16" bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_FILE=${OUT_FILE:-${OUT:-.}/gpu_results.jsonl}
MODELS=${MODELS:-"ctrgcn mamp x3d"}
MODES=${MODES:-"fp32 bf16 compile"}
STEPS=${STEPS:-20}
: > "$OUT_FILE"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "${OUT_FILE%.jsonl}.gpu.txt"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
# shellcheck disable=SC2086
timeout 420 python benchmarks/gpu_throughput.py --models $MODELS --modes $MODES --steps "$STEPS" --out "$OUT_FILE" \
  || echo "single-process runs stopped early (status $?)"
# shellcheck disable=SC2086
timeout 150 torchrun --standalone --nproc_per_node=2 benchmarks/gpu_throughput.py --models ctrgcn --modes fp32 bf16 \
  --steps "$STEPS" --out "$OUT_FILE" || echo "2-process run stopped early (status $?)"
python - "$OUT_FILE" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
if rows:
    print(f"\n{rows[0]['device']}, torch {rows[0]['torch']}\n")
print("| model | mode | processes | batch/process | samples/s | step (ms) | compile (s) | peak memory (GiB) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    compile_s = f"{r['compile_s']:.0f}" if r["compile_s"] else ""
    print(f"| {r['model']} | {r['mode']} | {r['processes']} | {r['batch_per_process']} | {r['samples_per_s']:.0f} | "
          f"{r['step_ms']:.1f} | {compile_s} | {r['max_memory_gib']:.1f} |")
EOF
