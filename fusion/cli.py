"""The ``fusion`` command: list, train, eval, convert, export, predict, profile, bench, fuse-scores, data, plugin.

Plugins add commands (and ``fusion data`` verbs) through the ``fusion_add_commands`` hook.

Errors Fusion raises on purpose (:class:`fusion.errors.FusionError`) are printed as one clear
message with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

from fusion.errors import FusionError
from fusion.types import KINDS


def _kind(value: str) -> str:
    value = {"modalities": "modality"}.get(value, value[:-1] if value[:-1] in KINDS else value)
    if value not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown kind {value!r}; choose from {', '.join(KINDS)}")
    return value


def _count(low: int):
    """An argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    return parse


def _number(low: float, high: float | None = None):
    """An argparse type: a finite number in [low, high]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"expected a finite number {bounds}, got {text}")
        return value
    return parse


def cmd_list(args) -> int:
    from fusion.registry import get_registry

    registry = get_registry(args.plugin or ())
    specs = registry.all_specs(args.kind)
    if args.args:
        from fusion.argtypes import describe_args

        specs = [s for s in specs if not args.name or s.name in args.name]
    if args.json:
        rows = [{"kind": s.kind, "name": s.name, "plugin": s.plugin, "doc": s.doc} | _extra(s)
                | ({"args": describe_args(s)} if args.args else {}) for s in specs]
        print(json.dumps(rows, indent=1))
        return 0
    for kind in [args.kind] if args.kind else KINDS:
        rows = [s for s in specs if s.kind == kind]
        if not rows:
            continue
        print("modalities:" if kind == "modality" else f"{kind}s:")
        width = max(len(s.name) for s in rows)
        for s in rows:
            print(f"  {s.name:<{width}}  [{s.plugin}]  {s.doc}")
            for arg in describe_args(s) if args.args else ():
                doc = f"  {arg['doc']}" if arg["doc"] else ""
                print(f"      {arg['name']}: {arg['type']} = {arg['default']}{doc}")
            if args.args and getattr(s, "batch", ()):
                print(f"      reads batch: {', '.join(s.batch)}")
            for field in getattr(s, "aux", ()) if args.args else ():
                when = f" (with {field.when})" if field.when else ""
                print(f"      {'reads' if s.kind == 'objective' else 'fills'} aux {field.name}: {field.doc}{when}")
    for failure in registry.failures:
        print(f"warning: {failure}", file=sys.stderr)
    return 0


def _extra(spec) -> dict:
    extra = {}
    for attr in ("modality", "provides", "needs", "modalities"):
        value = getattr(spec, attr, None)
        if value:
            extra[attr] = sorted(value) if isinstance(value, (set, frozenset)) else (
                {k: sorted(v) for k, v in value.items()} if isinstance(value, dict) else value)
    if getattr(spec, "aux", ()):  # declared auxiliary outputs (encoders, mixers) or reads (objectives)
        extra["aux"] = [{"name": f.name, "doc": f.doc, "provider": f.provider, "when": f.when} for f in spec.aux]
    if getattr(spec, "batch", ()):
        extra["batch"] = list(spec.batch)
    return extra


def default_run_dir(recipe: dict) -> Path:
    name = recipe.get("name") or Path(recipe["source"]).stem
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def cmd_train(args) -> int:
    if args.processes and args.processes > 1 and "WORLD_SIZE" not in os.environ:
        return _relaunch_with_torchrun(args.processes)
    from fusion.recipe import load_recipe, validate
    from fusion.train.build import registry_for
    from fusion.train.trainer import Trainer

    overrides = [*args.overrides, f"train.threads={args.threads}"] if args.threads is not None else args.overrides
    recipe = load_recipe(args.recipe, overrides)
    registry = registry_for(recipe)
    validate(recipe, registry)
    run_dir = Path(args.out) if args.out else default_run_dir(recipe)
    summary = Trainer(recipe, run_dir, resume=args.resume, overwrite=args.overwrite).fit()
    if int(os.environ.get("RANK", "0")) == 0:
        val = summary.get("val") or {}
        if val.get("epoch") and "top1" in val:
            print(f"val top-1 {val['top1']:.4f} (best, epoch {val['epoch']}; {val['rule']})")
        elif val.get("epoch"):  # a pretext-only run: the encoder's kNN probe
            print(f"val kNN top-1 {val['knn_top1']:.4f} (best, epoch {val['epoch']}; {val['rule']})")
        print(f"{summary['result']}  ({summary['seconds']:.1f} s, {summary['params']:,} parameters) -> {run_dir}")
    return 0


def _without_option(argv: list[str], name: str) -> list[str]:
    out, skip_next = [], False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg == name:
            skip_next = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def _relaunch_with_torchrun(processes: int) -> int:
    """Re-run this command under torchrun so that N processes form one data-parallel job."""
    argv = _without_option(sys.argv[1:], "--processes")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
           "-m", "fusion", *argv]
    os.execv(sys.executable, cmd)
    return 0  # pragma: no cover


def cmd_eval(args) -> int:
    if args.protocol:
        return _eval_protocol(args)
    from fusion.train.eval_run import evaluate_run

    report = evaluate_run(Path(args.run_dir), args.checkpoint, args.overrides, trust_plugins=args.trust_plugins)
    print(f"{report['result']}  on {report['count']} samples ({report['checkpoint']}) -> {report['output']}")
    return 0


def _eval_protocol(args) -> int:
    """``fusion eval RUN --protocol NAME``: run by the plugin that implements ``fusion_run_protocol`` (ssl)."""
    from fusion.registry import get_registry

    # only what the command line gives: the protocol defaults live once, in the plugin's options
    names = ("checkpoint", "init", "epochs", "lr", "weight_decay", "classes", "modality", "mode", "batch_size", "head",
             "k", "temperature", "fraction", "seeds", "layer_decay", "label_smoothing", "warmup_epochs", "shots",
             "episodes")
    options = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    options.update({"balanced": True} if args.balanced else {}, **({"cache": False} if args.no_feature_cache else {}))
    result = get_registry().manager.hook.fusion_run_protocol(
        run_dir=Path(args.run_dir), protocol=args.protocol, options=options, overrides=list(args.overrides),
        trust_plugins=args.trust_plugins)
    if result is None:
        raise FusionError(f"--protocol {args.protocol}: no installed plugin runs evaluation protocols (the ssl plugin "
                          "does); install it or drop --protocol")
    extra = f" ± {result['top1_std']:.4f}" if "top1_std" in result else ""
    print(f"{args.protocol} ({result['init']}) top-1 {result['top1']:.4f}{extra} -> {result['output']}")
    return 0


def cmd_convert(args) -> int:
    """``fusion convert FORMAT SOURCE --recipe R --out W.safetensors``: an official checkpoint as Fusion weights."""
    from fusion.convert import convert_file

    report = convert_file(args.format, args.source, args.recipe, args.out, args.overrides, args.run)
    for line in report.lines():
        print(line)
    print(f"wrote {args.out}; use it with model.init.checkpoint={args.out}")
    if args.run:
        print(f"wrote run {args.run}; evaluate it with: fusion eval {args.run}")
    return 0


def cmd_plugin_new(args) -> int:
    from fusion.scaffold import write_plugin

    path = write_plugin(args.name, Path(args.dir))
    print(f"wrote plugin distribution {path}; install it with: pip install -e {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fusion", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="show every registered component and its plugin")
    p.add_argument("kind", nargs="?", type=_kind, help=f"one of {', '.join(KINDS)} (plural accepted)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plugin", action="append", help="also load this module as a plugin")
    p.add_argument("--args", action="store_true", help="also print each component's recipe arguments: name, type, "
                   "default and doc")
    p.add_argument("--name", action="append", help="only this component (with --args; repeatable)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", help="train a recipe")
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", help="key.sub=value (YAML values)")
    p.add_argument("--out", help="run directory (default runs/NAME-TIME)")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="--out holds a run: move it aside to OUT.old-TIME and start again")
    p.add_argument("--processes", type=_count(0), default=0, help="data-parallel processes (relaunches via torchrun)")
    p.add_argument("--threads", type=int, help="CPU threads per process (= train.threads; default: cores / processes, "
                   "fewer when the machine is busy, or OMP_NUM_THREADS)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a run's best or last checkpoint")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="e.g. eval.split=test eval.drop=[depth]")
    p.add_argument("--checkpoint", choices=["best", "last"], default=None)
    p.add_argument("--trust-plugins", action="store_true",
                   help="import the run's recipe plugins: (code) even though you did not train this run here")
    p.add_argument("--protocol", help="representation evaluation of the run's encoder instead of its classifier, run "
                   "by a plugin (ssl: linear, knn, finetune, semi, fewshot)")
    p.add_argument("--init", choices=["checkpoint", "random"],
                   help="checkpoint (default) or random: the same architecture untrained (the baseline)")
    p.add_argument("--modality", help="encoder to evaluate (default: the first)")
    p.add_argument("--epochs", type=_count(1), help="linear/finetune/semi epochs (default 100)")
    p.add_argument("--lr", type=_number(0), help="linear 0.1, finetune 5e-4 by default")
    p.add_argument("--weight-decay", type=_number(0), help="linear 0, finetune 0.05 by default")
    p.add_argument("--batch-size", type=_count(1), help="linear probe batch (default 128)")
    p.add_argument("--head", choices=["bn_linear", "linear"], help="linear probe head (default bn_linear)")
    p.add_argument("--k", type=_count(1), help="kNN neighbours (1: 1-NN)")
    p.add_argument("--temperature", type=_number(0), help="kNN weight exp(sim/T); 0: plain votes")
    p.add_argument("--fraction", type=float, help="semi: labelled fraction (0.01, 0.1)")
    p.add_argument("--balanced", action="store_true", help="semi: class-balanced subset (default random)")
    p.add_argument("--seeds", type=int, nargs="+", help="semi: subset seeds (mean reported)")
    p.add_argument("--mode", help="semi: what trains (finetune, the default, or linear)")
    p.add_argument("--layer-decay", type=_number(0, 1), help="finetune: layer-wise lr decay")
    p.add_argument("--label-smoothing", type=_number(0, 1), help="finetune: label smoothing")
    p.add_argument("--warmup-epochs", type=_number(0), help="finetune: warm-up epochs")
    p.add_argument("--shots", type=_count(1), help="fewshot: labelled samples per class")
    p.add_argument("--episodes", type=_count(1), help="fewshot: episodes averaged")
    p.add_argument("--classes", type=int, nargs="+", help="fewshot: held-out class ids (default: second half)")
    p.add_argument("--no-feature-cache", action="store_true",
                   help="linear/knn/fewshot: extract frozen features again; neither read nor write RUN_DIR/feature-cache")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("convert", help="convert an official checkpoint into Fusion weights (safetensors)")
    p.add_argument("format", help="checkpoint format (fusion list checkpoint_formats)")
    p.add_argument("source", help="the official checkpoint file (read without running code)")
    p.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    p.add_argument("--recipe", required=True, help="the recipe whose model receives the weights")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--run", help="also write this new folder as an evaluable run (fusion eval RUN)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("plugin", help="plugin authoring")
    plugin_sub = p.add_subparsers(dest="plugin_command", required=True)
    q = plugin_sub.add_parser("new", help="write a new installable plugin distribution")
    q.add_argument("name")
    q.add_argument("--dir", default=".", help="parent folder of the new distribution")
    q.set_defaults(func=cmd_plugin_new)

    data_commands = None
    for extension in _EXTENSIONS:
        added = extension(sub)
        data_commands = added if extension is _data_commands else data_commands
    _plugin_commands(sub, data_commands)
    return parser


def _plugin_commands(sub, data_commands) -> None:
    """Verbs the installed plugins add (``fusion_add_commands``), e.g. ``fusion data synthact``."""
    from fusion.registry import get_registry

    get_registry().manager.hook.fusion_add_commands(commands=sub, data_commands=data_commands)


def _profile_commands(sub) -> None:
    try:
        from fusion.bench.cli import add_commands
    except ImportError:
        return
    add_commands(sub)


def _data_commands(sub) -> None:
    try:
        from fusion.data.cli import add_commands
    except ImportError:
        return None
    return add_commands(sub)


def _bench_commands(sub) -> None:
    from fusion.bench.bench_cli import add_commands

    add_commands(sub)


def _export_commands(sub) -> None:
    from fusion.export.cli import add_commands

    add_commands(sub)


def _predict_commands(sub) -> None:
    from fusion.predict.cli import add_commands

    add_commands(sub)


_EXTENSIONS = [_profile_commands, _bench_commands, _data_commands, _export_commands, _predict_commands]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may follow options (``--out D train.epochs=3``): collect key=value leftovers
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit: let the write fail with EFBIG (one sentence), not kill us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return args.func(args)
    except FusionError as exc:
        print(f"fusion {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a quota, a read-only or forbidden path: the user's to fix, not a bug
        if exc.errno not in _USER_ERRNOS:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"fusion {args.command}: error: cannot write or read{where}: {exc.strerror}", file=sys.stderr)
        return 2


_USER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


if __name__ == "__main__":
    sys.exit(main())
