"""``spikedecode robust``: train an image model and measure its robustness curve."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from spikedecode._cli._common import echo_json, echo_table, threads_option

__all__ = ["command", "run_robust"]

DATASETS = ("digits", "mnist", "cifar10")
ATTACK_CHOICES = ("fgsm", "bim", "pgd", "pgd_l2", "lbfgs", "gaussian")


def _parse_eps(text: str) -> list[float]:
    from spikedecode.errors import ConfigError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise ConfigError(f"--eps {text!r}: expected comma-separated numbers, e.g. "
                          "'0,0.05,0.1'.") from err
    if not values or any(v < 0 for v in values):
        raise ConfigError(f"--eps {text!r}: expected numbers >= 0.")
    return values


def _shared_root(dataset: str) -> str | None:
    """The shared real-data folder (README: ``../shared/data``) when it holds ``dataset``
    and the default data folder does not; else None (the loaders' own default)."""
    from spikedecode.datasets import images
    from spikedecode.datasets._shared import shared_data_root

    shared = shared_data_root()
    if shared is None:
        return None
    default = images.default_data_root()
    if dataset == "mnist":
        if images._find_mnist(default) is None and images._find_mnist(shared) is not None:
            return str(shared)
    elif images._find_cifar(default) is None and images._find_cifar(shared) is not None:
        return str(shared)
    return None


def _load(dataset: str, root: str | None, limit: int | None, random_state: int) -> Any:
    from spikedecode.datasets import images

    if dataset == "digits":
        return images.load_digits(random_state=random_state, limit=limit)
    if root is None:
        root = _shared_root(dataset)
    if dataset == "mnist":
        return images.load_mnist(root, random_state=random_state, limit=limit)
    return images.load_cifar10(root, random_state=random_state, limit=limit)


def run_robust(*, dataset: str = "digits", model: str = "small_cnn",
               attacks: tuple[str, ...] = ("fgsm", "pgd"), eps: list[float] | None = None,
               root: str | None = None, limit: int | None = None, n_eval: int = 1000,
               max_epochs: int = 5, lr: float = 1e-3, n_steps: int = 40,
               step_size: float | None = None, random_state: int = 0,
               out: str | Path | None = None, device: str = "auto",
               progress: bool = False) -> dict[str, Any]:
    """Load, train on train (select on val), attack the test split; return a JSON-able dict.

    Writes ``curve.png``, ``results.json`` and the model (``model.safetensors`` +
    ``model.json``) to ``out`` when given.
    """
    import numpy as np

    from spikedecode.robust.evaluate import check_curve, robustness_curve
    from spikedecode.robust.models import build_model, train_image_model
    from spikedecode.serialization import save_json, save_module

    eps = list(eps if eps is not None else [0.0, 0.05, 0.1, 0.2, 0.3])
    t0 = time.perf_counter()
    data = _load(dataset, root, limit, random_state)
    from spikedecode._random import torch_seeded

    with torch_seeded(random_state):
        net = build_model(model, image_shape=data.image_shape, n_classes=data.n_classes)
    hist = train_image_model(net, data, max_epochs=max_epochs, lr=lr, random_state=random_state,
                             device=device, progress=progress, patience=max(2, max_epochs // 3))
    t_train = time.perf_counter() - t0
    kw: dict[str, Any] = {"n_steps": n_steps}
    if step_size is not None:
        kw["step_size"] = step_size
    curve = robustness_curve(net, data, list(attacks), eps=eps, limit=n_eval,
                             attack_kwargs=kw, random_state=random_state, progress=progress)
    flags = check_curve(curve, warn=False)
    result: dict[str, Any] = {
        "dataset": dataset, "model": model, "attacks": list(attacks), "eps": eps,
        "n_eval": int(curve.attrs["n_samples"]), "epochs_run": len(hist.epochs),
        "val_accuracy": float(hist.epochs[-1].get("val_accuracy", np.nan)),
        "clean_accuracy": float(curve.attrs["clean_accuracy"]),
        "accuracy": {a: [float(v) for v in curve.sel(attack=a).values] for a in attacks},
        "masking_flags": flags,
        "config": {"lr": lr, "max_epochs": max_epochs, "n_steps": n_steps, "step_size": step_size,
                   "random_state": random_state, "limit": limit},
        "data_attrs": {k: v for k, v in data.attrs.items() if isinstance(v, (str, int, float,
                                                                              bool))},
        "time_s": {"train": t_train, "total": time.perf_counter() - t0},
    }
    if out is not None:
        from spikedecode.plotting import save_figure
        from spikedecode.plotting.robust import plot_robustness_curves

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        note = "JPEG copy of CIFAR-10: ~6/255 mean compression error per pixel" \
            if data.attrs.get("lossy") else None
        fig = plot_robustness_curves(curve, title=f"{model} on {dataset}", note=note)
        save_figure(fig, out / "curve.png", dpi=120)
        save_module(net.cpu(), out / "model", config={"model": model, "dataset": dataset,
                                                      "image_shape": list(data.image_shape)})
        save_json(result, out / "results.json")
        result["out"] = str(out)
    return result


@click.command("robust")
@threads_option()
@click.option("--dataset", type=click.Choice(DATASETS), default="digits", show_default=True)
@click.option("--model", "model", default="small_cnn", show_default=True,
              help="shallow_mlp, mlp, small_cnn, mnist_cnn, net1 or resnet20.")
@click.option("--attack", "attack", default="fgsm,pgd", show_default=True,
              help=f"Comma-separated attacks from {', '.join(ATTACK_CHOICES)}.")
@click.option("--eps", "eps", default="0,0.05,0.1,0.2,0.3", show_default=True,
              help="Comma-separated L-inf budgets (images in [0, 1]).")
@click.option("--root", default=None, help="Data folder (default $SPIKEDECODE_DATA or "
              "~/.cache/spikedecode, then the shared data folder ../shared/data or "
              "$SPIKEDECODE_SHARED_DATA).")
@click.option("--limit", type=int, default=None, help="At most this many images per split.")
@click.option("--n-eval", type=int, default=1000, show_default=True,
              help="Test images attacked.")
@click.option("--max-epochs", type=int, default=5, show_default=True,
              help="Training epochs at most (early stopping on the validation split).")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--steps", "n_steps", type=int, default=40, show_default=True,
              help="Iterations of BIM/PGD.")
@click.option("--step-size", type=float, default=None,
              help="Step of BIM/PGD (default 2.5 * eps / steps).")
@click.option("--random-state", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when available), cpu or cuda.")
@click.option("--out", default=None, help="Folder for curve.png, results.json and the model.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def command(dataset: str, model: str, attack: str, eps: str, root: str | None,
            limit: int | None, n_eval: int, max_epochs: int, lr: float, n_steps: int,
            step_size: float | None, random_state: int, device: str, out: str | None,
            as_json: bool) -> None:
    """Train MODEL on DATASET and print its accuracy under each attack at each eps."""
    from spikedecode._cli._common import check_cli_numbers, check_out_dir
    from spikedecode.errors import ConfigError
    from spikedecode.robust.models import MODEL_NAMES

    check_cli_numbers(n_steps=n_steps, n_eval=n_eval, limit=limit, max_epochs=max_epochs)
    if out:
        check_out_dir(Path(out))
    attacks = tuple(a.strip() for a in attack.split(",") if a.strip())
    bad = [a for a in attacks if a not in ATTACK_CHOICES]
    if bad or not attacks:
        raise ConfigError(f"--attack {attack!r}: unknown {bad}; choose from {ATTACK_CHOICES}.")
    if model not in MODEL_NAMES:
        raise ConfigError(f"--model {model!r}, must be one of {MODEL_NAMES}.")
    result = run_robust(dataset=dataset, model=model, attacks=attacks, eps=_parse_eps(eps),
                        root=root, limit=limit, n_eval=n_eval, max_epochs=max_epochs, lr=lr,
                        n_steps=n_steps, step_size=step_size, random_state=random_state,
                        out=out, device=device,
                        # progress bars go to stderr, and only to a terminal
                        progress=not as_json and sys.stderr.isatty())
    if as_json:
        echo_json(result)
        return
    click.echo(f"{model} on {dataset}: clean test accuracy {result['clean_accuracy']:.3f} "
               f"({result['n_eval']} test images; val accuracy {result['val_accuracy']:.3f})")
    rows = [{"eps": e, **{a: result["accuracy"][a][i] for a in attacks}}
            for i, e in enumerate(result["eps"])]
    echo_table(rows, ["eps", *attacks])
    if any(result["masking_flags"].values()):
        click.echo(f"warning: accuracy rises with eps for {result['masking_flags']} "
                   "(possible gradient masking or too few steps)")
    if out:
        click.echo(f"wrote {out}/curve.png, results.json, model.safetensors")
