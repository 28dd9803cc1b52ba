"""Fast paths vs reference implementations: train-step and inference time per paper model, one process.

Each model is built once; reference and fast steps alternate on the same parameters (the order flips
every round, so a change in machine load hits both alike), and the medians of ``--steps`` rounds after
``--warmup`` are compared. Train step: forward, a fixed linear loss on the pooled features, backward.
Inference: reference = ``model.eval()`` with the reference forward, fast = ``fuse_for_inference(model)``
(BN folded) with the fast forward, both under ``torch.inference_mode``. Wall time is the measure; the
process CPU time is printed too (it is less disturbed by other processes on a shared machine).

    python benchmarks/train_speed.py                      # all models, (16, 3, 64, 25, 2), 2 threads
    python benchmarks/train_speed.py --models ctrgcn stgcn --batch 4 --steps 8 --out speed.md
    python benchmarks/train_speed.py --models ctrgcn --compile   # adds a torch.compile column (slow to build)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from fusion.fastpath import fuse_for_inference, use_reference


def skeleton_models(frames: int) -> dict[str, tuple[Callable[[], nn.Module], int, int]]:
    """name -> (factory, in_channels, joints) for the paper configurations."""
    from fusion_plugins.skeleton.ctrgcn import ctrgcn
    from fusion_plugins.skeleton.stgcn import stgcn
    from fusion_plugins.skeleton.stgcnpp import stgcnpp
    from fusion_plugins.skeleton.transformer import skeleton_transformer
    from fusion_plugins.skeleton_methods.hypergcn import hypergcn
    from fusion_plugins.skeleton_methods.psumnet import psumnet

    return {
        "ctrgcn": (ctrgcn, 3, 25),
        "hypergcn": (hypergcn, 3, 25),
        "psumnet": (lambda: psumnet(part="body"), 12, 25),
        "stgcn": (stgcn, 3, 25),
        "stgcnpp": (stgcnpp, 3, 25),
        "mamp_transformer": (lambda: skeleton_transformer(frames=frames), 3, 25),
    }


MODELS = ("ctrgcn", "hypergcn", "psumnet", "stgcn", "stgcnpp", "mamp_transformer", "mamp_pretrain", "xshiftnet_rgb")


class MAMPStep(nn.Module):
    """MAMP pre-training as a model: encoder on the visible tokens, masked decoder, masked-motion loss as ``pooled``
    (a fixed mask, so reference and fast steps do the same work)."""

    def __init__(self, frames: int):
        super().__init__()
        from fusion_plugins.skeleton.transformer import skeleton_transformer
        from fusion_plugins.ssl.mamp import MAMP

        self.encoder, self.objective = skeleton_transformer(frames=frames), MAMP(frames=frames)

    def forward(self, x: torch.Tensor):
        from fusion.types import Features
        from fusion_plugins.ssl.mamp import masked_mse

        seq = self.encoder.fold_persons(x)
        mask = self.objective.masking(self.encoder.patchify(seq), torch.Generator().manual_seed(0))
        pred = self.objective.reconstruct(self.encoder, seq, mask)
        loss = masked_mse(pred, self.objective.targets(self.encoder, seq), mask.mask)
        return Features(pooled=loss.reshape(1, 1))


def build(name: str, args) -> tuple[nn.Module, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if name == "mamp_pretrain":
        return MAMPStep(args.frames), torch.randn(args.batch, 3, args.frames, 25, args.persons, generator=generator)
    if name == "xshiftnet_rgb":
        from fusion_plugins.rgb.encoders.xshiftnet import xshiftnet_rgb

        return xshiftnet_rgb(), torch.randn(args.video_batch, 3, args.video_frames, args.video_size, args.video_size,
                                            generator=generator)
    factory, channels, joints = skeleton_models(args.frames)[name]
    return factory(), torch.randn(args.batch, channels, args.frames, joints, args.persons, generator=generator)


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def train_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        pooled = model(x).pooled
        (pooled * torch.linspace(-1, 1, pooled.shape[-1])).sum().backward()

    return step


def infer_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            model(x)

    return step


def alternate(steps: dict[str, Callable[[], None]], rounds: int, warmup: int) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) seconds per variant; the variants' order flips every round."""
    names = list(steps)
    samples: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for i in range(warmup + rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            result = timed(steps[name])
            if i >= warmup:
                samples[name].append(result)
    return {n: (statistics.median(s[0] for s in v), statistics.median(s[1] for s in v)) for n, v in samples.items()}


def measure(name: str, args) -> dict[str, dict[str, tuple[float, float]]]:
    torch.manual_seed(0)
    model, x = build(name, args)
    reference = use_reference(model, True)
    import copy

    fast = use_reference(copy.deepcopy(model), False)
    variants = {"reference": train_step(reference, x), "fast": train_step(fast, x)}
    compile_seconds = None
    if args.compile:
        compiled = copy.deepcopy(fast)
        compiled.compile()
        compile_seconds, _ = timed(train_step(compiled, x))
        variants["compiled"] = train_step(compiled, x)
    train = alternate(variants, args.steps, args.warmup)
    if name == "mamp_pretrain":  # a pre-training objective has no inference
        return {"train": train, "infer": None, "compile_seconds": compile_seconds, "input": tuple(x.shape)}
    reference.eval()
    fused = use_reference(fuse_for_inference(model), False)
    infer = alternate({"reference": infer_step(reference, x), "fast": infer_step(fused, x)}, args.steps, args.warmup)
    return {"train": train, "infer": infer, "compile_seconds": compile_seconds, "input": tuple(x.shape)}


def table(results: dict[str, dict], args) -> str:
    lines = [
        f"threads {torch.get_num_threads()}, medians of {args.steps} alternating steps after {args.warmup} warm-up; "
        "ratio = reference / fast (wall; CPU-time ratio in brackets)",
        "",
        "| model | input | train ref (s) | train fast (s) | train ratio | infer ref (s) | infer fast (s) | infer ratio |"
        + (" compiled train (s) | compile (s) |" if args.compile else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|---|" if args.compile else ""),
    ]
    for name, r in results.items():
        tr, inf = r["train"], r["infer"]
        row = (f"| {name} | {r['input']} | {tr['reference'][0]:.3f} | {tr['fast'][0]:.3f} | "
               f"**{tr['reference'][0] / tr['fast'][0]:.2f}×** ({tr['reference'][1] / tr['fast'][1]:.2f}) | ")
        row += ("- | - | - |" if inf is None else f"{inf['reference'][0]:.3f} | {inf['fast'][0]:.3f} | "
                f"**{inf['reference'][0] / inf['fast'][0]:.2f}×** ({inf['reference'][1] / inf['fast'][1]:.2f}) |")
        if args.compile:
            row += f" {tr['compiled'][0]:.3f} | {r['compile_seconds']:.1f} |"
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--persons", type=int, default=2)
    parser.add_argument("--video-batch", type=int, default=2)
    parser.add_argument("--video-frames", type=int, default=16)
    parser.add_argument("--video-size", type=int, default=112)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time the fast path under torch.compile")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name in args.models:
        results[name] = measure(name, args)
        print(table({name: results[name]}, args).splitlines()[-1], flush=True)
    text = table(results, args)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
