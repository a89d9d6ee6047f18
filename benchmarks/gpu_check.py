"""GPU check (issue 23, item 4): the CUDA path, a training step GPU vs CPU, and the seed
study's CIFAR-10 noisy-ResNet table at published scale.

Three stages, each printing its expected run time before it starts and its actual time
after:

``smoke``
    The torch decoders through ``make_decoder`` (``mlp`` and ``lstm``) fitted and scored
    on ``--device``, FGSM and IFGSM (with EOT) on a noisy ResNet20 there, and one
    forward/backward pass of the noisy ResNet20 and a 2-member ensemble. Checks that
    every output stays on the device, that adversarial inputs stay in the ε-ball and that
    the decoders beat chance on a separable synthetic set.
``step``
    One SGD step of ResNet20 and NoisyResNet20(a=0.1) (batch 128, CIFAR shape) timed on
    ``--device`` and on the CPU; prints images/s, the GPU/CPU speed-up and the noisy/plain
    ratio. The table stage's expected times are computed from these throughputs.
``table``
    Tutorial 05's CIFAR-10 experiment at published scale (Wang et al. 2019, "ResNets
    ensemble via the Feynman-Kac formalism"): ResNet20, NoisyResNet20(a=0.1) and an
    ensemble of ``--members`` noisy ResNet20s, adversarially trained on all 50,000 training
    images of ``../shared/data/cifar10`` (the JPEG copy: say so next to the figures) and
    scored on the 10,000 test images, in two protocols side by side:

    - *honest*: checkpoint fixed in advance (the last epoch; ``--val-size N`` instead
      holds N training images out and picks the best epoch on them), FGSM with
      ``--k-eot`` gradient draws, IFGSM-20 (20 steps of 2/255) with EOT at every step,
      predictions averaged over ``--k-pred`` noisy passes; plus blind transfer attacks
      from a naturally trained, independently initialised ResNet20;
    - *published protocol*: checkpoint picked on the test set (natural accuracy, one noisy
      pass per epoch, a cheaper stand-in for the published PGD-10 test criterion), one
      noisy gradient, a one-step "IFGSM" of ε, one noisy pass to score.

    Published training: 200 epochs of PGD-7 adversarial training at lr 0.1
    (``--epochs 200 --adv-train pgd7``, hours on one GPU: the expected time is printed
    first). Defaults here: ``--epochs 10 --adv-train fgsm-rs`` (FGSM with a random start,
    Wong et al. 2020), which fits a short device lease.

``--device cpu --quick`` runs every stage on a tiny subset with a few steps (the first 8
images of each class of the shared CIFAR-10, or sklearn's digits without it; one epoch,
batch 16-32): the CPU smoke test of ``tests/test_threads_gpu_check.py``. Results go to ``--out`` (``results.json``).

Run: ``python benchmarks/gpu_check.py --device cuda [--stages smoke,step,table]
[--epochs N] [--adv-train fgsm-rs|pgd7] [--members 5] [--estimate-only] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spikedecode.decoders import make_decoder  # noqa: E402
from spikedecode.robust.attacks import bim, fgsm  # noqa: E402
from spikedecode.robust.resnet import EnResNet, noisy_resnet20, resnet20  # noqa: E402
from spikedecode.robust.smoothing import predict_average  # noqa: E402
from spikedecode.training import Callback, train  # noqa: E402

EPS = 8 / 255
CIFAR = REPO.parent / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.xz"
PUBLISHED = {  # Wang et al. 2019 (CIFAR-10, PGD adversarial training, eps = 8/255), %
    "ResNet20": {"natural": 75.11, "fgsm": 50.89, "ifgsm20": 46.03},
    "En5ResNet20": {"natural": 82.52, "fgsm": 58.92, "ifgsm20": 51.48},
}
# forward+backward passes per training image: clean 1, FGSM-RS 2 (one attack gradient),
# PGD-7 8 (seven attack gradients)
PASSES = {"none": 1, "fgsm-rs": 2, "pgd7": 8}


def log(msg: str) -> None:
    print(msg, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fmt_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# ----------------------------------------------------------------------------- smoke
def stage_smoke(device: torch.device, quick: bool) -> dict[str, Any]:
    """The CUDA path of the torch decoders, the attacks and the noisy ResNet, once."""
    rng = np.random.default_rng(0)
    n, lags, units = (256, 5, 12) if quick else (2048, 5, 35)
    y = rng.integers(0, 2, n)
    rates = np.where(y[:, None, None] == 1, 3.0, 1.5) * np.ones((1, lags, units))
    rates[:, :, units // 2:] = 2.0  # half the units carry no signal
    X3 = rng.poisson(rates).astype("float32")
    split = n * 3 // 4
    out: dict[str, Any] = {}
    for kind, X in (("mlp", X3.reshape(n, -1)), ("lstm", X3)):
        params: dict[str, Any] = {"device": str(device), "max_epochs": 3 if quick else 20}
        if kind == "lstm":
            params.update(hidden_size=16, num_layers=1, dropout=0.0)
        clf = make_decoder(kind, random_state=0, **params)
        t0 = time.perf_counter()
        clf.fit(X[:split], y[:split])
        acc = float(clf.score(X[split:], y[split:]))
        on = next(clf.module_.parameters()).device
        assert on.type == device.type, f"{kind} trained on {on}, asked for {device}"
        out[kind] = {"accuracy": acc, "fit_s": round(time.perf_counter() - t0, 2),
                     "device": str(on)}
        log(f"[smoke] make_decoder({kind!r}) on {on}: held-out accuracy {acc:.3f} "
            f"(chance 0.5), fit {out[kind]['fit_s']} s")
        if not quick:
            assert acc > 0.7, f"{kind} on {device}: accuracy {acc:.3f} on a separable set"
    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32, device=device)
    yy = torch.randint(0, 10, (8,), device=device)
    for name, model in (("NoisyResNet20(a=0.1)", noisy_resnet20(a=0.1)),
                        ("En2NoisyResNet20(a=0.1)", EnResNet(n_members=2, a=0.1))):
        model = model.to(device)
        loss = torch.nn.functional.cross_entropy(model(x), yy)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(g.device.type == device.type for g in grads)
        assert all(torch.isfinite(g).all() for g in grads)
        model.zero_grad(set_to_none=True)
        adv_f = fgsm(model, x, yy, eps=EPS, eot_samples=2)
        adv_i = bim(model, x, yy, eps=EPS, step_size=2 / 255, n_steps=3, eot_samples=2)
        for adv in (adv_f, adv_i):
            assert adv.device.type == device.type
            assert float((adv - x).abs().max()) <= EPS + 1e-6
            assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
        moved = float((adv_i - x).abs().mean())
        out[name] = {"loss": float(loss.detach()), "ifgsm_mean_abs_change": moved}
        log(f"[smoke] {name} on {device}: forward/backward loss {float(loss.detach()):.3f}; FGSM and "
            f"IFGSM-3 with EOT stay in the eps-ball (mean |change| {moved:.4f})")
    return out


# ------------------------------------------------------------------------------ step
def _time_steps(model: torch.nn.Module, device: torch.device, batch: int, steps: int,
                warmup: int) -> float:
    """Seconds per SGD step (cross-entropy, batch of CIFAR-shaped images)."""
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - t0) / steps


def stage_step(device: torch.device, quick: bool) -> dict[str, Any]:
    """A training step of ResNet20 and NoisyResNet20 on ``device`` and on the CPU."""
    batch = 16 if quick else 128
    out: dict[str, Any] = {"batch": batch, "cpu_threads": torch.get_num_threads()}
    for name, build in (("ResNet20", resnet20), ("NoisyResNet20", noisy_resnet20)):
        row = {}
        for where in ([device] if device.type == "cpu" else [device, torch.device("cpu")]):
            steps = 2 if quick or where.type == "cpu" else 50
            torch.manual_seed(0)
            sec = _time_steps(build(), where, batch, steps, warmup=1 if quick else 5)
            row[where.type] = {"s_per_step": sec, "images_per_s": batch / sec}
        if device.type != "cpu":
            row["speedup"] = row["cpu"]["s_per_step"] / row[device.type]["s_per_step"]
        out[name] = row
        log(f"[step] {name}, batch {batch}: " + ", ".join(
            f"{k} {v['s_per_step'] * 1e3:.1f} ms/step ({v['images_per_s']:.0f} img/s)"
            for k, v in row.items() if isinstance(v, dict))
            + (f"; GPU/CPU speed-up {row['speedup']:.1f}x" if "speedup" in row else ""))
    dev = device.type
    out["noisy_over_plain"] = (out["NoisyResNet20"][dev]["s_per_step"]
                               / out["ResNet20"][dev]["s_per_step"])
    log(f"[step] noisy / plain step time on {dev}: {out['noisy_over_plain']:.2f}x")
    return out


# ----------------------------------------------------------------------------- table
class _Snapshots(Callback):
    """Weights after every epoch (checkpoint selection)."""

    def __init__(self) -> None:
        self.states: list[dict] = []

    def on_epoch_end(self, state: Any) -> None:
        self.states.append({k: v.detach().cpu().clone()
                            for k, v in state.module.state_dict().items()})


class _AdvTraining:
    """Input transform: the batch's FGSM-RS (1 step of 1.25 eps from a random start) or
    PGD-7 (7 steps of 2/255 from a random start) adversarial version, eps = 8/255."""

    train_only = True

    def __init__(self, kind: str) -> None:
        self.n_steps, self.alpha = (1, 1.25 * EPS) if kind == "fgsm-rs" else (7, 2 / 255)

    def __call__(self, x: torch.Tensor, state: Any) -> torch.Tensor:
        delta = (torch.rand(x.shape, generator=state.generator) * 2 - 1).to(x.device) * EPS
        adv = (x + delta).clamp(0, 1)
        for _ in range(self.n_steps):
            adv.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(state.module(adv), state.y)
            (grad,) = torch.autograd.grad(loss, adv)
            adv = adv.detach() + self.alpha * grad.sign()
            adv = torch.min(torch.max(adv, x - EPS), x + EPS).clamp(0, 1)
        return adv.detach()


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, k: int,
              seed: int) -> float:
    logits = predict_average(model, x, n_samples=k, batch_size=1000, random_state=seed)
    return float((logits.argmax(1).cpu() == y.cpu()).float().mean())


def _attack_batched(fn: Any, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                    batch: int, **kw: Any) -> torch.Tensor:
    return torch.cat([fn(model, x[i:i + batch], y[i:i + batch], **kw)
                      for i in range(0, len(y), batch)])


def table_plan(args: argparse.Namespace, n_train: int, n_test: int,
               img_per_s: dict[str, float]) -> dict[str, float]:
    """Expected seconds per stage of the table, from the measured step throughputs.

    A forward+backward pass of one image costs 1/throughput; a forward pass about a third
    of it. Training: images x epochs x passes (PASSES[adv]) x members. Honest attacks:
    FGSM k_eot gradients, IFGSM-20 20 x k_eot; scoring: k_pred forward passes per set.
    """
    plain, noisy = img_per_s["ResNet20"], img_per_s["NoisyResNet20"]
    passes = PASSES[args.adv_train]
    members = {"ResNet20": 1, "NoisyResNet20(a=0.1)": 1,
               f"En{args.members}NoisyResNet20(a=0.1)": args.members}
    plan = {"surrogate (natural training)": n_train * args.surrogate_epochs / plain
            + n_test * (1 + args.ifgsm_steps) / plain}
    for name, m in members.items():
        rate = plain if name == "ResNet20" else noisy
        k_eot = 1 if name == "ResNet20" else args.k_eot
        k_pred = 1 if name == "ResNet20" else args.k_pred
        train_s = n_train * args.epochs * passes * m / rate
        select_s = args.epochs * (n_test + args.val_size) * m / (3 * rate)
        attack_s = n_test * (k_eot * (1 + args.ifgsm_steps) + 2) * m / rate
        score_s = n_test * (6 * k_pred + 4) * m / (3 * rate)
        plan[name] = train_s + select_s + attack_s + score_s
    return plan


def stage_table(device: torch.device, args: argparse.Namespace,
                img_per_s: dict[str, float]) -> dict[str, Any]:
    """The CIFAR-10 noisy-ResNet table, honest protocol beside the published one."""
    t_start = time.perf_counter()
    if args.estimate_only and not args.quick:  # the published split: 50,000 + 10,000
        plan = table_plan(args, 50_000 - args.val_size, 10_000, img_per_s)
        for k, v in plan.items():
            log(f"[table] expected: {k:32s} {fmt_s(v)}")
        log(f"[table] expected total: {fmt_s(sum(plan.values()))} at "
            f"{img_per_s['ResNet20']:.0f} / {img_per_s['NoisyResNet20']:.0f} img/s (plain / "
            f"noisy ResNet20, forward+backward); {args.epochs} epochs of {args.adv_train}, "
            f"{args.members} members")
        return {"expected_s": plan, "img_per_s": img_per_s}
    if args.quick and not args.data.exists():
        from spikedecode.datasets.images import load_digits

        d = load_digits(random_state=0)

        def up(x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(x, size=(32, 32)).repeat(1, 3, 1, 1)

        xtr, ytr = up(d.train[0])[:64], d.train[1][:64]
        xte, yte = up(d.test[0])[:32], d.test[1][:32]
        xva, yva = up(d.val[0])[:args.val_size], d.val[1][:args.val_size]
        note = "quick mode: sklearn digits upsampled to 3x32x32 (not CIFAR-10)"
    else:
        from spikedecode.datasets.images import load_cifar10

        if not args.data.exists():
            raise SystemExit(f"{args.data} is absent (see ../shared/data/README.md)")
        t0 = time.perf_counter()
        # val_size=0 is refused by the loader: hold out 1 image, then put it back. Quick:
        # the first 8 images of each class and split (a tiny subset, decoded uncached)
        tiny = {"max_per_class": 8, "use_cache": False} if args.quick else {}
        d = load_cifar10(args.data, val_size=max(args.val_size, 1), random_state=0, **tiny)
        if args.val_size:
            (xtr, ytr), (xva, yva) = d.train, d.val
        else:
            xtr, ytr = torch.cat([d.train[0], d.val[0]]), torch.cat([d.train[1], d.val[1]])
            xva, yva = xtr[:0], ytr[:0]
        xte, yte = d.test
        note = ("CIFAR-10 from the shared JPEG copy: mean abs error ~6/255 per pixel vs the "
                "original images" if d.attrs.get("lossy") else "CIFAR-10 (lossless)")
        log(f"[table] loaded CIFAR-10 in {time.perf_counter() - t0:.0f} s")
    n_train, n_test = len(ytr), len(yte)
    plan = table_plan(args, n_train, n_test, img_per_s)
    log(f"[table] {note}; train {n_train}, validation {len(yva)}, test {n_test}; "
        f"{args.epochs} epochs of {args.adv_train} adversarial training, batch "
        f"{args.batch_size}, lr {args.lr}")
    for k, v in plan.items():
        log(f"[table] expected: {k:32s} {fmt_s(v)}")
    log(f"[table] expected total: {fmt_s(sum(plan.values()))} (from the step stage's "
        f"throughputs on {device})")
    if args.estimate_only:
        return {"note": note, "expected_s": plan}

    def fit(model: torch.nn.Module, seed: int, adv: str, epochs: int) -> _Snapshots:
        snaps = _Snapshots()
        train(model, (xtr, ytr), max_epochs=epochs, batch_size=args.batch_size,
              optimizer="sgd", lr=args.lr, momentum=0.9, weight_decay=5e-4,
              schedule="cosine", transforms=[_AdvTraining(adv)] if adv != "none" else [],
              callbacks=[snaps], random_state=seed, device=device)
        return snaps

    bs = args.attack_batch
    rows: dict[str, Any] = {}
    ts = time.perf_counter()
    torch.manual_seed(123)
    surrogate = resnet20()
    fit(surrogate, 99, "none", args.surrogate_epochs)
    surrogate.eval()
    x_tr_fgsm = _attack_batched(fgsm, surrogate, xte, yte, bs, eps=EPS)
    x_tr_ifgsm = _attack_batched(bim, surrogate, xte, yte, bs, eps=EPS, step_size=2 / 255,
                                 n_steps=args.ifgsm_steps)
    rows["surrogate"] = {"natural": 100 * _accuracy(surrogate, xte, yte, k=1, seed=0),
                         "time_s": round(time.perf_counter() - ts, 1)}
    log(f"[table] surrogate: natural {rows['surrogate']['natural']:.2f} %, "
        f"{fmt_s(rows['surrogate']['time_s'])}")
    builders = {
        "ResNet20": lambda: resnet20(),
        "NoisyResNet20(a=0.1)": lambda: noisy_resnet20(a=0.1),
        f"En{args.members}NoisyResNet20(a=0.1)": lambda: EnResNet(n_members=args.members,
                                                                    a=0.1),
    }
    for i, (name, build) in enumerate(builders.items()):
        ts = time.perf_counter()
        torch.manual_seed(1000 + i)
        model = build()
        snaps = fit(model, i, args.adv_train, args.epochs)
        t_train = time.perf_counter() - ts
        stochastic = name != "ResNet20"
        k_pred = args.k_pred if stochastic else 1
        k_eot = args.k_eot if stochastic else 1
        test_acc, val_acc = [], []
        for state in snaps.states:
            model.load_state_dict(state)
            test_acc.append(_accuracy(model, xte, yte, k=1, seed=1))
            if len(yva):
                val_acc.append(_accuracy(model, xva, yva, k=1, seed=1))
        e_honest = int(np.argmax(val_acc)) if val_acc else len(snaps.states) - 1
        e_pub = int(np.argmax(test_acc))
        model.load_state_dict(snaps.states[e_honest])
        adv_f = _attack_batched(fgsm, model, xte, yte, bs, eps=EPS, eot_samples=k_eot)
        adv_i = _attack_batched(bim, model, xte, yte, bs, eps=EPS, step_size=2 / 255,
                                n_steps=args.ifgsm_steps, eot_samples=k_eot)
        honest = {
            "natural": 100 * _accuracy(model, xte, yte, k=k_pred, seed=2),
            "fgsm": 100 * _accuracy(model, adv_f, yte, k=k_pred, seed=3),
            "ifgsm20": 100 * _accuracy(model, adv_i, yte, k=k_pred, seed=4),
            "transfer_fgsm": 100 * _accuracy(model, x_tr_fgsm, yte, k=k_pred, seed=5),
            "transfer_ifgsm20": 100 * _accuracy(model, x_tr_ifgsm, yte, k=k_pred, seed=6),
        }
        model.load_state_dict(snaps.states[e_pub])
        torch.manual_seed(7)
        adv_f1 = _attack_batched(fgsm, model, xte, yte, bs, eps=EPS, eot_samples=1)
        adv_i1 = _attack_batched(bim, model, xte, yte, bs, eps=EPS, step_size=EPS,
                                 n_steps=1, eot_samples=1)
        published = {
            "natural": 100 * _accuracy(model, xte, yte, k=1, seed=8),
            "fgsm": 100 * _accuracy(model, adv_f1, yte, k=1, seed=9),
            "ifgsm20": 100 * _accuracy(model, adv_i1, yte, k=1, seed=10),
        }
        rows[name] = {"honest": honest, "published_protocol": published,
                      "epoch_honest": e_honest + 1, "epoch_published": e_pub + 1,
                      "k_pred": k_pred, "k_eot": k_eot, "train_s": round(t_train, 1),
                      "time_s": round(time.perf_counter() - ts, 1),
                      "expected_s": round(plan[name], 1)}
        log(f"[table] {name}: {fmt_s(rows[name]['time_s'])} (expected "
            f"{fmt_s(plan[name])}); honest {_fmt(honest)}; published protocol "
            f"{_fmt(published)}")
    print_table(rows, args)
    return {"note": note, "n_train": n_train, "n_test": n_test, "rows": rows,
            "expected_s": plan, "published": PUBLISHED,
            "time_s": round(time.perf_counter() - t_start, 1)}


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in d.items())


def print_table(rows: dict[str, Any], args: argparse.Namespace) -> None:
    log("\n| model | protocol | epoch | natural | FGSM | IFGSM-20 | transfer FGSM | "
        "transfer IFGSM-20 |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        if name == "surrogate":
            continue
        h, p = r["honest"], r["published_protocol"]
        log(f"| {name} | honest (fixed checkpoint, K={r['k_pred']}, EOT={r['k_eot']}) | "
            f"{r['epoch_honest']} | {h['natural']:.2f} | {h['fgsm']:.2f} | "
            f"{h['ifgsm20']:.2f} | {h['transfer_fgsm']:.2f} | {h['transfer_ifgsm20']:.2f} |")
        log(f"| | published protocol (test selection, 1 pass, 1-step \"IFGSM\") | "
            f"{r['epoch_published']} | {p['natural']:.2f} | {p['fgsm']:.2f} | "
            f"{p['ifgsm20']:.2f} | | |")
    for name, p in PUBLISHED.items():
        log(f"| {name} (Wang et al. 2019) | as published | | {p['natural']:.2f} | "
            f"{p['fgsm']:.2f} | {p['ifgsm20']:.2f} | | |")


# ------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--quick", action="store_true",
                    help="tiny subset, a few steps (the CPU smoke test)")
    ap.add_argument("--stages", default="smoke,step,table")
    ap.add_argument("--estimate-only", action="store_true",
                    help="table stage: print the expected times, train nothing")
    ap.add_argument("--epochs", type=int, default=None,
                    help="training epochs (published: 200; default 10, quick 1)")
    ap.add_argument("--surrogate-epochs", type=int, default=None)
    ap.add_argument("--adv-train", choices=sorted(PASSES), default="fgsm-rs",
                    help="adversarial training: fgsm-rs (default) or pgd7 (published)")
    ap.add_argument("--members", type=int, default=None,
                    help="ensemble members (published: 5; default 5, quick 2)")
    ap.add_argument("--val-size", type=int, default=0,
                    help="training images held out to pick the honest checkpoint "
                         "(0: train on all 50,000 and use the last epoch)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--k-pred", type=int, default=8)
    ap.add_argument("--k-eot", type=int, default=4)
    ap.add_argument("--ifgsm-steps", type=int, default=20)
    ap.add_argument("--attack-batch", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=CIFAR,
                    help="CIFAR-10 (the shared JPEG archive by default, or any folder "
                         "load_cifar10 reads); --quick without it uses sklearn's digits")
    ap.add_argument("--assume-rate", type=float, default=None,
                    help="with --estimate-only: an assumed ResNet20 forward+backward "
                         "throughput (img/s) instead of the step stage's measurement")
    ap.add_argument("--assume-noisy-ratio", type=float, default=1.2,
                    help="noisy / plain step time for --assume-rate")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs = args.epochs or 1
        args.surrogate_epochs = args.surrogate_epochs or 1
        args.members = args.members or 2
        args.k_pred, args.k_eot, args.ifgsm_steps = 2, 2, 2
        args.batch_size, args.attack_batch = 32, 16
    args.epochs = args.epochs or 10
    args.surrogate_epochs = args.surrogate_epochs or max(1, math.ceil(args.epochs / 2))
    args.members = args.members or 5
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here "
                         f"(torch {torch.__version__}); use --device cpu --quick for the smoke")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - {"smoke", "step", "table"}
    if unknown:
        raise SystemExit(f"--stages: unknown {sorted(unknown)}; use smoke, step, table")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    log(f"device {device} ({name}), torch {torch.__version__}, CPU threads "
        f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")
    results: dict[str, Any] = {"device": str(device), "device_name": name,
                               "args": {k: str(v) for k, v in vars(args).items()}}
    t0 = time.perf_counter()
    if "smoke" in stages:
        log(f"[smoke] expected: {'< 30 s' if args.quick else '< 1 min'}")
        ts = time.perf_counter()
        results["smoke"] = stage_smoke(device, args.quick)
        log(f"[smoke] done in {fmt_s(time.perf_counter() - ts)}")
    img_per_s = {"ResNet20": 1000.0, "NoisyResNet20": 800.0}  # placeholder without 'step'
    if args.assume_rate:  # an assumed device throughput instead of the measured one
        img_per_s = {"ResNet20": args.assume_rate,
                     "NoisyResNet20": args.assume_rate / args.assume_noisy_ratio}
        log(f"[step] assumed, not measured: ResNet20 {args.assume_rate:.0f} img/s, noisy "
            f"{img_per_s['NoisyResNet20']:.0f} img/s (forward+backward)")
    elif "step" in stages or "table" in stages:
        log(f"[step] expected: {'< 20 s' if args.quick else '< 2 min (the CPU steps)'}")
        ts = time.perf_counter()
        results["step"] = stage_step(device, args.quick)
        img_per_s = {k: results["step"][k][device.type]["images_per_s"]
                     for k in ("ResNet20", "NoisyResNet20")}
        log(f"[step] done in {fmt_s(time.perf_counter() - ts)}")
    if "table" in stages:
        results["table"] = stage_table(device, args, img_per_s)
    results["time_s"] = round(time.perf_counter() - t0, 1)
    log(f"total {fmt_s(results['time_s'])}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
