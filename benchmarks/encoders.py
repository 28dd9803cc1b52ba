"""Time one training step (forward + backward) of every modality encoder on this machine's CPU.

For each encoder, in its small (CPU) configuration at a stated input size, this reports the median
step time after warm-up, samples/s, the step's FLOPs (forward + backward, counted by
``torch.utils.flop_counter.FlopCounterMode``; a multiply-add is 2 FLOPs) and the GFLOP/s achieved.
The loss is the sum of the pooled features, so the step is the encoder's own cost.

    python benchmarks/encoders.py                      # every encoder, batch 8, markdown table
    python benchmarks/encoders.py --only stgcn ctrgcn --batch 16 --threads 2 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from fusion.bench.profile import median_seconds


@dataclass
class Case:
    """One encoder to time: the registry name, how to build its small configuration, one sample's shape."""

    name: str
    build: Callable[[], torch.nn.Module]
    sample_shape: tuple[int, ...]


def cases() -> list[Case]:
    from fusion_plugins.depth.encoders import FACTORIES as DEPTH
    from fusion_plugins.pointcloud import temporal, two_stack
    from fusion_plugins.rgb.encoders import VIDEO_FACTORIES, r2plus1d, slowfast, x3d
    from fusion_plugins.rgb.encoders.xshiftnet import POSE_SMALL, RGB_SMALL, xshiftnet_pose
    from fusion_plugins.skeleton.ctrgcn import ctrgcn
    from fusion_plugins.skeleton.stgcn import stgcn
    from fusion_plugins.skeleton.stgcnpp import stgcnpp
    from fusion_plugins.skeleton.transformer import skeleton_transformer

    skeleton, video = (3, 32, 25, 1), (3, 8, 64, 64)
    return [
        Case("stgcn", lambda: stgcn(config="small"), skeleton),
        Case("ctrgcn", lambda: ctrgcn(config="small", num_persons=1), skeleton),
        Case("stgcnpp", lambda: stgcnpp(layout="ntu25", config="small"), skeleton),
        Case("skeleton_transformer", lambda: skeleton_transformer(config="small", frames=32), skeleton),
        Case("xshiftnet_rgb", lambda: VIDEO_FACTORIES["xshiftnet_rgb"](**RGB_SMALL), video),
        Case("xshiftnet_pose", lambda: xshiftnet_pose(**POSE_SMALL), (17, 24, 16, 16)),
        Case("x3d_xs", lambda: VIDEO_FACTORIES["x3d_xs"](**x3d.SMALL), video),
        Case("slowfast_r50", lambda: VIDEO_FACTORIES["slowfast_r50"](**slowfast.SMALL), video),
        Case("r2plus1d_r50", lambda: VIDEO_FACTORIES["r2plus1d_r50"](**r2plus1d.SMALL), video),
        Case("tsm", lambda: VIDEO_FACTORIES["tsm"](backbone="resnet18"), video),
        Case("depth_xshiftnet", lambda: DEPTH["depth_xshiftnet"](**RGB_SMALL), (1, 8, 64, 64)),
        Case("pointnet2_temporal", lambda: temporal.pointnet2_temporal(**temporal.SMALL), (8, 128, 3)),
        Case("pointnet2_two_stack", lambda: two_stack.pointnet2_two_stack(in_channels=3, **two_stack.SMALL),
             (2, 256, 3)),
    ]


def train_step(model: torch.nn.Module, x: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(x).pooled.sum().backward()


def step_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        train_step(model, x)
    return counter.get_total_flops()


def time_case(case: Case, batch: int, runs: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = case.build().train()
    x = torch.rand(batch, *case.sample_shape)
    flops = step_flops(model, x)
    seconds = median_seconds(lambda: train_step(model, x), runs, warmup, lambda: None)
    return {
        "encoder": case.name,
        "input": [batch, *case.sample_shape],
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "step_ms": seconds * 1e3,
        "samples_per_s": batch / seconds,
        "train_gflops_per_sample": flops / batch / 1e9,
        "achieved_gflops_per_s": flops / seconds / 1e9,
    }


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", "| encoder | input (B, ...) | params | step ms | samples/s | train GFLOPs/sample | GFLOP/s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['encoder']} | {'x'.join(map(str, r['input']))} | {r['params']:,} | {r['step_ms']:.1f} | "
                     f"{r['samples_per_s']:.1f} | {r['train_gflops_per_sample']:.3f} | {r['achieved_gflops_per_s']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5, help="timed steps; the median is reported")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--only", nargs="*", help="encoder names to time (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    selected = [c for c in cases() if not args.only or c.name in args.only]
    unknown = set(args.only or ()) - {c.name for c in selected}
    if unknown:
        parser.error(f"unknown encoders {sorted(unknown)}; known: {', '.join(c.name for c in cases())}")
    rows = []
    for case in selected:
        rows.append(time_case(case, args.batch, args.runs, args.warmup))
        print(f"{case.name}: {rows[-1]['samples_per_s']:.1f} samples/s", file=sys.stderr)
    header = (f"CPU training step (forward + backward), batch {args.batch}, median of {args.runs} after {args.warmup} "
              f"warm-up; {platform.processor() or platform.machine()}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads")
    print(json.dumps({"setup": header, "rows": rows}, indent=1) if args.json else markdown(rows, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
