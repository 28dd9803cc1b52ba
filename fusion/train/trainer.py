"""The training loop. Read top-down: setup, resume, epochs (steps, eval, checkpoints), summary.

One code path for one process and for ``torchrun``/``accelerate launch``: Accelerate prepares the
model+objective, optimiser and loaders; the sampler's order depends only on (seed, epoch), and
checkpoints record the position inside an epoch, so a resumed run continues exactly where the
interrupted one stopped.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import sys
import time
from importlib import metadata
from pathlib import Path

import torch
from accelerate.utils import set_seed

from fusion.data.corruption import time_axes
from fusion.data.workers import guard_workers
from fusion.errors import DataError, TrainingError
from fusion.model import count_parameters
from fusion.recipe import dump_recipe_text, read_yaml
from fusion.train import checkpoint as ckpt
from fusion.train import plots, rundir, trust
from fusion.train.accel import make_accelerator
from fusion.train.build import build_all, build_loader, require_samples
from fusion.train.console import bar, progress_enabled, run_banner
from fusion.train.evaluate import evaluate, save_predictions
from fusion.train.labels import (
    check_eval_conditions,
    check_warmup,
    checkpoint_label,
    describe_conditions,
    result_line,
    warn_one_class,
)
from fusion.train.logger import RunLogger
from fusion.train.optim import build_optimizer, build_schedule, make_plateau
from fusion.train.precise_bn import batches_of, bn_layers, precise_bn_loader, update_bn_stats
from fusion.train.threads import apply_threads


class GracefulStop(Exception):
    """Raised after a signal-triggered checkpoint; carries the message telling how to resume."""


def environment_info(registry, threads=None) -> dict:
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
        "threads": threads.as_dict() if threads is not None else torch.get_num_threads(),
    }


class Trainer:
    """Trains ``recipe`` into ``run_dir``; ``resume=True`` continues from ``run_dir``'s last checkpoint.

    ``run_dir`` must not hold a run unless ``resume`` (``overwrite=True`` moves the old run aside); it is
    locked while training (:mod:`fusion.train.rundir`).
    """

    def __init__(self, recipe: dict, run_dir: str | Path, resume: bool = False, progress: bool | None = None,
                 overwrite: bool = False):
        self.recipe, self.run_dir, self.resume, self.overwrite = recipe, Path(run_dir), resume, overwrite
        self.progress = progress
        self._signal = None

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        train_cfg = self.recipe["train"]
        self.threads = apply_threads(train_cfg.get("threads"))  # before anything runs an op (see threads.py)
        self.accelerator = acc = make_accelerator(
            train_cfg["precision"], train_cfg["accumulate"], train_cfg.get("find_unused_parameters", False)
        )
        if train_cfg["batch_size"] % acc.num_processes:
            raise TrainingError(
                f"train.batch_size={train_cfg['batch_size']} is the global batch and must divide evenly "
                f"over {acc.num_processes} processes"
            )
        check_warmup(train_cfg)
        self.bn_batches = batches_of(self.recipe["eval"].get("precise_bn", {"batches": 50}))
        set_seed(train_cfg["seed"])
        built = self.built = build_all(self.recipe)
        if train_cfg.get("compile"):  # in place: checkpoints keep their keys (fusion.fastpath.compile_encoders)
            from fusion.fastpath import compile_encoders

            compile_encoders(built.module.model, acc.print)
        check_eval_conditions(self.recipe, built.train_set.modalities, time_axes(built.registry))
        require_samples(built.train_set, "training", self.recipe["data"]["train_split"])
        require_samples(built.test_set, "test", self.recipe["eval"]["split"] or self.recipe["data"]["test_split"])
        eval_batch = max(self.recipe["eval"]["batch_size"] // acc.num_processes, 1) * acc.num_processes
        train_loader = build_loader(self.recipe, built.train_set, built.collator, True, train_cfg["batch_size"])
        test_loader = build_loader(self.recipe, built.test_set, built.collator, False, eval_batch)
        self.sampler = train_loader.sampler
        self.steps_per_epoch = steps_per_epoch = math.ceil(len(train_loader) / train_cfg["accumulate"])
        optimizer = build_optimizer(built.module, train_cfg["optimizer"])
        self.plateau = make_plateau(train_cfg["schedule"])
        self.schedule = build_schedule(
            optimizer, train_cfg["schedule"], steps_per_epoch, train_cfg["epochs"], train_cfg["optimizer"]["lr"],
            self.plateau,
        )
        self.module, self.optimizer, self.train_loader, self.test_loader = acc.prepare(
            built.module, optimizer, train_loader, test_loader
        )
        self.val_loader = None
        if built.val_set is not None:  # what selects `best`; the test split is only reported
            require_samples(built.val_set, "validation", self.recipe["data"]["val_split"])
            self.val_loader = acc.prepare(build_loader(self.recipe, built.val_set, built.collator, False, eval_batch))
        elif self.plateau is not None:
            raise TrainingError("train.schedule.name: plateau steps on the validation loss, and this run has no "
                                "validation split (data.val_split); set data.val_split to auto or a split name")
        self._bn_step = None  # the global step at which BatchNorm statistics were last re-estimated
        self.probe = None
        if getattr(built.module.objective, "pretext_only", False):  # no classifier is trained: probe the encoder
            from fusion.train.probe import KnnProbe

            self.probe = KnnProbe(self.recipe, built, eval_batch)
        self.state = {"epoch": 0, "batch_in_epoch": 0, "global_step": 0, "best_top1": -1.0, "history": []}
        if self.resume:  # everything is checked and loaded before the run directory is written to
            found = ckpt.find_checkpoint(self.run_dir, "last")
            if found is None:
                raise TrainingError(f"--resume: no complete checkpoint under {self.run_dir / 'checkpoints'}")
            for line in rundir.check_resume(read_yaml(self.run_dir / "recipe.yaml"), self.recipe, self.run_dir):
                acc.print(f"warning: --resume with a changed recipe: {line}", file=sys.stderr)
            state = ckpt.read_state(found)
            ckpt.load_checkpoint(acc, found)
            self.state = state
            self.schedule.load_state_dict(self.state.pop("schedule"))
            plateau = self.state.pop("plateau", None)
            if plateau is not None and self.plateau is not None:
                self.plateau.load_state_dict(plateau)
            acc.print(f"resumed from {found} at epoch {self.state['epoch']}, batch {self.state['batch_in_epoch']}")
        if acc.is_main_process:
            if self.resume:
                rundir.trim_metrics(self.run_dir, self.state)
            rundir.atomic_write(self.run_dir / "recipe.yaml", dump_recipe_text(self.recipe))
            trust.remember(self.run_dir / "recipe.yaml")
            rundir.atomic_write(self.run_dir / "environment.json", json.dumps(environment_info(built.registry, self.threads), indent=1))
        self.logger = RunLogger(self.run_dir, acc.is_main_process, train_cfg.get("log_with", ["tensorboard"]),
                                self.recipe)
        self.params = count_parameters(acc.unwrap_model(self.module).model)
        self._print_banner()

    def _print_banner(self) -> None:
        acc, built = self.accelerator, self.built
        samples = {"train": len(built.train_set)}
        for name in ("val_set", "test_set"):  # a validation set where the recipe has one
            dataset = getattr(built, name, None)
            if dataset is not None:
                samples[name[:-4]] = len(dataset)
        resumed = (f"epoch {self.state['epoch']}, batch {self.state['batch_in_epoch']}" if self.resume else None)
        acc.print(run_banner(self.run_dir, samples, self.params, self.steps_per_epoch, self.recipe["train"]["epochs"],
                             str(acc.device), acc.num_processes, self.threads.describe(),
                             self.recipe["data"]["num_workers"], resumed))

    def _install_signal_handlers(self) -> None:
        def handler(signum, frame):
            self._signal = signum

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handler)
        if hasattr(signal, "SIGXFSZ"):  # past a file-size limit a write fails (one sentence) instead of killing us
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict:
        main = int(os.environ.get("RANK", "0")) == 0
        with rundir.claim(self.run_dir, self.resume, self.overwrite, main=main) as aside:
            if aside is not None:
                print(f"moved the previous run in {self.run_dir} aside to {aside}", file=sys.stderr)
            return self._fit()

    def _fit(self) -> dict:
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
        progress = bar(total=len(self.train_loader), initial=state["batch_in_epoch"],
                       desc=f"epoch {epoch + 1}/{cfg['epochs']}",
                       enabled=progress_enabled(self.progress, acc.is_main_process))
        if state["batch_in_epoch"] == 0:
            state.update(loss_sum=0.0, loss_count=0)
        seen, skipped, tic = 0, 0, time.time()
        log_sums: dict[str, float] = {}  # the objective's logs (losses per term, MPJPE...), averaged per epoch
        for batch in guard_workers(loader, self.built.train_set):
            if self._no_samples(batch):
                skipped += int(batch["skipped"])
                state["batch_in_epoch"] += 1
                progress.update(1)
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
            progress.update(1)
            if not progress.disable:
                progress.set_postfix(loss=f"{float(loss.detach()):.4f}", lr=f"{self.schedule.get_last_lr()[0]:.3g}",
                                     refresh=False)
            if state["global_step"] % cfg["log_every"] == 0 and acc.sync_gradients:
                self.logger.log({"event": "step", "epoch": epoch, "step": state["global_step"], "loss": float(loss.detach()),
                                 "lr": self.schedule.get_last_lr()[0]}, step=state["global_step"])
            every = cfg["checkpoint_every_steps"]
            if every and acc.sync_gradients and state["global_step"] % every == 0:
                self._save("last")
            if self._max_steps_reached():
                break
        progress.close()
        self._epoch_stats = {
            "train_loss": state["loss_sum"] / max(state["loss_count"], 1),
            "lr": self.schedule.get_last_lr()[0],
            "samples_per_s": seen / max(time.time() - tic, 1e-9),
            "skipped": int(acc.reduce(torch.tensor(skipped, device=acc.device), "sum")),
        }
        batches = max(state["batch_in_epoch"], 1)
        self._epoch_logs = {f"train_{name}": total / batches for name, total in log_sums.items()}
        if state["loss_count"] == 0 and self._epoch_stats["skipped"]:  # no "training" on zero samples
            raise DataError(f"epoch {epoch + 1}: all {self._epoch_stats['skipped']} training samples were skipped as "
                            "broken (data.on_error: skip); nothing was trained; run fusion data check on the recipe")

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
        if last_epoch:  # the weights the final report may use get precise statistics too
            self._precise_bn()
        if self.probe is not None and self.val_loader is not None and ((epoch + 1) % cfg["eval_every"] == 0
                                                                      or last_epoch):
            self._precise_bn()
            top1 = self.probe.top1(acc.unwrap_model(self.module).model, "val")
            record.update(val_knn_top1=top1)
            self.logger.log({"event": "eval", "split": "val", **record}, step=state["global_step"])
            if top1 > state["best_top1"]:  # selected on the validation kNN probe
                state["best_top1"], state["best_epoch"] = top1, epoch + 1
                self._save("best", advance=True)
        elif self.val_loader is not None and ((epoch + 1) % cfg["eval_every"] == 0 or last_epoch):
            report, _ = self._evaluate(self.val_loader, "val")
            record.update(val_top1=report["top1"], val_top5=report["top5"],
                          val_mean_class_accuracy=report["mean_class_accuracy"])
            if "loss" in report:  # the validation cross-entropy, next to the training loss
                record["val_loss"] = report["loss"]
            if self.plateau is not None and "loss" in report:  # ReduceLROnPlateau on the validation loss
                self.plateau.step(report["loss"])
                record.update(lr_scale=self.plateau.scale)
            self.logger.log({"event": "eval", "split": "val", **record, "per_class": report["per_class"]},
                            step=state["global_step"])
            if report["top1"] > state["best_top1"]:  # selected on validation only
                state["best_top1"] = report["top1"]
                state["best_epoch"] = epoch + 1
                self._save("best", advance=True)
        self.logger.log({"event": "epoch", **record, **getattr(self, "_epoch_logs", {})}, step=state["global_step"])
        acc.print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        state["history"].append(record)
        self.registry_event("epoch_end", record)
        self._save("last", advance=True)

    def _precise_bn(self) -> None:
        """Re-estimate BatchNorm statistics for the current weights (once per training step count)."""
        if not self.bn_batches or self._bn_step == self.state["global_step"]:
            return
        model = self.accelerator.unwrap_model(self.module).model
        if not bn_layers(model):
            return
        per_process = max(self.recipe["train"]["batch_size"] // self.accelerator.num_processes, 2)
        if self.probe is not None:  # pretext views (stacked on the person axis) are not the model's input:
            loader = self.probe.loaders["train"]  # the probe's training bank, read as the encoder reads samples
        else:
            loader = precise_bn_loader(self.built.train_set, self.built.collator, per_process,
                                       self.recipe["train"]["seed"], self.state["epoch"], self.recipe["data"]["num_workers"])
        update_bn_stats(self.accelerator, model, loader, self.bn_batches)
        self._bn_step = self.state["global_step"]

    def _evaluate(self, loader, split: str) -> tuple[dict, dict]:
        """Evaluate the current weights on ``split`` (after precise BN), warning if one class takes every sample."""
        self._precise_bn()
        report, predictions = evaluate(self.accelerator, self.accelerator.unwrap_model(self.module).model, loader,
                                       self.built.num_classes, self.recipe["eval"]["clips"], self.built.metrics)
        if self.accelerator.is_main_process:
            warn_one_class(split, predictions["scores"], self.built.class_names)
        return report, predictions

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
        if self.probe is not None:
            return self._pretext_summary(seconds)
        best = ckpt.find_checkpoint(self.run_dir, "best") if self.val_loader is not None else None
        if best is not None:  # the test split reports the validation-selected weights, as `fusion eval` does
            from fusion.train.eval_run import load_weights

            load_weights(acc.unwrap_model(self.module), best)
            label = checkpoint_label("best", self.state.get("best_epoch"))
            report, self._last_predictions = evaluate(acc, acc.unwrap_model(self.module).model, self.test_loader,
                                                      self.built.num_classes, self.recipe["eval"]["clips"],
                                                      self.built.metrics)
            if acc.is_main_process:
                warn_one_class("test", self._last_predictions["scores"], self.built.class_names)
        else:  # no validation, or stopped before the first one: the current weights
            label = checkpoint_label("last", self.state["epoch"], validated=False)
            report, self._last_predictions = self._evaluate(self.test_loader, "test")
        conditions = describe_conditions(self.recipe["eval"])
        self.logger.log({"event": "test", "checkpoint": label, **{f"test_{k}": report[k] for k in  # JSONL + trackers
                         ("top1", "top5", "mean_class_accuracy", "loss") if k in report}}, step=self.state["global_step"])
        summary = {
            "test": {**{k: report[k] for k in ("top1", "top5", "mean_class_accuracy", "per_class", "count",
                                               "unique_indices", "skipped", "metrics")},
                     "split": self.recipe["eval"]["split"] or self.recipe["data"]["test_split"],
                     "checkpoint": label, "conditions": conditions},
            "val": ({"top1": self.state["best_top1"], "epoch": self.state.get("best_epoch"),
                     "samples": len(self.built.val_set), "rule": self.built.validation}
                    if self.built.val_set is not None else {"rule": self.built.validation}),
            "best": {"top1": self.state["best_top1"], "epoch": self.state.get("best_epoch"), "selected_on": "val"},
            "result": result_line("test", report, label, conditions),
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
            rundir.atomic_write(run / "summary.json", json.dumps(summary, indent=1))
            with rundir.atomic_path(run / "predictions.npz") as tmp:
                save_predictions(tmp, self._last_predictions, self.built.class_names)
            with rundir.atomic_path(run / "curves.png") as tmp:
                plots.plot_curves(self.state["history"], tmp)
            with rundir.atomic_path(run / "confusion.png") as tmp:
                plots.plot_confusion(report["confusion"], self.built.class_names, tmp)
            write_report(run, self.recipe, summary)
        return summary


    def _pretext_summary(self, seconds: float) -> dict:
        """A pretext-only run (SSL pre-training) reports its pretext loss and kNN probes of the encoder,
        never the untrained classifier's accuracy."""
        acc, state = self.accelerator, self.state
        best = ckpt.find_checkpoint(self.run_dir, "best")
        if best is not None:
            from fusion.train.eval_run import load_weights

            load_weights(acc.unwrap_model(self.module), best)
        else:
            self._precise_bn()
        label = (checkpoint_label("best", state.get("best_epoch")) if best is not None
                 else checkpoint_label("last", state["epoch"], validated=False))
        model = acc.unwrap_model(self.module).model
        test_top1 = self.probe.top1(model, "test")
        losses = [h["train_loss"] for h in state["history"] if "train_loss" in h]
        summary = {
            "pretext": {"train_loss": losses[-1] if losses else None, "knn_k": self.probe.k},
            "test": {"top1": test_top1, "metric": f"{self.probe.k}-NN probe of the encoder", "checkpoint": label,
                     "split": self.recipe["eval"]["split"] or self.recipe["data"]["test_split"], "conditions": ""},
            "val": {"knn_top1": state["best_top1"] if best is not None else None, "epoch": state.get("best_epoch"),
                    "rule": self.built.validation},
            "best": {"top1": state["best_top1"], "epoch": state.get("best_epoch"), "selected_on": "val kNN probe"},
            "result": (f"pretext loss {losses[-1]:.4f}; " if losses else "") + f"test kNN top-1 {test_top1:.4f} @{label}",
            "params": self.params, "epochs": state["epoch"], "steps": state["global_step"],
            "seconds": round(seconds, 2), "processes": acc.num_processes, "class_names": self.built.class_names,
        }
        if acc.is_main_process:
            rundir.atomic_write(self.run_dir / "summary.json", json.dumps(summary, indent=1))
            with rundir.atomic_path(self.run_dir / "curves.png") as tmp:
                plots.plot_curves(state["history"], tmp)
        return summary


def write_report(run_dir: Path, recipe: dict, summary: dict) -> None:
    test, val = summary["test"], summary.get("val") or {}
    at = f" @{test['checkpoint']}" if test.get("checkpoint") else ""
    conditions = f" ({test['conditions']})" if test.get("conditions") else ""
    lines = [
        f"# Run report: {recipe.get('name') or recipe.get('source')}",
        "",
        f"`best` is selected on validation ({val.get('rule') or 'none'}); the test split is only reported.",
        "",
        "| metric | value |",
        "|---|---|",
        *([f"| val top-1 (best, epoch {val.get('epoch')}) | {val['top1']:.4f} |"] if val.get("epoch") else []),
        f"| test top-1{at}{conditions} | {test['top1']:.4f} |",
        f"| test top-5{at} | {test['top5']:.4f} |",
        f"| test mean class accuracy{at} | {test['mean_class_accuracy']:.4f} |",
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
    rundir.atomic_write(run_dir / "report.md", "\n".join(lines))
