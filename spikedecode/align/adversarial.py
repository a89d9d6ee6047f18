"""Adversarial alignment: one autoencoder per day, one discriminator shared by all days.

The reference day gets an autoencoder (encoder ``p_ref -> k``, decoder ``k -> p_ref``)
trained on reconstruction. Every new day gets its own encoder/decoder pair, trained on a
convex combination

    (1 - adversarial_weight) * reconstruction(new day)
        + adversarial_weight * adversarial(new day's codes)

where the adversarial loss comes from ONE discriminator shared across all days, trained
at the same time to tell the codes of the earlier days (frozen encoders) from the new
day's. When the discriminator can no longer tell them apart, the new day's codes follow
the same distribution as the earlier days' and a decoder trained on those reads it.

Stabilizers (the seed implementation diverged after about five days; every one of these
is a parameter, on by default, and tested in ``tests/align/test_adversarial.py``):

1. **Spectral normalization** of every discriminator layer (``spectral_norm=True``): the
   discriminator is 1-Lipschitz in the codes, so its gradients cannot explode as it
   accumulates days.
2. **R1 gradient penalty** on the earlier days' codes (``gradient_penalty``, Mescheder et
   al. 2018): keeps the discriminator flat on the "real" distribution, the usual cure for
   oscillating GAN games.
3. **Reference anchoring** (``anchor_weight``): half of every "earlier days" batch is
   drawn from the reference day itself, the rest from a fixed-size reservoir of the other
   earlier days' codes. Errors of one day cannot compound into the target of the next
   (no drift), and the cost of adapting a day does not grow with the number of days.
4. **Label conditioning** (:class:`ConditionalAdversarialAligner`): the discriminator
   also sees the label, so it matches each condition's codes separately (no permutation
   or rotation of conditions can fool it).
5. **Early stopping on a plateau of held-out discriminator accuracy**: a validation
   split of the new day is encoded after every epoch; the kept weights are those of the
   epoch with the best held-out reconstruction among the epochs at chance (balanced
   accuracy within ``tol`` of 0.5), else of the epoch closest to chance; training stops
   once that criterion has not improved for ``patience`` epochs (no epoch newly at
   chance, at chance no reconstruction 1 % better, else none closer to chance). On real
   sessions the lag-conditioned discriminator seldom reaches chance and only gets
   better at telling the days apart as it trains, so the kept epoch is an early one and
   the stop comes a few epochs after it (before: every day ran to ``max_epochs``).
6. **Learning-rate schedule** (cosine decay, ``schedule="cosine"``), a slower
   discriminator (``lr_disc``), Adam with beta1 = 0.5 and gradient clipping.
7. **PCA-initialised linear encoders** (``encoder="linear"``): each new encoder starts
   as the projection of the day on its own leading principal components, so training
   only has to find a rotation within a good subspace.

Training goes through :func:`spikedecode.training.train`: the discriminator's update is
a loss term (the generator's part of the loss reaches the encoder only; the
discriminator's part reaches the discriminator only), not a second training loop.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Hashable
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikedecode._random import day_seed, draw_seed, torch_seeded
from spikedecode._validation import Interval, Options, check_params
from spikedecode.align.base import AlignmentWarning, BaseDayAligner
from spikedecode.errors import ConfigError, DataDroppedWarning, LabelError
from spikedecode.training import Callback, TrainState, train

__all__ = ["AdversarialAligner", "ConditionalAdversarialAligner"]


def _two_sample_accuracy(A: NDArray, B: NDArray, seed: int, max_n: int = 400) -> float:
    """Cross-validated accuracy of a k-nearest-neighbour classifier telling the rows of A
    from the rows of B (balanced subsample; 0.5 = same distribution).

    A classifier two-sample test (Lopez-Paz & Oquab 2017) that does not share the
    discriminator's training: it measures whether the codes are really aligned.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(A), len(B), max_n)
    if n < 10:
        return float("nan")
    a = A[rng.permutation(len(A))[:n]]
    b = B[rng.permutation(len(B))[:n]]
    Z = np.concatenate([a, b])
    t = np.r_[np.zeros(n), np.ones(n)]
    clf = make_pipeline(StandardScaler(),
                        KNeighborsClassifier(n_neighbors=max(3, int(np.sqrt(2 * n)) | 1)))
    cv = StratifiedKFold(5, shuffle=True, random_state=seed % (2**31 - 1))
    return float(cross_val_score(clf, Z, t, cv=cv).mean())


class _AdversarialTerm:
    """Loss term: weight * generator loss (to the encoder) + discriminator loss (to D)."""

    name = "adversarial"

    def __init__(self, disc: Any, bank_ref: Any, lab_ref: Any, bank: Any, lab_bank: Any,
                 weight: float, anchor_weight: float, gp: float) -> None:
        self.disc = disc
        self.bank_ref, self.lab_ref = bank_ref, lab_ref
        self.bank, self.lab_bank = bank, lab_bank
        self.weight = weight
        self.anchor_weight = anchor_weight
        self.gp = gp

    def sample_real(self, n: int, generator: Any, device: Any) -> tuple[Any, Any]:
        """``n`` codes (and labels) of the earlier days, drawn on the CPU, sent to ``device``."""
        import torch

        n_ref = int(round(self.anchor_weight * n))
        i = torch.randint(len(self.bank_ref), (n_ref,), generator=generator)
        j = torch.randint(len(self.bank), (n - n_ref,), generator=generator)
        return (torch.cat([self.bank_ref[i], self.bank[j]]).to(device),
                torch.cat([self.lab_ref[i], self.lab_bank[j]]).to(device))

    def __call__(self, state: TrainState) -> Any:
        import torch
        import torch.nn.functional as F

        _, z, _ = state.output
        lab = state.y
        n = len(z)
        real, lab_real = self.sample_real(n, state.generator, z.device)
        if self.gp > 0:
            real = real.clone().requires_grad_(True)
        # one discriminator pass over the earlier days' codes and the new day's (one
        # power iteration of the spectral norm per step; the steps' Python overhead, not
        # their arithmetic, is what adapt costs on a CPU)
        d = self.disc(torch.cat([real, z.detach()]), torch.cat([lab_real, lab]))
        d_real, d_fake = d[:n], d[n:]
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        if self.gp > 0:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            d_loss = d_loss + 0.5 * self.gp * grad.pow(2).sum(1).mean()
        # generator part: gradients reach the encoder only (D's parameters frozen here);
        # in eval mode: the spectral norm's estimate is not iterated a second time
        self.disc.requires_grad_(False)
        self.disc.eval()
        try:
            g = self.disc(z, lab)
        finally:
            self.disc.train()
            self.disc.requires_grad_(True)
        g_loss = F.binary_cross_entropy_with_logits(g, torch.ones_like(g))
        return self.weight * g_loss + d_loss


class _AnchorTerm:
    """Loss term: ``weight * ||W - W0||^2 / ||W0||^2`` on a linear encoder (its start)."""

    name = "anchor"

    def __init__(self, encoder: Any, weight: float) -> None:
        self.encoder = encoder
        self.weight = weight
        self.w0 = encoder.weight.detach().clone()
        self.b0 = encoder.bias.detach().clone()
        self.norm = float((self.w0 ** 2).sum() + (self.b0 ** 2).sum()) or 1.0

    def __call__(self, state: TrainState) -> Any:
        W, b = self.encoder.weight, self.encoder.bias
        d = ((W - self.w0.to(W.device)) ** 2).sum() + ((b - self.b0.to(b.device)) ** 2).sum()
        return self.weight * d / self.norm


class _Monitor(Callback):
    """Held-out reconstruction error and discriminator accuracy; stop near chance."""

    def __init__(self, term: _AdversarialTerm, x_val: Any, y_val: Any, tol: float,
                 patience: int, min_epochs: int, early_stopping: bool, seed: int) -> None:
        self.term, self.x_val, self.y_val = term, x_val, y_val
        self.tol, self.patience, self.min_epochs = tol, patience, min_epochs
        self.early_stopping = early_stopping
        self.seed = seed

    def on_train_begin(self, state: TrainState) -> None:
        self._wait = 0
        # best = (is_not_at_chance, recon or gap, weights, epoch): epochs at chance
        # (|acc - 0.5| <= tol) are preferred, and among them the best reconstruction
        self.best: tuple[Any, ...] = (True, np.inf, None, None)

    def measure(self, module: Any) -> tuple[float, float]:
        import torch

        from spikedecode._random import torch_generator

        was = module.training
        dev = next(module.parameters()).device
        x_val, y_val = self.x_val.to(dev), self.y_val.to(dev)
        module.eval()
        self.term.disc.eval()
        try:
            with torch.no_grad():
                x_hat, z, _ = module(x_val)
                recon = float(((x_hat - x_val) ** 2).mean())
                real, lab_real = self.term.sample_real(len(z), torch_generator(self.seed), dev)
                acc = 0.5 * (float((self.term.disc(real, lab_real) > 0).float().mean())
                             + float((self.term.disc(z, y_val) <= 0).float().mean()))
        finally:
            module.train(was)
            self.term.disc.train()
        return recon, acc

    def on_epoch_end(self, state: TrainState) -> None:
        recon, acc = self.measure(state.module)
        state.logs["val_recon"] = recon
        state.logs["val_disc_accuracy"] = acc
        if state.epoch + 1 < self.min_epochs:
            return
        gap = abs(acc - 0.5)
        at_chance = gap <= self.tol
        cand = (not at_chance, recon if at_chance else gap)
        # a plateau of the criterion the kept epoch is chosen by: no epoch has reached
        # chance for the first time, improved the held-out reconstruction at chance by
        # more than 1 %, or (never at chance) come closer to chance, for `patience`
        # epochs. The lag-conditioned discriminator seldom reaches chance on real days
        # and only gets better at telling them apart as it trains: waiting for chance
        # ran every day to max_epochs (issue 20, item 8)
        best_off, best_val = self.best[:2]
        if cand[0] != best_off:
            significant = cand[0] < best_off
        else:
            significant = cand[1] < (0.99 * best_val if not cand[0] else best_val)
        if cand < self.best[:2]:
            self.best = (*cand, copy.deepcopy(state.module.state_dict()), state.epoch)
        if not self.early_stopping:
            return
        self._wait = 0 if significant else self._wait + 1
        if self._wait >= self.patience:
            state.stop_training = True
            state.history.stopped_early = True

    def on_train_end(self, state: TrainState) -> None:
        if self.best[2] is not None:
            state.module.load_state_dict(self.best[2])
            state.history.best_epoch = self.best[3]


class AdversarialAligner(BaseDayAligner):
    """Reference-day autoencoder + per-day encoders aligned by one shared discriminator.

    Label-free: the discriminator only sees codes. See the module docstring for the
    stabilizers, and :class:`ConditionalAdversarialAligner` for the label-conditioned
    variant.

    Parameters
    ----------
    n_components : int, default=10
        Dimension of the common code space.
    adversarial_weight : float, default=0.5
        Weight of the adversarial loss in the convex combination with reconstruction.
    encoder : {"linear", "mlp"}, default="linear"
        New-day encoders; "linear" starts from the day's PCA projection.
    hidden_size : int, default=64
        Width of the decoders, the MLP encoders and the discriminator.
    lr, lr_disc : float, default=2e-3, 1e-3
        Learning rates of the encoder/decoder and of the discriminator.
    max_epochs, ref_epochs : int, default=150, 100
        At most this many epochs for a new day (it stops on a plateau: ``patience``),
        and the epochs of the reference autoencoder.
    min_epochs : int, default=10
        Early stopping is not considered before this many epochs.
    batch_size : int, default=128
    spectral_norm : bool, default=True
    gradient_penalty : float, default=1.0
        R1 penalty weight on the earlier days' codes (0 disables it).
    anchor_weight : float, default=0.5
        Fraction of each "earlier days" batch drawn from the reference day.
    early_stopping : bool, default=True
        Stop once the kept epoch's criterion has plateaued (stabilizer 5).
    tol : float, default=0.05
        Held-out discriminator accuracy within ``0.5 +- tol`` counts as chance.
    patience : int, default=5
        Epochs without improvement of that criterion before stopping.
    validation_fraction : float, default=0.2
        Share of each new day's samples held out for the monitor.
    bank_size : int, default=4096
        Size of the reservoir of earlier days' codes (constant: adapt cost does not grow).
    schedule : {"cosine", None}, default="cosine"
    grad_clip : float, default=5.0
    init : {"auto", "pca", "matched", "ot", "cca"}, default="auto"
        Start of a new day's linear encoder: its PCA projection ("pca"), rotated onto the
        reference by Procrustes on matched condition averages ("matched", conditional
        aligner only), by Wasserstein-Procrustes onto the reference codes ("ot",
        label-free), or CCA's solution on matched averages mapped into the reference
        codes ("cca": conditional, or label-free with ``n_lags > 1`` where CCA matches
        the lag averages). "auto": "cca" with the time-resolved reduction (``n_lags``,
        ``pca_on``, ``soft_norm``), else "matched" when conditional, else "pca".
    anchor_penalty : float or None, default=None
        Weight of a penalty on the distance of a new day's linear encoder from its start
        (relative squared distance): with few trials, keeps training from pulling an
        aligned start (``init``) away. 0 disables it. None: 10 in the time-resolved
        layout (``n_lags``, ``pca_on``, ``soft_norm``; on the Steinmetz sessions it
        lifts the label-free aligner from 28 % to 53 % of the ceiling on one mouse,
        docs/alignment.md), 0 otherwise (the simulated results unchanged).
    input_pca : int or None, default=None
        Reduce every day to this many principal components of its z-scored units (fitted
        on that day's own samples) before its encoder: far fewer parameters when a day
        has hundreds of units and few trials. None: the encoder reads the units.
    n_lags : int, default=1
        Lags per sample in ``X`` (features ``lag * n_units + unit``, e.g. Windows from
        ``from_counts(..., pool=p)``). With ``n_lags > 1`` every lag is a time bin: the
        encoders and the discriminator see bins, the discriminator is conditioned on the
        lag (label-free) or on condition *and* lag (conditional), and ``transform``
        returns the ``n_lags * n_components`` codes of each sample (one row per trial).
    pca_on : {"samples", "averages"}, default="samples"
        With ``"averages"`` (or ``n_lags > 1``, or ``soft_norm``) every day is first
        reduced to ``input_pca`` (default ``n_components``) dims exactly as
        :class:`~spikedecode.align.CCAAligner` does with the same ``n_lags``, ``pca_on``
        and ``soft_norm`` (PCA of the day's condition-and-lag averages; label-free: of
        its lag averages), and that aligner's map is the encoders' start
        (``init="auto"``): the adversarial game refines a time-resolved CCA on condition
        and lag (label-free: a :class:`~spikedecode.align.ProcrustesAligner` with
        ``scaling=True`` on the lag averages only, ``match="time"``).
    soft_norm : float, optional
        Each unit divided by its standard deviation plus ``soft_norm`` in that reduction.
    reference_day : hashable, optional
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the networks train ("auto": CUDA when available). Fitted modules are kept
        on the CPU.
    random_state : int or None
        Seeds everything. Each day gets its own seed, derived from ``random_state`` and
        the day's key, so a day's random draws do not depend on the days adapted before
        it (its result still does, through the shared discriminator and code reservoir).

    Attributes
    ----------
    encoders_ : dict day -> torch.nn.Module
        Frozen encoders (after ``fit``/``adapt``, never trained again).
    discriminator_ : torch.nn.Module
        The discriminator shared by all days (it keeps training as days are added).
    day_stats_ : dict day -> dict
        ``recon_mse`` (held-out, standardized units), ``disc_accuracy`` (held-out,
        balanced; 0.5 is chance), ``two_sample_accuracy`` (label-free only: a fresh
        k-NN classifier telling the day's codes from the reference day's, 0.5 is
        chance; NaN for the conditional aligner), ``epochs``, ``stopped_early``,
        ``time_s``.
    history_ : dict day -> History

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(200, 2))
    >>> days = {d: Z @ rng.normal(size=(2, 6 + d)) for d in range(3)}
    >>> al = AdversarialAligner(n_components=2, max_epochs=5, ref_epochs=5,
    ...                         random_state=0).fit(days)
    >>> al.transform(days[2], day=2).shape
    (200, 2)
    """

    uses_labels = False
    uses_time = False
    _conditional = False

    def __init__(self, *, n_components: int = 10, adversarial_weight: float = 0.5,
                 encoder: str = "linear", hidden_size: int = 64, lr: float = 2e-3, lr_disc: float = 1e-3,
                 max_epochs: int = 150, ref_epochs: int = 100, min_epochs: int = 10,
                 batch_size: int = 128, spectral_norm: bool = True,
                 gradient_penalty: float = 1.0, anchor_weight: float = 0.5,
                 early_stopping: bool = True, tol: float = 0.05, patience: int = 5,
                 validation_fraction: float = 0.2, bank_size: int = 4096,
                 schedule: str | None = "cosine", grad_clip: float | None = 5.0,
                 init: str = "auto", input_pca: int | None = None,
                 anchor_penalty: float | None = None,
                 n_lags: int = 1, pca_on: str = "samples", soft_norm: float | None = None,
                 reference_day: Hashable | None = None, device: Any = "auto",
                 random_state: Any = None) -> None:
        self.n_components = n_components
        self.adversarial_weight = adversarial_weight
        self.encoder = encoder
        self.hidden_size = hidden_size
        self.lr = lr
        self.lr_disc = lr_disc
        self.max_epochs = max_epochs
        self.ref_epochs = ref_epochs
        self.min_epochs = min_epochs
        self.batch_size = batch_size
        self.spectral_norm = spectral_norm
        self.gradient_penalty = gradient_penalty
        self.anchor_weight = anchor_weight
        self.early_stopping = early_stopping
        self.tol = tol
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.bank_size = bank_size
        self.schedule = schedule
        self.grad_clip = grad_clip
        self.init = init
        self.input_pca = input_pca
        self.anchor_penalty = anchor_penalty
        self.n_lags = n_lags
        self.pca_on = pca_on
        self.soft_norm = soft_norm
        self.reference_day = reference_day
        self.device = device
        self.random_state = random_state

    # -- checks -------------------------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        positive_int = Interval(Integral, 1, None)
        check_params(self, {
            "adversarial_weight": Interval(Real, 0, 1, closed="both"),
            "init": Options("auto", "pca", "matched", "ot", "cca"),
            "encoder": Options("linear", "mlp"),
            "anchor_weight": Interval(Real, 0, 1, closed="both"),
            "validation_fraction": Interval(Real, 0, 0.5, closed="neither"),
            "gradient_penalty": Interval(Real, 0, None),
            "tol": Interval(Real, 0, None),
            "lr": Interval(Real, 0, None, closed="neither"),
            "lr_disc": Interval(Real, 0, None, closed="neither"),
            "max_epochs": positive_int,
            "ref_epochs": positive_int,
            "min_epochs": Interval(Integral, 0, None),
            "batch_size": positive_int,
            "patience": positive_int,
            "bank_size": positive_int,
            "hidden_size": positive_int,
        })
        check_params(self, {"input_pca": [positive_int, None],
                            "anchor_penalty": [Interval(Real, 0, None), None],
                            "n_lags": positive_int,
                            "pca_on": Options("samples", "averages"),
                            "soft_norm": [Interval(Real, 0, None), None]})
        if not self._conditional and int(self.n_lags) < 2 and (
                self._time_resolved() or self.init == "cca"):
            raise ConfigError(
                f"{type(self).__name__} is label-free: pca_on='averages', soft_norm and "
                "init='cca' match each day's lag averages and need n_lags >= 2 (got n_lags "
                f"== {self.n_lags}); lay each trial out as lags, or use the conditional "
                "aligner.")

    def _needs_labels(self) -> bool:
        return self._conditional

    # -- helpers ------------------------------------------------------------------
    def _day_seed(self, day: Hashable) -> int:
        """Seed of one day, from the aligner's seed and the day's key only."""
        return day_seed(self._seed, day)

    def _time_resolved(self) -> bool:
        """Whether days go through the matched-average (CCA) reduction first."""
        return int(self.n_lags) > 1 or self.pca_on == "averages" or self.soft_norm is not None

    def _inputs(self, X: NDArray, y: NDArray | None, day: Hashable, fit: bool
                ) -> tuple[NDArray, NDArray | None]:
        """The encoder's input of a day (one row per bin) and its condition keys.

        Time-resolved reduction: the day is fitted into (or adapted to) the front-end
        :class:`~spikedecode.align.CCAAligner`, whose per-day PCA gives the input; the keys
        become ``"{key}|{lag}"`` (label-free: the lag only). Otherwise: ``input_pca`` or
        the units, keys unchanged.
        """
        if not self._time_resolved():
            return self._reduce_input(X, day, fit), y
        from spikedecode.align.cca import CCAAligner, ProcrustesAligner, _lag_keys

        L = int(self.n_lags)
        if fit:
            if not hasattr(self, "_front"):
                common = dict(n_components=int(self.input_pca or self.n_components),
                              n_lags=L, pca_on=self.pca_on, soft_norm=self.soft_norm)
                # label-free: 2 x n_lags averages are too few for CCA's per-axis
                # rescaling; a similarity transform (rotation + one scale) is matched
                # on the lag averages, as label-free alignment usually is (DAD)
                self._front = (CCAAligner(**common, match="labels") if self._conditional
                               else ProcrustesAligner(**common, scaling=True, match="time"))
                self._front.fit({day: X}, None if y is None else {day: y})
            else:
                self._front.adapt(X, y, day=day)
        if not self._conditional:
            keys = _lag_keys(np.full(len(X), "t"), L) if L > 1 else None
        else:
            keys = None if y is None else _lag_keys(np.asarray(y), L)
        return self._front._bin_latent(X, day), keys

    def _reduce_input(self, X: NDArray, day: Hashable, fit: bool) -> NDArray:
        """Per-day PCA of the z-scored units to ``input_pca`` dims (None: the units)."""
        if self.input_pca is None:
            return X
        from spikedecode.align.pca import day_pca

        if fit:
            if not hasattr(self, "input_"):
                self.input_ = {}
            d = int(min(self.input_pca, X.shape[0] - 1, X.shape[1]))
            pca = day_pca(X, d, day=day)
            self.input_[day] = (pca["mean"], pca["scale"], pca["components"])
        mean, scale, comp = self.input_[day]
        return ((X - mean) / scale) @ comp.T

    def _standardize(self, X: NDArray, day: Hashable) -> NDArray:
        return ((X - self.mean_[day]) / self.scale_[day]).astype(np.float32)

    def _label_index(self, y: NDArray | None, n: int, day: Hashable) -> NDArray:
        """Class index of every sample; -1 for a key the reference day does not have."""
        if not self._keyed_:
            return np.zeros(n, dtype=np.int64)
        return np.array([self._class_pos.get(k, -1) for k in y.tolist()], dtype=np.int64)

    def _shared_samples(self, y: NDArray | None, lab: NDArray, day: Hashable,
                        stacklevel: int) -> NDArray:
        """Samples whose condition key the reference day also has (conditional only).

        Keys present on one day only (e.g. a latency reached by the longer trials of one
        day) cannot be matched; their samples are left out of the adversarial game with
        a warning. No shared key at all is an error.
        """
        keep = np.flatnonzero(lab >= 0)
        if keep.size == len(lab):
            return keep
        unknown = sorted({str(k) for k, i in zip(y.tolist(), lab.tolist()) if i < 0})
        ref_keys = [str(c) for c in self.classes_.tolist()]
        if keep.size < 2:
            raise LabelError(
                f"day {day!r} shares no condition key with the reference day: its keys "
                f"{unknown[:5]} are absent from the reference's {ref_keys[:5]}"
                + ("..." if len(ref_keys) > 5 else "") + ". Use the same labels (and "
                "time grid) on every day, or the label-free AdversarialAligner.")
        warnings.warn(
            f"day {day!r}: {len(lab) - keep.size} of {len(lab)} samples have condition keys "
            f"absent from the reference day ({len(unknown)} key(s), e.g. {unknown[:3]}); "
            "they are left out of the conditional alignment (still transformed).",
            DataDroppedWarning, stacklevel=stacklevel)
        return keep

    def _encode(self, day: Hashable, Xs: NDArray) -> NDArray:
        import torch

        enc = self.encoders_[day]
        with torch.no_grad():
            return enc(torch.as_tensor(Xs)).numpy().astype(np.float64)

    def _opt(self, module: Any) -> Any:
        import torch

        def build(_params: Any) -> Any:
            return torch.optim.Adam([
                {"params": [p for n, p in module.named_parameters()
                            if not n.startswith("disc.") and p.requires_grad], "lr": self.lr},
                {"params": list(self.discriminator_.parameters()), "lr": self.lr_disc},
            ], betas=(0.5, 0.9), foreach=True)

        return build

    def _update_bank(self, codes: NDArray, labels: NDArray, rng: np.random.Generator) -> None:
        """Reservoir of the earlier days' codes, constant size ``bank_size``."""
        n_old = self._bank_seen
        cap = int(self.bank_size)
        for i in rng.permutation(len(codes)):
            if len(self._bank) < cap:
                self._bank.append(codes[i])
                self._bank_lab.append(labels[i])
            else:
                j = int(rng.integers(0, n_old + 1))
                if j < cap:
                    self._bank[j] = codes[i]
                    self._bank_lab[j] = labels[i]
            n_old += 1
        self._bank_seen = n_old

    # -- protocol -----------------------------------------------------------------
    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        import torch

        from spikedecode.align._nets import (
            AutoEncoder,
            Discriminator,
            build_decoder,
            build_encoder,
        )
        from spikedecode.align.pca import day_pca

        self._seed = draw_seed(self.random_state)
        if hasattr(self, "_front"):
            del self._front  # a refit starts a new front end
        X, y = self._inputs(X, y, day, fit=True)
        # the discriminator is conditioned on keys: labels (conditional) or lags
        self._keyed_ = self._conditional or (self._time_resolved() and int(self.n_lags) > 1)
        self.n_components_ = k = int(self.n_components)
        if k > X.shape[1]:
            raise ConfigError(f"n_components == {k} exceeds the reference day's {X.shape[1]} "
                              "features.")
        self.mean_ = {day: X.mean(0)}
        sc = X.std(0)
        self.scale_ = {day: np.where(sc > 1e-12, sc, 1.0)}
        if self._keyed_:
            self.classes_ = np.unique(y)
            self._class_pos = {c: i for i, c in enumerate(self.classes_.tolist())}
        lab = self._label_index(y, len(X), day)
        Xs = self._standardize(X, day)
        seed = self._day_seed(day)
        with torch_seeded(seed):
            init = day_pca(X, k, day=day)["components"] if self.encoder == "linear" else None
            ae = AutoEncoder(build_encoder(self.encoder, X.shape[1], k, self.hidden_size, init),
                             build_decoder(k, X.shape[1], self.hidden_size))
            self.discriminator_ = Discriminator(k, len(self.classes_) if self._keyed_
                                                else 0, self.hidden_size,
                                                bool(self.spectral_norm))
        xt = torch.as_tensor(Xs)
        lr = float(self.lr)
        hist = train(ae, (xt, xt), loss=lambda out, x: torch.nn.functional.mse_loss(out[0], x),
                     optimizer=lambda params: torch.optim.Adam(params, lr=lr, foreach=True),
                     lr=lr, max_epochs=int(self.ref_epochs), batch_size=int(self.batch_size),
                     schedule=self.schedule, device=self.device, random_state=seed,
                     grad_clip=self.grad_clip)
        ae = ae.cpu().eval()
        ae.requires_grad_(False)
        self.encoders_ = {day: ae.encoder}
        self.decoders_ = {day: ae.decoder}
        self.history_ = {day: hist}
        codes = self._encode(day, Xs)
        self._code_scale = float(codes.std()) or 1.0
        self._bank_ref = torch.as_tensor(codes, dtype=torch.float32)
        self._lab_ref = torch.as_tensor(lab)
        self._bank: list[NDArray] = []
        self._bank_lab: list[Any] = []
        self._bank_seen = 0
        self._update_bank(codes, lab, np.random.default_rng(seed))
        if self._init_kind() == "cca":
            from spikedecode.align.cca import CCAAligner

            # anchor: a CCA fitted on the reference day (the front end when time-resolved),
            # and the affine map from its space to the reference codes (new days start at
            # CCA's solution)
            if self._time_resolved():
                Zr = X  # the front end's reference latents are its aligned space
            else:
                self._cca_ref = CCAAligner(n_components=k).fit({day: X}, {day: y})
                Zr = self._cca_ref.transform(X, day=day)
            self._cca_map = np.linalg.lstsq(np.c_[Zr, np.ones(len(Zr))], codes, rcond=None)[0]
        recon = float(np.mean((ae.decoder(torch.as_tensor(codes, dtype=torch.float32)).numpy()
                               - Xs) ** 2))
        self.day_stats_ = {day: {"recon_mse": recon, "disc_accuracy": float("nan"),
                                 "epochs": len(hist.epochs), "stopped_early": False,
                                 "time_s": float(sum(hist["time_s"]))}}

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        import torch

        from spikedecode.align._nets import AutoEncoder, DayNet, build_decoder, build_encoder

        k = self.n_components_
        X, y = self._inputs(X, y, day, fit=True)
        if k > X.shape[1]:
            raise ConfigError(f"n_components == {k} exceeds day {day!r}'s {X.shape[1]} "
                              "features.")
        lab = self._label_index(y, len(X), day)
        keep = self._shared_samples(y, lab, day, kw.get("stacklevel", 4) + 1)
        self.mean_[day] = X.mean(0)
        sc = X.std(0)
        self.scale_[day] = np.where(sc > 1e-12, sc, 1.0)
        Xs = self._standardize(X, day)
        if keep.size < len(X):
            X, Xs, lab = X[keep], Xs[keep], lab[keep]
        seed = self._day_seed(day)
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(X))
        n_val = max(2, int(round(self.validation_fraction * len(X))))
        val, tr = perm[:n_val], perm[n_val:]
        with torch_seeded(seed):
            init, bias = None, None
            if self.encoder == "linear":
                init, bias = self._init_linear(X, Xs, lab, day)
            ae = AutoEncoder(build_encoder(self.encoder, X.shape[1], k, self.hidden_size, init,
                                           bias),
                             build_decoder(k, X.shape[1], self.hidden_size))
        bank = torch.as_tensor(np.asarray(self._bank), dtype=torch.float32)
        bank_lab = torch.as_tensor(np.asarray(self._bank_lab, dtype=np.int64))
        term = _AdversarialTerm(self.discriminator_, self._bank_ref, self._lab_ref, bank,
                                bank_lab, float(self.adversarial_weight),
                                float(self.anchor_weight),
                                float(self.gradient_penalty))
        module = DayNet(ae, term.disc)
        x_val = torch.as_tensor(Xs[val])
        mon = _Monitor(term, x_val, torch.as_tensor(lab[val]), float(self.tol),
                       int(self.patience), int(self.min_epochs), bool(self.early_stopping),
                       seed)
        weight = float(self.adversarial_weight)
        hist = train(module, (torch.as_tensor(Xs[tr]), torch.as_tensor(lab[tr])),
                     loss=lambda out, _y: (1.0 - weight) * torch.nn.functional.mse_loss(
                         out[0], out[2]),
                     optimizer=self._opt(module), lr=self.lr, max_epochs=int(self.max_epochs),
                     batch_size=int(self.batch_size),
                     loss_terms=[term] + ([_AnchorTerm(ae.encoder, self._anchor_penalty())]
                                          if self._anchor_penalty() > 0
                                          and self.encoder == "linear" else []),
                     callbacks=[mon],
                     schedule=self.schedule, device=self.device, random_state=seed,
                     grad_clip=self.grad_clip, drop_last=True)
        ae = ae.cpu().eval()
        ae.requires_grad_(False)
        self.discriminator_.cpu()
        recon, acc = mon.measure(module)
        self.encoders_[day] = ae.encoder
        self.decoders_[day] = ae.decoder
        self.history_[day] = hist
        codes = self._encode(day, Xs)
        # the label-free check below is the statistic's only use: the conditional
        # aligner skips it (a 5-fold k-NN fit, a third of a short adapt's time)
        two = (float("nan") if self._conditional else
               _two_sample_accuracy(codes, self._bank_ref.numpy().astype(np.float64), seed))
        self.day_stats_[day] = {"recon_mse": recon, "disc_accuracy": acc,
                                "two_sample_accuracy": two,
                                "epochs": len(hist.epochs),
                                "stopped_early": bool(hist.stopped_early),
                                "time_s": float(sum(hist["time_s"]))}
        # ~3 standard errors of a 0.5 accuracy on n samples, at least 0.15: no false alarm
        # from the small-sample spread of the k-NN estimate
        margin = max(0.15, 1.5 / np.sqrt(max(1, min(len(codes), len(self._bank_ref)))))
        if not self._conditional and abs(acc - 0.5) <= float(self.tol) + 0.05 \
                and two > 0.5 + margin:
            warnings.warn(
                f"day {day!r}: the discriminator sits at chance (held-out balanced accuracy "
                f"{acc:.2f}) but the days are not aligned: a fresh nearest-neighbour classifier "
                f"tells the new day's codes from the reference day's at {two:.2f} "
                f"(cross-validated; 0.5 = indistinguishable). The label-free alignment "
                "failed silently; try DistributionAligner ('distribution') or a labelled "
                "aligner.", AlignmentWarning, stacklevel=kw.get("stacklevel", 4))
        self._update_bank(codes, lab, rng)

    def _init_linear(self, X: NDArray, Xs: NDArray, lab: NDArray, day: Hashable
                     ) -> tuple[NDArray, NDArray]:
        """Initial weights of a new day's linear encoder (stabilizer 7).

        PCA projection of the z-scored day scaled to the reference codes' spread; for the
        conditional aligner (``init="matched"``), also rotated onto the reference codes by
        Procrustes on matched condition averages, so that the adversarial game starts
        from an aligned solution and only refines it.
        """
        from spikedecode.align.base import procrustes
        from spikedecode.align.pca import day_pca

        k = self.n_components_
        comp = day_pca(X, k, day=day)["components"]
        L = Xs.astype(np.float64) @ comp.T
        init = self._init_kind()
        if init == "ot":
            from spikedecode.align.distribution import sign_flip_starts, wasserstein_procrustes

            ref = self._bank_ref.numpy().astype(np.float64)
            mu_a = ref.mean(0)
            sc = float(ref.std()) / (float(L.std()) or 1.0)
            B = (L - L.mean(0)) * sc
            rng = np.random.default_rng(self._day_seed(day))
            src = B[rng.permutation(len(B))[:300]]
            tgt = (ref - mu_a)[rng.permutation(len(ref))[:300]]
            _, R = wasserstein_procrustes(src, tgt, sign_flip_starts(k, 64, rng))
            W = comp.T @ R * sc
            return W.T, mu_a - sc * (L.mean(0) @ R)
        if init == "cca" and self._time_resolved():
            mu_b, mu_a = self._front.offsets_[day]
            target = np.c_[(X - mu_b) @ self._front.maps_[day] + mu_a,
                           np.ones(len(X))] @ self._cca_map
            A = np.linalg.lstsq(np.c_[L, np.ones(len(L))], target, rcond=None)[0]
            return (comp.T @ A[:k]).T, A[k]
        if init == "cca" and self._conditional:
            cca = copy.deepcopy(self._cca_ref)
            keys = self.classes_[lab]
            cca.adapt(X, keys, day=day)
            Zc = cca.transform(X, day=day)
            target = np.c_[Zc, np.ones(len(Zc))] @ self._cca_map
            A = np.linalg.lstsq(np.c_[L, np.ones(len(L))], target, rcond=None)[0]
            return (comp.T @ A[:k]).T, A[k]
        if init == "matched" and self._keyed_:
            ref = self._bank_ref.numpy().astype(np.float64)
            ref_lab = self._lab_ref.numpy()
            shared = np.intersect1d(np.unique(ref_lab), np.unique(lab))
            if shared.size >= 2:
                A = np.stack([ref[ref_lab == c].mean(0) for c in shared])
                B = np.stack([L[lab == c].mean(0) for c in shared])
                mu_a, mu_b = A.mean(0), B.mean(0)
                # a start must keep every direction: the undetermined ones (2 classes
                # determine 1) are completed to the rotation nearest the identity
                R = procrustes(B - mu_b, A - mu_a, rank=shared.size - 1, complete="identity")
                den = float(np.sum((B - mu_b) ** 2))
                sc = float(np.sum(((B - mu_b) @ R) * (A - mu_a))) / den if den > 0 else 1.0
                W = comp.T @ R * sc  # (p, k)
                return W.T, mu_a - sc * (mu_b @ R)
        lat_sd = float(L.std()) or 1.0
        return comp * (self._code_scale / lat_sd), np.zeros(k)

    def _anchor_penalty(self) -> float:
        """``anchor_penalty``; None: 10 in the time-resolved layout, else 0."""
        if self.anchor_penalty is None:
            return 10.0 if self._time_resolved() else 0.0
        return float(self.anchor_penalty)

    def _init_kind(self) -> str:
        if self.init != "auto":
            return str(self.init)
        if self._time_resolved():
            return "cca"
        return "matched" if self._conditional else "pca"

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:
        Xin, _ = self._inputs(X, None, day, fit=False)
        return self._encode(day, self._standardize(Xin, day)).reshape(X.shape[0], -1)


class ConditionalAdversarialAligner(AdversarialAligner):
    """:class:`AdversarialAligner` whose discriminator also sees the label of each code.

    It matches the codes of each condition separately, which removes the ambiguities a
    label-free distribution match can fall into (swapped or rotated conditions). Needs
    condition keys ``y`` (the same key set as the reference day) for every day; with
    ``uses_time = True`` the evaluation passes ``"label@t"`` keys, so the discriminator
    is conditioned on condition *and* time since onset. Each new linear encoder starts
    from the Procrustes alignment of matched condition averages (``init="auto"``) and
    the adversarial game refines it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> lab = np.repeat(["a", "b"], 100); Z = rng.normal(size=(200, 2)) + (lab == "a")[:, None]
    >>> days = {d: Z @ rng.normal(size=(2, 6 + d)) for d in range(2)}
    >>> al = ConditionalAdversarialAligner(n_components=2, max_epochs=3, ref_epochs=3,
    ...                                    random_state=0).fit(days, {0: lab, 1: lab})
    >>> al.classes_.tolist()
    ['a', 'b']
    """

    uses_labels = True
    uses_time = True
    _conditional = True
