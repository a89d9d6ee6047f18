# %% [markdown]
# # 06 — Inside the network: volatile units, selective dropout, self-introspection
#
# Two studies look inside classifiers under attack.
#
# * **Selective dropout** (Hinthorn): craft adversarial twins of clean images, find the
#   few hidden units whose activation changes most (the *volatile* units), and retrain
#   only those on the hard negatives, alternating each adversarial example with its
#   original. We judge it as the study did (accuracy on adversarial examples from
#   perturbation groups held out of retraining) **and** honestly: fresh adversarial
#   examples crafted against the retrained network, and clean accuracy kept, against two
#   controls (the same training updating all units of the layer, or random units).
# * **Self-introspection** (Pardo et al.): record all hidden activations of Net1, map
#   them to 2-D with an InfoVAE, train an error estimator on the map, and use it to read
#   confidence, colour units by the class they serve ("brainbow"), watch noise
#   (constellations) and attacks (trajectories) move the state, and detect misclassified,
#   noisy and adversarial inputs — on MNIST and on a simulated touch decoder.
#
# Run: `python tutorials/06_inside_the_network.py [--quick] [--out DIR]`.
# `--quick` (< 60 s, used by the test suite) shrinks everything; full mode is scaled to a
# shared 2-core CPU (see `docs/robust_inside.md`).

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

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

from spikedecode.robust import attacks
from spikedecode.robust.evaluate import accuracy
from spikedecode.robust.hardneg import (
    SelectiveDropoutTrainer,
    fooling_rate,
    hard_negative_report,
    perturbation_groups,
    project_difference,
    split_groups,
    unit_volatility,
)
from spikedecode.robust.introspect import (
    HiddenActivationHistory,
    Introspector,
    attack_trajectory,
    constellation,
    detection_auroc,
    expected_activation,
    record_hidden,
    reorder_units,
)
from spikedecode.robust.models import MNISTCNN, Net1, net1_loss
from spikedecode.training import train

T0 = time.perf_counter()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny settings (< 60 s)")
    p.add_argument("--out", default=None, help="output folder (default ./out/06_inside_the_network)")
    p.add_argument("--data", default=None, help="folder with the MNIST idx files")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


ARGS = parse_args(None if "ipykernel" not in sys.modules else [])
QUICK = ARGS.quick
OUT = Path(ARGS.out or "out/06_inside_the_network")
OUT.mkdir(parents=True, exist_ok=True)
SEED = ARGS.seed
RESULTS: dict = {"mode": "quick" if QUICK else "full"}


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def save(fig, name: str) -> None:
    fig.savefig(OUT / f"{name}.png", dpi=90 if QUICK else 120)
    import matplotlib.pyplot as plt

    plt.close(fig)


# Settings: full mode is what we report; quick mode only checks the pipeline runs.
CFG = dict(
    limit=None if not QUICK else 1500,        # images per split
    val_size=10000,
    net1=dict(hidden_size=200, depth=12) if not QUICK else dict(hidden_size=64, depth=4),
    net1_epochs=12 if not QUICK else 6,
    cnn_train=20000 if not QUICK else 1500,    # CNN training images
    cnn_epochs=3 if not QUICK else 1,
    n_pairs=3000 if not QUICK else 200,        # hard-negative pairs
    attack_steps=30 if not QUICK else 15,      # targeted I-FGSM-MSE steps of 0.01
    n_lbfgs=100 if not QUICK else 4,
    sd_epochs=8 if not QUICK else 2,
    n_fresh=500 if not QUICK else 50,
    vae_epochs=40 if not QUICK else 4,
    est_epochs=60 if not QUICK else 5,
    n_copies=200 if not QUICK else 40,
    n_traj=10 if not QUICK else 3,
    n_detect=2000 if not QUICK else 150,
    sim=dict(n_days=1, n_repeats=4, n_strokes=10, n_puffs=10) if not QUICK else
    dict(n_days=1, n_repeats=1, n_strokes=6, n_puffs=3),
    dec_epochs=60 if not QUICK else 10,
)
RESULTS["config"] = {k: v for k, v in CFG.items()}

# %% [markdown]
# ## Data: real MNIST
# Train / validation (model selection, introspector fitting) / test (reported numbers).
# Falls back to scikit-learn's 8×8 digits when the MNIST files are absent.

# %%
from spikedecode.datasets.images import load_digits, load_mnist

DATA_ROOT = Path(ARGS.data) if ARGS.data else Path(__file__).resolve().parents[2] / "shared" / "data"
try:
    data = load_mnist(DATA_ROOT, val_size=CFG["val_size"] if not QUICK else 1500,
                      random_state=SEED, limit=CFG["limit"])
except FileNotFoundError:
    data = load_digits(random_state=SEED)
RESULTS["dataset"] = data.name
(x_tr, y_tr), (x_val, y_val), (x_te, y_te) = data.train, data.val, data.test
IMG = tuple(x_tr.shape[1:])
N_IN = int(np.prod(IMG))
log(f"{data.name}: train {len(y_tr)}, val {len(y_val)}, test {len(y_te)}, image {IMG}")

# %% [markdown]
# ## Part 1 — selective dropout on the MNIST CNN of the study
# conv32 → pool3 → conv64 → pool2 → fc200 → fc10, ReLU. We retrain its fc200 layer.

# %%
torch.manual_seed(SEED)
cnn = MNISTCNN(image_size=IMG[-1])
n_cnn = min(CFG["cnn_train"], len(y_tr))
train(cnn, (x_tr[:n_cnn], y_tr[:n_cnn]), val_data=(x_val, y_val), max_epochs=CFG["cnn_epochs"],
      batch_size=128, lr=1e-3, random_state=SEED, device="cpu")
cnn_clean = accuracy(cnn, x_te, y_te)
RESULTS["cnn_clean_test_accuracy"] = cnn_clean
log(f"CNN clean test accuracy {cnn_clean:.4f}")

# %% [markdown]
# Hard negatives: targeted iterative FGSM with an MSE loss (steps of 0.01, the
# introspection study's attack) towards a random wrong class, on correctly classified
# training images. (L-BFGS, the selective-dropout study's attack, is run on a small
# subset below: on a shared CPU it is too slow for thousands of pairs.)

# %%
rng = np.random.default_rng(SEED)


def random_targets(y, n_classes=10):
    y = np.asarray(y)
    return torch.as_tensor((y + rng.integers(1, n_classes, len(y))) % n_classes)


def craft(model, x, y):
    """Targeted I-FGSM-MSE to random wrong classes; returns (x_adv, target)."""
    t = random_targets(y)
    return attacks.targeted_ifgsm_mse(model, x, t, step_size=0.01, n_steps=CFG["attack_steps"]), t


pool = torch.as_tensor(rng.permutation(np.arange(n_cnn, len(y_tr)) if len(y_tr) - n_cnn >
                                       CFG["n_pairs"] else np.arange(len(y_tr))))
x_pool, y_pool = x_tr[pool], y_tr[pool]
ok = cnn(x_pool[: 4 * CFG["n_pairs"]]).argmax(1) == y_pool[: 4 * CFG["n_pairs"]]
x_clean, y_clean = x_pool[: 4 * CFG["n_pairs"]][ok][: CFG["n_pairs"]], \
    y_pool[: 4 * CFG["n_pairs"]][ok][: CFG["n_pairs"]]
x_adv, t_adv = craft(cnn, x_clean, y_clean)
y_adv_pred = cnn(x_adv).argmax(1).detach()
fooled = (y_adv_pred == t_adv).numpy()
x_clean, y_clean, x_adv, t_adv = x_clean[fooled], y_clean[fooled], x_adv[fooled], t_adv[fooled]
RESULTS["hard_negatives"] = {"n_pairs": int(fooled.sum()), "success_rate": float(fooled.mean()),
                             "linf_mean": float((x_adv - x_clean).abs().flatten(1).max(1)[0]
                                                .mean())}
log(f"hard negatives: {fooled.sum()} successful targeted pairs ({fooled.mean():.2%})")

# %% [markdown]
# ### Volatile units
# Per unit of fc200, the Frobenius norm of its activation change over all pairs, and the
# fraction of pairs on which it is among the 10 % most changed ("fooling rate").

# %%
from spikedecode.plotting import inside as pin

LAYER = "hidden.0"
vol = unit_volatility(cnn, LAYER, x_clean, x_adv)
fr = fooling_rate(cnn, LAYER, x_clean, x_adv, top=0.1)
v_sorted = np.sort(vol.values)[::-1]
RESULTS["volatility"] = {
    "top10pct_share_of_squared_change": float((v_sorted[:20] ** 2).sum() / (v_sorted**2).sum()),
    "max_fooling_rate": float(fr.max()),
}
save(pin.plot_volatility(vol, p=0.1, fooling_rate=fr), "volatility")

# L-BFGS on a few images: are the volatile units the same ones?
n_l = min(CFG["n_lbfgs"], len(x_clean))
x_l, succ = attacks.lbfgs_attack(cnn, x_clean[:n_l], t_adv[:n_l], max_iter=20, c_search=5,
                                 return_success=True)
if succ.sum() >= 2:
    vol_l = unit_volatility(cnn, LAYER, x_clean[:n_l][succ], x_l[succ])
    top_i = set(np.argsort(-vol.values)[:20])
    top_l = set(np.argsort(-vol_l.values)[:20])
    RESULTS["lbfgs"] = {"n": int(n_l), "success": float(succ.float().mean()),
                        "top20_overlap_with_ifgsm": len(top_i & top_l) / 20,
                        "volatility_rank_corr": float(np.corrcoef(np.argsort(np.argsort(vol.values)),
                                                                  np.argsort(np.argsort(vol_l.values)))[0, 1])}
    log(f"L-BFGS: {RESULTS['lbfgs']}")

# Perturbation groups and the activation difference projected to input space
groups = perturbation_groups(y_clean.numpy(), t_adv.numpy(), by="both")
maps = project_difference(cnn, LAYER, x_clean, x_adv,
                          groups=perturbation_groups(y_clean.numpy(), t_adv.numpy(), by="target"))
save(pin.plot_projections(maps, n_max=10, title="fc200 change projected to input, by target"),
     "projections")

# %% [markdown]
# ### Selective dropout vs controls
# Pairs from 75 % of the (source → target) groups train; the other groups are held out.

# %%
import copy

tr_idx, te_idx = split_groups(groups, test_size=0.25, random_state=SEED)
x_val_adv, t_val_adv = craft(cnn, x_val[: CFG["n_fresh"]], y_val[: CFG["n_fresh"]])


def fresh_attack(model, xs, ys):
    """Adaptive adversary: the same attack, crafted against the model being evaluated."""
    g = torch.Generator().manual_seed(SEED + 1)
    t = (ys + torch.randint(1, 10, ys.shape, generator=g)) % 10
    return attacks.targeted_ifgsm_mse(model, xs, t, step_size=0.01, n_steps=CFG["attack_steps"])


def report(model):
    return hard_negative_report(model, x_test=x_te, y_test=y_te,
                                x_adv_heldout=x_adv[te_idx], y_adv_heldout=y_clean[te_idx],
                                attack=fresh_attack, n_fresh=CFG["n_fresh"])


sd_results = {"original": report(cnn)}
sd_hist = {}
for name, kw in {"selective (top 10% volatile)": dict(p=0.1, selection="volatile"),
                 "selective + schedule": dict(p=0.1, selection="volatile", schedule=0.3),
                 "control: random 10%": dict(p=0.1, selection="random"),
                 "control: all units": dict(p=1.0, selection="all")}.items():
    net = copy.deepcopy(cnn)
    t1 = time.perf_counter()
    sd = SelectiveDropoutTrainer(LAYER, max_epochs=CFG["sd_epochs"], batch_size=32, lr=1e-3,
                                 random_state=SEED, **kw).fit(
        net, x_clean[tr_idx], x_adv[tr_idx], y_clean[tr_idx],
        val_adv_data=(x_val_adv, y_val[: CFG["n_fresh"]]))
    rep = report(net)
    rep["steps_to_converge"] = sd.steps_to_converge_
    rep["n_steps"] = sd.n_steps_
    rep["train_time_s"] = time.perf_counter() - t1
    rep["final_adv_train_accuracy"] = sd.history_.epochs[-1]["adv_train_accuracy"]
    sd_results[name] = rep
    sd_hist[name] = sd.history_
    log(f"{name}: {rep}")
RESULTS["selective_dropout"] = sd_results
save(pin.plot_selective_dropout(sd_results, histories=sd_hist), "selective_dropout")

# %% [markdown]
# ## Part 2 — self-introspection of Net1 (12 × 200 ELU, sigmoid outputs)
# Trained with one-vs-rest BCE (the study reports 96.57 % test accuracy). The hidden state
# of a probe set is recorded after every epoch to draw training trajectories.

# %%
from spikedecode.robust.noise import GaussianNoise

probe = x_val[:8]


def fit_net1(noise: bool):
    torch.manual_seed(SEED)
    net = Net1(n_in=N_IN, **CFG["net1"])
    hist_cb = HiddenActivationHistory(probe)
    tfs = [GaussianNoise(1.0, randomize=True, clip=(0.0, 1.0))] if noise else []
    train(net, (x_tr, y_tr), val_data=(x_val, y_val), loss=net1_loss,
          max_epochs=CFG["net1_epochs"], batch_size=128, lr=1e-3, random_state=SEED,
          device="cpu", transforms=tfs, callbacks=[hist_cb])
    return net, hist_cb


net1, net1_hist = fit_net1(noise=False)
RESULTS["net1_test_accuracy"] = accuracy(net1, x_te, y_te)
log(f"Net1 test accuracy {RESULTS['net1_test_accuracy']:.4f} (study: 0.9657)")

# %% [markdown]
# The map: an InfoVAE (MMD to N(0, I), 2-D code) on the concatenated 12 × 200 activations
# of the validation images (data Net1 never trained on, so it sees real mistakes), plus
# the probe's training-time states; then an error estimator z → log10 error.

# %%
vae_params = dict(hidden_layer_sizes=(256, 64), max_epochs=CFG["vae_epochs"], batch_size=256, mmd_weight=1.0,
                  patience=5 if not QUICK else None)
est_params = dict(hidden_layer_sizes=(64, 64), max_epochs=CFG["est_epochs"])
traj_train = net1_hist.to_dataarray()
intro = Introspector(output="sigmoid", vae_params=vae_params, estimator_params=est_params,
                     random_state=SEED).fit(net1, x_val, y_val,
                                            extra_hidden=traj_train.values.reshape(
                                                -1, traj_train.shape[-1]))
z_te = intro.transform(x_te)
e_te = intro.estimator_.log10_error(z_te)  # log10 ê
pred_te = intro.predict_classes(x_te)
correct = pred_te == y_te.numpy()
save(pin.plot_latent_map(z_te, y_te.numpy(), values=e_te), "latent_map")
save(pin.plot_error_violins(e_te, correct), "error_violins")
RESULTS["net1_map"] = {"vae_reconstruction_mse": intro.vae_.reconstruction_error(
    intro.hidden(x_te[:2000])), "median_log10_e_correct": float(np.median(e_te[correct])),
    "median_log10_e_wrong": float(np.median(e_te[~correct])) if (~correct).any() else None}

# Trajectories of the probe images through learning, on the final map
zt = np.stack([intro.vae_.transform(traj_train.values[i]) for i in range(traj_train.shape[0])])
import xarray as xr

save(pin.plot_trajectories(xr.DataArray(zt, dims=("epoch", "sample", "latent")),
                           background=z_te, background_labels=y_te.numpy(),
                           title="probe images through training epochs"), "training_trajectories")

# %% [markdown]
# ### Expected activations and the artificial brainbow
# Expected activation of each unit given the class = the decoder at the class's mean z
# (`method="centroid"`; the study's Riemann sum is `method="riemann"`); each unit goes to
# the class it fires most for.

# %%
exp_act = expected_activation(intro, method="centroid")
direct = expected_activation(intro, method="direct", hidden=intro.hidden(x_val))
layer_of = record_hidden(net1, x_val[:1]).layer.values
order, unit_class = reorder_units(exp_act, layer=layer_of)
save(pin.plot_brainbow(exp_act, order, unit_class, layer=layer_of), "brainbow")
RESULTS["brainbow"] = {
    "centroid_vs_direct_corr": float(np.corrcoef(exp_act.values.ravel(),
                                                 direct.values.ravel())[0, 1]),
    "units_per_class": np.bincount(np.asarray(unit_class).astype(int), minlength=10).tolist(),
    "assignment_agreement_centroid_direct": float(np.mean(exp_act.values.argmax(0) ==
                                                          direct.values.argmax(0)))}

# %% [markdown]
# ### Constellations: one digit under increasing noise, clean- vs noise-trained Net1
# 200 noisy copies per σ ∈ {0, 0.1, 0.2, 0.3}; the noise-trained network saw σ ~ U[0, 1]
# per batch.

# %%
net1_noise, net1_noise_hist = fit_net1(noise=True)
RESULTS["net1_noise_test_accuracy"] = accuracy(net1_noise, x_te, y_te)
intro_noise = Introspector(output="sigmoid", vae_params=vae_params, estimator_params=est_params,
                           random_state=SEED).fit(net1_noise, x_val, y_val)
k = int(np.flatnonzero(correct)[0])
cons = {}
for name, itr in {"clean-trained": intro, "noise-trained": intro_noise}.items():
    cons[name] = constellation(itr, x_te[k], sigmas=(0.0, 0.1, 0.2, 0.3),
                               n_copies=CFG["n_copies"], random_state=SEED)
save(pin.plot_constellations(cons, background={"clean-trained": z_te,
                                               "noise-trained": intro_noise.transform(x_te)}),
     "constellations")
RESULTS["constellations"] = {
    name: {f"sigma={float(s):g}": {"spread": float(c.sel(sigma=s).std("copy").sum()),
                                   "accuracy": float((c.pred.sel(sigma=s) == int(y_te[k])).mean())}
           for s in c.sigma.values} for name, c in cons.items()}

# %% [markdown]
# ### Attack trajectories in z-space
# Targeted iterative FGSM (MSE towards a one-hot target, steps of 0.01) moves the state
# from its class cluster to the target's.

# %%
xs = x_te[correct][: CFG["n_traj"]]
ts = random_targets(y_te[correct][: CFG["n_traj"]])
traj = attack_trajectory(intro, xs, ts, step_size=0.01, n_steps=100 if not QUICK else 20, every=5)
save(pin.plot_trajectories(traj, background=z_te, background_labels=y_te.numpy(),
                           title="targeted I-FGSM trajectories"), "attack_trajectories")
RESULTS["attack_trajectories"] = {"reached_target": float((traj.pred[-1].values ==
                                                           ts.numpy()).mean())}

# %% [markdown]
# ### Detection: misclassified, noisy and adversarial vs clean correct
# Scores (higher = more suspicious): the estimated log10 error (minus the confidence) and
# the Mahalanobis distance of z to the cluster of the predicted class.


# %%
def detection(itr, model, x, y, *, noise_sigma, adv_fn, clip=(0.0, 1.0)):
    n = min(CFG["n_detect"], len(y))
    x, y = x[:n], y[:n]
    s_clean = itr.scores(x)
    ok_ = itr.predict_classes(x) == np.asarray(y)
    g = torch.Generator().manual_seed(SEED)
    x_noisy = (x + noise_sigma * torch.randn(x.shape, generator=g)).clamp(clip[0], clip[1])
    s_noisy = itr.scores(x_noisy)
    x_adv_ = adv_fn(model, x[ok_], y[ok_])
    fooled_ = itr.predict_classes(x_adv_) != np.asarray(y[ok_])
    s_adv = itr.scores(x_adv_[fooled_]) if fooled_.any() else None
    out = {}
    for key in ("log10_error", "cluster_distance"):
        ref = s_clean[key][ok_]
        res = {}
        if (~ok_).any():
            res["misclassified"] = detection_auroc(np.r_[ref, s_clean[key][~ok_]],
                                                   np.r_[np.zeros(ok_.sum()), np.ones((~ok_).sum())])
        res[f"noisy (sigma={noise_sigma})"] = detection_auroc(
            np.r_[ref, s_noisy[key]], np.r_[np.zeros(len(ref)), np.ones(len(x))])
        if s_adv is not None:
            res["adversarial"] = detection_auroc(np.r_[ref, s_adv[key]],
                                                 np.r_[np.zeros(len(ref)), np.ones(fooled_.sum())])
        out[key] = res
    out["counts"] = {"clean_correct": int(ok_.sum()), "misclassified": int((~ok_).sum()),
                     "adversarial": int(fooled_.sum())}
    return out


def adv_images(model, x, y):
    return attacks.targeted_ifgsm_mse(model, x, random_targets(y), step_size=0.01,
                                      n_steps=CFG["attack_steps"])


det_mnist = detection(intro, net1, x_te, y_te, noise_sigma=0.3, adv_fn=adv_images)
RESULTS["detection_mnist_net1"] = det_mnist
log(f"detection (Net1/MNIST): {det_mnist}")

# %% [markdown]
# ## Part 3 — the same introspection on a simulated touch decoder
# Spike-count windows (5 bins of 5 ms) of one simulated day, an MLP decoder, its hidden
# ReLU layer mapped to 2-D. Noise: AWGN on counts (clipped at 0); attack: PGD on the
# relaxed counts (L∞ ε = 1 spike per bin, clip at 0).

# %%
from spikedecode.datasets import simulate_touch_experiment
from spikedecode.decoders import MLPDecoder
from spikedecode.preprocess import make_windows, to_sequences

exp = simulate_touch_experiment(**CFG["sim"], n_units_range=(30, 40), random_state=SEED)
win = make_windows(exp[0], bin_size=0.005, n_bins=5, step=5 if not QUICK else 10)
Xw, yw, gw = to_sequences(win)
classes, yi = np.unique(yw, return_inverse=True)
perm = np.random.default_rng(SEED).permutation(np.unique(gw))
n_g = len(perm)
tr_g, va_g, te_g = perm[: n_g // 2], perm[n_g // 2: 3 * n_g // 4], perm[3 * n_g // 4:]
m_tr, m_va, m_te = (np.isin(gw, g) for g in (tr_g, va_g, te_g))
dec = MLPDecoder(hidden_layer_sizes=(64,), max_epochs=CFG["dec_epochs"], lr=3e-3, patience=None,
                 device="cpu", random_state=SEED,
                 standardize=False).fit(Xw[m_tr], yi[m_tr])  # raw counts (published tables)
dec_net = dec.module_
RESULTS["touch_decoder"] = {"classes": classes.tolist(), "n_windows": int(len(yw)),
                            "test_accuracy": float(dec.score(Xw[m_te], yi[m_te]))}
log(f"touch decoder test accuracy {RESULTS['touch_decoder']['test_accuracy']:.3f} "
    f"({len(classes)} classes)")
intro_dec = Introspector(vae_params=dict(vae_params, hidden_layer_sizes=(64, 16)), estimator_params=est_params,
                         random_state=SEED).fit(dec_net, torch.as_tensor(Xw[m_va]), yi[m_va])


def adv_counts(model, x, y):
    return attacks.pgd(model, x, torch.as_tensor(y), eps=1.0, n_steps=10, clip=(0.0, None),
                       generator=SEED)


det_dec = detection(intro_dec, dec_net, torch.as_tensor(Xw[m_te]), torch.as_tensor(yi[m_te]),
                    noise_sigma=1.0, adv_fn=adv_counts, clip=(0.0, None))
RESULTS["detection_touch_decoder"] = det_dec
log(f"detection (touch decoder): {det_dec}")
aurocs = {f"MNIST {k}": {s: det_mnist[s].get(k, np.nan) for s in ("log10_error",
                                                                   "cluster_distance")}
          for k in det_mnist["log10_error"]}
aurocs.update({f"touch {k}": {s: det_dec[s].get(k, np.nan) for s in ("log10_error",
                                                                     "cluster_distance")}
               for k in det_dec["log10_error"]})
save(pin.plot_detection(aurocs), "detection_auroc")
save(pin.plot_latent_map(intro_dec.z_, classes[intro_dec.y_], values=intro_dec.log10_error_),
     "touch_latent_map")

# %% [markdown]
# ## Results

# %%
RESULTS["elapsed_s"] = time.perf_counter() - T0


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    return o


(OUT / "results.json").write_text(json.dumps(_clean(RESULTS), indent=1))
print(json.dumps(_clean({k: RESULTS[k] for k in ("net1_test_accuracy", "cnn_clean_test_accuracy",
                                                 "selective_dropout", "detection_mnist_net1",
                                                 "detection_touch_decoder")}), indent=1))
log(f"wrote {OUT}")
