"""The training loop. Read top-down: setup, resume, epochs (steps, eval, checkpoints), summary.

One code path for one process and for ``torchrun``/``accelerate launch``: Accelerate prepares the
model+objective, optimiser and loaders; the sampler's order depends only on (seed, epoch), and
checkpoints record the position inside an epoch, so a resumed run continues exactly where the
interrupted one stopped.
"""

from __future__ import annotations

import json
import math
import platform
import signal
import sys
import time
from importlib import metadata
from pathlib import Path

import torch
from accelerate.utils import set_seed
from tqdm import tqdm

from fusion.data.workers import guard_workers
from fusion.errors import TrainingError
from fusion.model import count_parameters
from fusion.recipe import dump_recipe
from fusion.train import checkpoint as ckpt
from fusion.train import plots
from fusion.train.accel import make_accelerator
from fusion.train.build import build_all, build_loader
from fusion.train.evaluate import evaluate, save_predictions
from fusion.train.logger import RunLogger
from fusion.train.optim import build_optimizer, build_schedule, make_plateau


class GracefulStop(Exception):
    """Raised after a signal-triggered checkpoint; carries the message telling how to resume."""


def environment_info(registry) -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    packages = ["torch", "torchvision", "accelerate", "pluggy", "timm", "pytorchvideo", "numpy", "fusion-har"]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: version(p) for p in packages},
        "plugins": sorted({s.plugin for s in registry.all_specs()}),
        "plugin_failures": [str(f) for f in registry.failures],
        "cuda": torch.cuda.is_available(),
    }


class Trainer:
    """Trains ``recipe`` into ``run_dir``; ``resume=True`` continues from ``run_dir``'s last checkpoint."""

    def __init__(self, recipe: dict, run_dir: str | Path, resume: bool = False, progress: bool = True):
        self.recipe, self.run_dir, self.resume = recipe, Path(run_dir), resume
        self.progress = progress
        self._signal = None

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        train_cfg = self.recipe["train"]
        self.accelerator = acc = make_accelerator(
            train_cfg["precision"], train_cfg["accumulate"], train_cfg.get("find_unused_parameters", False)
        )
        if train_cfg["batch_size"] % acc.num_processes:
            raise TrainingError(
                f"train.batch_size={train_cfg['batch_size']} is the global batch and must divide evenly "
                f"over {acc.num_processes} processes"
            )
        set_seed(train_cfg["seed"])
        built = self.built = build_all(self.recipe)
        self.logger = RunLogger(self.run_dir, acc.is_main_process)
        if acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            dump_recipe(self.recipe, self.run_dir / "recipe.yaml")
            (self.run_dir / "environment.json").write_text(json.dumps(environment_info(built.registry), indent=1))
        eval_batch = max(self.recipe["eval"]["batch_size"] // acc.num_processes, 1) * acc.num_processes
        train_loader = build_loader(self.recipe, built.train_set, built.collator, True, train_cfg["batch_size"])
        test_loader = build_loader(self.recipe, built.test_set, built.collator, False, eval_batch)
        self.sampler = train_loader.sampler
        steps_per_epoch = math.ceil(len(train_loader) / train_cfg["accumulate"])
        optimizer = build_optimizer(built.module, train_cfg["optimizer"])
        self.plateau = make_plateau(train_cfg["schedule"])
        self.schedule = build_schedule(
            optimizer, train_cfg["schedule"], steps_per_epoch, train_cfg["epochs"], train_cfg["optimizer"]["lr"],
            self.plateau,
        )
        self.module, self.optimizer, self.train_loader, self.test_loader = acc.prepare(
            built.module, optimizer, train_loader, test_loader
        )
        self.state = {"epoch": 0, "batch_in_epoch": 0, "global_step": 0, "best_top1": -1.0, "history": []}
        if self.resume:
            found = ckpt.find_checkpoint(self.run_dir, "last")
            if found is None:
                raise TrainingError(f"--resume: no complete checkpoint under {self.run_dir / 'checkpoints'}")
            ckpt.load_checkpoint(acc, found)
            self.state = ckpt.read_state(found)
            self.schedule.load_state_dict(self.state.pop("schedule"))
            plateau = self.state.pop("plateau", None)
            if plateau is not None and self.plateau is not None:
                self.plateau.load_state_dict(plateau)
            acc.print(f"resumed from {found} at epoch {self.state['epoch']}, batch {self.state['batch_in_epoch']}")
        self.params = count_parameters(acc.unwrap_model(self.module).model)

    def _install_signal_handlers(self) -> None:
        def handler(signum, frame):
            self._signal = signum

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handler)

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict:
        start = time.time()
        self._setup()
        self._install_signal_handlers()
        acc, cfg = self.accelerator, self.recipe["train"]
        self.registry_event("start", {})
        try:
            while self.state["epoch"] < cfg["epochs"] and not self._max_steps_reached():
                self._train_epoch()
                if self._max_steps_reached() and self.state["batch_in_epoch"] < len(self.train_loader):
                    self._save("last")  # stopped mid-epoch by max_steps: keep the exact position
                    break
                self._end_epoch()
        except GracefulStop as stop:
            self.logger.close()
            raise SystemExit(str(stop)) from None
        seconds = time.time() - start + self.state.get("seconds", 0.0)
        summary = self._summary(seconds)
        self.registry_event("end", {"summary": summary})
        self.logger.close()
        acc.wait_for_everyone()
        return summary

    def _max_steps_reached(self) -> bool:
        limit = self.recipe["train"]["max_steps"]
        return bool(limit) and self.state["global_step"] >= limit

    def _train_epoch(self) -> None:
        acc, cfg, state = self.accelerator, self.recipe["train"], self.state
        epoch = state["epoch"]
        self._last_report = None  # an evaluation is only reused if nothing trained since
        loader = self.train_loader
        if state["batch_in_epoch"]:
            loader = acc.skip_first_batches(self.train_loader, state["batch_in_epoch"])
        # Accelerate's loaders re-set the sampler's epoch from their own iteration count on every
        # __iter__; set both so a resumed run sees the same order as an uninterrupted one.
        for target in (self.sampler, self.built.train_set, self.train_loader, loader):
            target.set_epoch(epoch)
        self.module.train()
        objective = acc.unwrap_model(self.module).objective
        if hasattr(objective, "on_epoch_start"):
            objective.on_epoch_start(acc.unwrap_model(self.module).model, epoch)
        bar = tqdm(
            total=len(self.train_loader), initial=state["batch_in_epoch"], desc=f"epoch {epoch + 1}/{cfg['epochs']}",
            disable=not (self.progress and acc.is_main_process and sys.stderr.isatty()), leave=False,
        )
        if state["batch_in_epoch"] == 0:
            state.update(loss_sum=0.0, loss_count=0)
        seen, skipped, tic = 0, 0, time.time()
        log_sums: dict[str, float] = {}  # the objective's logs (losses per term, MPJPE...), averaged per epoch
        for batch in guard_workers(loader, self.built.train_set):
            if self._no_samples(batch):
                skipped += int(batch["skipped"])
                state["batch_in_epoch"] += 1
                bar.update(1)
                continue
            with acc.accumulate(self.module):
                loss, outputs = self.module(batch)
                self._check_step(loss)
                acc.backward(loss)
                if acc.sync_gradients and cfg["clip_grad"]:
                    acc.clip_grad_norm_(self.module.parameters(), cfg["clip_grad"])
                self.optimizer.step()
                if acc.sync_gradients:
                    self.schedule.step()
                    if hasattr(objective, "on_step_end"):  # EMA teachers, queues, schedule switches
                        objective.on_step_end(acc.unwrap_model(self.module).model, state["global_step"] + 1)
                self.optimizer.zero_grad()
            state["batch_in_epoch"] += 1
            state["global_step"] += int(acc.sync_gradients)
            state["loss_sum"] += float(loss.detach())
            state["loss_count"] += 1
            for name, value in (outputs.get("logs") or {}).items():
                if torch.is_tensor(value) and value.numel() == 1 or isinstance(value, (int, float)):
                    log_sums[name] = log_sums.get(name, 0.0) + float(value)
            seen += len(batch["label"]) * acc.num_processes
            skipped += int(batch["skipped"])
            bar.update(1)
            if state["global_step"] % cfg["log_every"] == 0 and acc.sync_gradients:
                self.logger.log({"event": "step", "epoch": epoch, "step": state["global_step"], "loss": float(loss.detach()),
                                 "lr": self.schedule.get_last_lr()[0]}, step=state["global_step"])
            every = cfg["checkpoint_every_steps"]
            if every and acc.sync_gradients and state["global_step"] % every == 0:
                self._save("last")
            if self._max_steps_reached():
                break
        bar.close()
        self._epoch_stats = {
            "train_loss": state["loss_sum"] / max(state["loss_count"], 1),
            "lr": self.schedule.get_last_lr()[0],
            "samples_per_s": seen / max(time.time() - tic, 1e-9),
            "skipped": int(acc.reduce(torch.tensor(skipped, device=acc.device), "sum")),
        }
        batches = max(state["batch_in_epoch"], 1)
        self._epoch_logs = {f"train_{name}": total / batches for name, total in log_sums.items()}

    def _no_samples(self, batch: dict) -> bool:
        """Whether a rank's batch lost every sample to ``data.on_error: skip``: all ranks then skip the step
        together (a loss over no samples is NaN, and a rank that skips alone would hang the others)."""
        if self.recipe["data"]["on_error"] != "skip":
            return False
        acc = self.accelerator
        empty = torch.tensor(float(len(batch["label"]) == 0), device=acc.device)
        if acc.num_processes > 1:
            empty = acc.reduce(empty, "sum")
        return bool(empty > 0)

    def _check_step(self, loss: torch.Tensor) -> None:
        """Stop on a non-finite loss (any rank) or a received signal (any rank), all ranks together."""
        acc = self.accelerator
        flags = torch.tensor([float(not torch.isfinite(loss.detach()).all()), float(self._signal is not None)],
                             device=acc.device)
        if acc.num_processes > 1:
            flags = acc.reduce(flags, "sum")
        if flags[0] > 0:
            last = ckpt.find_checkpoint(self.run_dir, "last")
            raise TrainingError(
                f"loss became {float(loss.detach()):.4g} at epoch {self.state['epoch'] + 1}, step {self.state['global_step']}; "
                f"training stopped. Last good checkpoint: {last or 'none yet'}. "
                "Lower train.optimizer.lr or set train.clip_grad."
            )
        if flags[1] > 0:
            self._save("last")
            name = signal.Signals(self._signal).name if self._signal else "a signal on another rank"
            source = self.recipe.get("source", "RECIPE")
            raise GracefulStop(
                f"stopped by {name} at epoch {self.state['epoch'] + 1}, batch {self.state['batch_in_epoch']}; "
                f"checkpoint saved in {self.run_dir / 'checkpoints' / 'last'}. Resume with: "
                f"fusion train {source} --out {self.run_dir} --resume"
            )

    def _end_epoch(self) -> None:
        acc, state, cfg = self.accelerator, self.state, self.recipe["train"]
        epoch = state["epoch"]
        record = {"epoch": epoch + 1, **self._epoch_stats}
        last_epoch = epoch + 1 >= cfg["epochs"]
        if (epoch + 1) % cfg["eval_every"] == 0 or last_epoch:
            report, predictions = evaluate(acc, acc.unwrap_model(self.module).model, self.test_loader,
                                           self.built.num_classes, self.recipe["eval"]["clips"])
            record.update(top1=report["top1"], top5=report["top5"], mean_class_accuracy=report["mean_class_accuracy"])
            if self.plateau is not None and "loss" in report:  # ReduceLROnPlateau on the test loss
                self.plateau.step(report["loss"])
                record.update(test_loss=report["loss"], lr_scale=self.plateau.scale)
            self._last_report, self._last_predictions = report, predictions
            self.logger.log({"event": "eval", **record, "per_class": report["per_class"]}, step=state["global_step"])
            if report["top1"] > state["best_top1"]:
                state["best_top1"] = report["top1"]
                state["best_epoch"] = epoch + 1
                self._save("best", advance=True)
        self.logger.log({"event": "epoch", **record, **getattr(self, "_epoch_logs", {})}, step=state["global_step"])
        acc.print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        state["history"].append(record)
        self.registry_event("epoch_end", record)
        self._save("last", advance=True)

    def _save(self, name: str, advance: bool = False) -> None:
        """Checkpoint; ``advance`` records the state as of the start of the next epoch."""
        state = dict(self.state, schedule=self.schedule.state_dict())  # JSON: numbers only, no pickle
        if self.plateau is not None:
            state["plateau"] = self.plateau.state_dict()
        if advance:
            state.update(epoch=state["epoch"] + 1, batch_in_epoch=0)
        ckpt.save_checkpoint(self.accelerator, self.run_dir, name, state)
        if advance and name == "last":
            self.state.update(epoch=state["epoch"], batch_in_epoch=0)
        self.registry_event("checkpoint", {"name": name, "epoch": state["epoch"]})

    def registry_event(self, event: str, extra: dict) -> None:
        if self.accelerator.is_main_process:
            self.built.registry.call_event("fusion_run_event", event=event,
                                           state={"run_dir": str(self.run_dir), **self.state, **extra})

    # ------------------------------------------------------------------ outputs
    def _summary(self, seconds: float) -> dict:
        acc = self.accelerator
        report = getattr(self, "_last_report", None)
        if report is None:  # stopped mid-epoch, or resumed after the end: evaluate the current weights
            report, self._last_predictions = evaluate(acc, acc.unwrap_model(self.module).model, self.test_loader,
                                                      self.built.num_classes, self.recipe["eval"]["clips"])
        summary = {
            "test": {k: report[k] for k in ("top1", "top5", "mean_class_accuracy", "per_class", "count",
                                            "unique_indices")},
            "best": {"top1": self.state["best_top1"], "epoch": self.state.get("best_epoch")},
            "params": self.params,
            "epochs": self.state["epoch"],
            "steps": self.state["global_step"],
            "skipped_per_epoch": [record.get("skipped", 0) for record in self.state["history"]],  # data.on_error: skip
            "seconds": round(seconds, 2),
            "processes": acc.num_processes,
            "class_names": self.built.class_names,
        }
        if acc.is_main_process:
            run = self.run_dir
            (run / "summary.json").write_text(json.dumps(summary, indent=1))
            save_predictions(run / "predictions.npz", self._last_predictions, self.built.class_names)
            plots.plot_curves(self.state["history"], run / "curves.png")
            plots.plot_confusion(report["confusion"], self.built.class_names, run / "confusion.png")
            write_report(run, self.recipe, summary)
        return summary


def write_report(run_dir: Path, recipe: dict, summary: dict) -> None:
    test = summary["test"]
    lines = [
        f"# Run report: {recipe.get('name') or recipe.get('source')}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| test top-1 | {test['top1']:.4f} |",
        f"| test top-5 | {test['top5']:.4f} |",
        f"| mean class accuracy | {test['mean_class_accuracy']:.4f} |",
        f"| test samples | {test['count']} |",
        f"| trainable parameters | {summary['params']:,} |",
        f"| epochs | {summary['epochs']} |",
        f"| wall time (s) | {summary['seconds']} |",
        f"| processes | {summary['processes']} |",
        "",
        "![curves](curves.png)",
        "",
        "![confusion](confusion.png)",
        "",
    ]
    (run_dir / "report.md").write_text("\n".join(lines))
