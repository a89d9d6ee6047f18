"""Noise transforms: input noise and hidden-layer noise.

Plain torch pieces that plug into the one training loop
(:func:`spikedecode.training.train`) as input ``transforms`` or ``callbacks``:

* **Input noise** — :func:`gaussian_noise` (the one functional Gaussian corruption; the
  attack registry's ``"gaussian"`` entry wraps it), :class:`GaussianNoise` (isotropic,
  optionally with σ drawn anew per batch in [0, σ]: the introspection study's domain
  randomization), :class:`DataNoise` (noise drawn from the training data's own statistics:
  N(0, a·Σ_data), or along the data's principal components with their variances) and
  :class:`CountNoise` (integer, non-negative noise for spike counts, Fano/Poisson-matched
  or isotropic of the same energy).
* **Hidden-layer noise** — :class:`LayerNoise` (a forward hook adding N(0, a·Σ_layer) to
  any layer, e.g. a decoder's hidden state).

Noisy architectures (``noisy_resnet20``, ``EnResNet``) live in
:mod:`spikedecode.robust.resnet`; prediction averaging and randomized smoothing in
:mod:`spikedecode.robust.smoothing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from torch import nn

from spikedecode._validation import Interval, Options, check_clip, check_param
from spikedecode.errors import ConfigError, NotEnoughDataError, SpikeDecodeTypeError
from spikedecode.robust._hooks import layer_output, replace_output, resolve_layer
from spikedecode.robust._utils import as_float_tensor, as_generator, as_tensor

__all__ = [
    "gaussian_noise",
    "GaussianNoise",
    "DataNoise",
    "CountNoise",
    "LayerNoise",
    "matched_isotropic",
]


# ----------------------------------------------------------------------------- helpers
def _state_generator(state: Any) -> torch.Generator | None:
    return getattr(state, "generator", None) if state is not None else None


def _randn(shape: Sequence[int], like: torch.Tensor, generator: torch.Generator | None
           ) -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device/dtype, from ``generator``."""
    if generator is None:
        return torch.randn(tuple(shape), device=like.device, dtype=like.dtype)
    out = torch.randn(tuple(shape), generator=generator, device=generator.device,
                      dtype=like.dtype)
    return out.to(like.device)


def _rand(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.rand((), device=like.device)
    return torch.rand((), generator=generator, device=generator.device).to(like.device)


def _clip(x: torch.Tensor, clip: tuple[float | None, float | None] | None) -> torch.Tensor:
    if clip is None:
        return x
    lo, hi = clip
    return x.clamp(min=lo, max=hi)


def _as_2d_numpy(X: Any, name: str = "X") -> np.ndarray:
    arr = X.detach().cpu().numpy() if torch.is_tensor(X) else np.asarray(X)
    if arr.ndim < 2:
        raise ConfigError(f"{name} has shape {arr.shape}; expected (n_samples, ...) with at "
                          "least 2 dimensions.")
    if arr.shape[0] < 2:
        raise NotEnoughDataError(f"{name} has {arr.shape[0]} sample(s); at least 2 are needed "
                                 "to estimate a covariance.")
    return arr.reshape(arr.shape[0], -1).astype(np.float64)


# ----------------------------------------------------------------------------- input noise
def gaussian_noise(x: Any, sigma: float, *,
                   clip: tuple[float | None, float | None] | None = None,
                   generator: torch.Generator | int | None = None) -> torch.Tensor:
    """Return ``x + N(0, sigma^2)`` (optionally clipped to ``clip``): a blind corruption.

    The functional twin of :class:`GaussianNoise`; ``ATTACKS["gaussian"]`` of
    :mod:`spikedecode.robust.attacks` wraps it with ``clip=(0, 1)`` for images.

    Parameters
    ----------
    x : Tensor or array-like
        Non-floating inputs (e.g. counts) are cast to float32 first.
    sigma : float
        Standard deviation, >= 0.
    clip : (low, high), optional
        Clamp the result, e.g. ``(0.0, 1.0)`` for images; ``None`` for either bound leaves
        that side open.
    generator : torch.Generator or int, optional
        Source of randomness (an int seeds a new CPU generator), for reproducible draws.

    Returns
    -------
    Tensor
        Same shape as ``x``; same dtype when ``x`` is floating.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> y = gaussian_noise(torch.zeros(10000), 0.5, generator=g)
    >>> round(float(y.std()), 1)
    0.5
    >>> out = gaussian_noise(torch.rand(3, 4), 0.5, clip=(0.0, 1.0), generator=0)
    >>> bool(out.min() >= 0) and bool(out.max() <= 1)
    True
    """
    x = as_tensor(x)
    x = x.detach() if x.is_floating_point() else x.detach().float()
    sigma = check_param(sigma, "sigma", Interval(Real, 0, None))
    clip = check_clip(clip, hint="Use (0.0, 1.0) for images.")
    generator = as_generator(generator)
    if sigma == 0:
        return _clip(x.clone(), clip)
    return _clip(x + sigma * _randn(x.shape, x, generator), clip)


class GaussianNoise:
    """Isotropic Gaussian input noise, a transform for :func:`spikedecode.training.train`.

    Parameters
    ----------
    sigma : float
        Noise standard deviation (the maximum when ``randomize``).
    randomize : bool, default=False
        Draw σ uniformly in [0, sigma] anew for every batch (domain randomization, as in
        the self-introspection study with sigma=1).
    train_only : bool, default=True
        False keeps the noise on when the training loop evaluates (test-time noise).
    clip : (low, high), optional
        Clamp noisy inputs (``(0, 1)`` for images, ``(0, None)`` for counts).

    Notes
    -----
    Called as ``tf(x, state)``; the noise is drawn from ``state.generator`` (seeded by
    ``train(random_state=...)``) so that a training run is reproducible. The σ used for
    the last batch is kept in ``last_sigma_``.

    Examples
    --------
    >>> import torch
    >>> tf = GaussianNoise(1.0, randomize=True)
    >>> g = torch.Generator().manual_seed(0)
    >>> class S: generator = g
    >>> x = tf(torch.zeros(4, 3), S())
    >>> 0.0 <= tf.last_sigma_ <= 1.0
    True
    """

    def __init__(self, sigma: float, randomize: bool = False, train_only: bool = True,
                 clip: tuple[float | None, float | None] | None = None) -> None:
        self.sigma = check_param(sigma, "sigma", Interval(Real, 0, None))
        self.randomize = bool(randomize)
        self.train_only = bool(train_only)
        self.clip = clip
        self.last_sigma_: float | None = None

    @property
    def energy(self) -> float:
        """Expected squared noise norm per feature, ``E[sigma^2]`` (sigma^2/3 if randomized)."""
        return self.sigma**2 / 3.0 if self.randomize else self.sigma**2

    def __call__(self, x: torch.Tensor, state: Any = None) -> torch.Tensor:  # noqa: D102
        gen = _state_generator(state)
        sigma = self.sigma
        if self.randomize:
            sigma = float(_rand(x, gen)) * self.sigma
        self.last_sigma_ = sigma
        return gaussian_noise(x, sigma, generator=gen, clip=self.clip)

    def __repr__(self) -> str:
        return (f"GaussianNoise(sigma={self.sigma}, randomize={self.randomize}, "
                f"train_only={self.train_only})")


class DataNoise:
    """Gaussian input noise shaped by the training data's covariance.

    Parameters
    ----------
    kind : {"covariance", "pca", "isotropic"}, default="covariance"
        ``"covariance"``: N(0, scale·Σ_data). ``"pca"``: the same along the top
        ``n_components`` principal components only (with their variances).
        ``"isotropic"``: N(0, σ²·I) with σ² = scale·tr(Σ)/d, i.e. the same expected energy
        E‖n‖² as ``"covariance"`` — the control for "is the *shape* what helps?".
    scale : float, default=0.1
        The factor ``a`` in N(0, a·Σ).
    n_components : int, optional
        Components kept by ``"pca"`` (default: those explaining 95 % of the variance).
    train_only : bool, default=True
    clip : (low, high), optional

    Attributes
    ----------
    components_ : ndarray (k, d)
        Principal directions used (rows).
    variances_ : ndarray (k,)
        Data variance along them.
    energy_ : float
        Expected squared norm of one noise draw.
    shape_ : tuple
        Feature shape of the fitted data.

    Examples
    --------
    >>> import numpy as np, torch
    >>> X = np.random.default_rng(0).normal(size=(500, 4)) * [3.0, 1.0, 0.1, 0.1]
    >>> dn = DataNoise(scale=1.0).fit(X)
    >>> s = dn.sample(20000, generator=torch.Generator().manual_seed(0))
    >>> bool(np.allclose(s.std(0).numpy(), X.std(0), rtol=0.05))  # noise std = data std
    True
    """

    def __init__(self, kind: str = "covariance", scale: float = 0.1,
                 n_components: int | None = None, train_only: bool = True,
                 clip: tuple[float | None, float | None] | None = None) -> None:
        check_param(kind, "kind", Options("covariance", "pca", "isotropic"))
        self.kind = kind
        self.scale = check_param(scale, "scale", Interval(Real, 0, None))
        self.n_components = n_components
        self.train_only = bool(train_only)
        self.clip = clip

    def fit(self, X: Any, y: Any = None) -> DataNoise:
        """Estimate the data covariance of ``X`` (n_samples, ...) and its eigenbasis."""
        arr = X.detach().cpu().numpy() if torch.is_tensor(X) else np.asarray(X)
        self.shape_ = tuple(arr.shape[1:])
        Z = _as_2d_numpy(arr)
        d = Z.shape[1]
        cov = np.cov(Z, rowvar=False).reshape(d, d)
        lam, vec = np.linalg.eigh(cov)
        order = np.argsort(lam)[::-1]
        lam = np.clip(lam[order], 0.0, None)
        vec = vec[:, order]
        total = float(lam.sum())
        if self.kind == "pca":
            if self.n_components is None:
                cum = np.cumsum(lam) / max(total, 1e-300)
                k = int(np.searchsorted(cum, 0.95) + 1)
            else:
                k = check_param(self.n_components, "n_components", Interval(Integral, 1, None))
                if k > d:
                    raise ConfigError(f"n_components == {k}, but the data have only {d} "
                                      "features.")
            lam, vec = lam[:k], vec[:, :k]
        self.components_ = vec.T.astype(np.float32)
        self.variances_ = lam.astype(np.float32)
        if self.kind == "isotropic":
            self.sigma_ = float(np.sqrt(self.scale * total / d))
            self.energy_ = self.scale * total
        else:
            self.energy_ = float(self.scale * lam.sum())
        # (k, d) factor: noise = z @ factor, z ~ N(0, I_k)
        self._factor = torch.from_numpy(
            (np.sqrt(self.scale * lam)[:, None] * vec.T).astype(np.float32))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "_factor"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This DataNoise is not fitted yet; call fit(X_train) first.")

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` noise draws shaped like one fitted sample."""
        self._check_fitted()
        n = check_param(n, "n", Interval(Integral, 1, None))
        d = int(np.prod(self.shape_))
        like = self._factor
        if self.kind == "isotropic":
            flat = self.sigma_ * _randn((n, d), like, generator)
        else:
            z = _randn((n, self._factor.shape[0]), like, generator)
            flat = z @ self._factor
        return flat.reshape((n, *self.shape_))

    def __call__(self, x: torch.Tensor, state: Any = None) -> torch.Tensor:  # noqa: D102
        noise = self.sample(len(x), _state_generator(state)).to(device=x.device, dtype=x.dtype)
        return _clip(x + noise.reshape(x.shape), self.clip)


def matched_isotropic(noise: DataNoise | CountNoise, *, train_only: bool | None = None
                      ) -> GaussianNoise | CountNoise:
    """An isotropic noise with the same expected energy E‖n‖² as a fitted ``noise``.

    For a :class:`DataNoise` returns a :class:`GaussianNoise`; for a :class:`CountNoise`
    returns a fitted ``CountNoise(kind="isotropic")``.

    Parameters
    ----------
    noise : DataNoise or CountNoise
        A fitted noise.
    train_only : bool, optional
        ``train_only`` of the result; default that of ``noise``.

    Returns
    -------
    GaussianNoise or CountNoise
        The isotropic noise.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> dn = DataNoise(kind="pca", n_components=2, scale=0.5).fit(X)
    >>> iso = matched_isotropic(dn)
    >>> bool(np.isclose(iso.sigma**2 * 5, dn.energy_))
    True
    """
    if isinstance(noise, DataNoise):
        noise._check_fitted()
        d = int(np.prod(noise.shape_))
        return GaussianNoise(float(np.sqrt(noise.energy_ / d)),
                             train_only=noise.train_only if train_only is None else train_only,
                             clip=noise.clip)
    if isinstance(noise, CountNoise):
        noise._check_fitted()
        iso = CountNoise(kind="isotropic", scale=noise.scale,
                         train_only=noise.train_only if train_only is None else train_only)
        iso.shape_ = noise.shape_
        iso.variance_ = np.full_like(noise.variance_, float(np.mean(noise.variance_)))
        iso.energy_ = float(iso.scale * iso.variance_.sum())
        return iso
    raise SpikeDecodeTypeError(f"noise must be a fitted DataNoise or CountNoise; got "
                               f"{type(noise).__name__}.")


class CountNoise:
    """Integer, non-negative noise for spike counts (a training-loop transform).

    Each count gets ``n = P1 - P2`` added, with P1, P2 ~ Poisson(v/2) independent (a
    Skellam variable: mean 0, variance v, integer), and the result is clipped at 0.

    Parameters
    ----------
    kind : {"fano", "poisson", "isotropic"}, default="fano"
        How the variance v of each entry is chosen. ``"fano"`` (data-informed): v =
        scale·(within-class variance of that feature in the training data), i.e. the
        trial-to-trial variability the recording itself shows (its Fano factor times its
        mean). ``"poisson"``: v = scale·x (the variance a Poisson neuron with that count
        would have; needs no fit). ``"isotropic"``: v = scale·mean over features of the
        ``"fano"`` variances — the same expected energy, spread evenly.
    scale : float, default=1.0
    train_only : bool, default=True

    Attributes
    ----------
    variance_ : ndarray
        Per-feature variance before ``scale`` (``"fano"``/``"isotropic"``).
    fano_ : ndarray
        Per-feature within-class Fano factor (variance / mean; NaN where the mean is 0).
    energy_ : float
        Expected squared norm of one noise draw before clipping.

    Examples
    --------
    >>> import numpy as np, torch
    >>> X = np.random.default_rng(0).poisson(3.0, size=(400, 6))
    >>> cn = CountNoise(kind="fano").fit(X)
    >>> out = cn(torch.as_tensor(X, dtype=torch.float32))
    >>> bool((out >= 0).all()) and bool((out == out.round()).all())
    True
    """

    def __init__(self, kind: str = "fano", scale: float = 1.0, train_only: bool = True) -> None:
        check_param(kind, "kind", Options("fano", "poisson", "isotropic"))
        self.kind = kind
        self.scale = check_param(scale, "scale", Interval(Real, 0, None))
        self.train_only = bool(train_only)

    def fit(self, X: Any, y: Any = None) -> CountNoise:
        """Estimate per-feature (within-class when ``y`` is given) variances of counts."""
        arr = X.detach().cpu().numpy() if torch.is_tensor(X) else np.asarray(X)
        if np.any(arr < 0):
            raise ConfigError("X holds negative values; CountNoise expects spike counts >= 0.")
        self.shape_ = tuple(arr.shape[1:])
        Z = _as_2d_numpy(arr)
        if y is None:
            var = Z.var(0, ddof=1)
            mean = Z.mean(0)
        else:
            y = np.asarray(y)
            if len(y) != len(Z):
                raise ConfigError(f"y has {len(y)} labels but X has {len(Z)} samples.")
            var = np.zeros(Z.shape[1])
            mean = Z.mean(0)
            n_tot = 0
            for c in np.unique(y):
                Zc = Z[y == c]
                if len(Zc) > 1:
                    var += Zc.var(0, ddof=1) * (len(Zc) - 1)
                    n_tot += len(Zc) - 1
            if n_tot == 0:
                raise NotEnoughDataError("every class has a single sample; cannot estimate "
                                         "within-class variances.")
            var /= n_tot
        with np.errstate(divide="ignore", invalid="ignore"):
            self.fano_ = np.where(mean > 0, var / mean, np.nan)
        if self.kind == "isotropic":
            var = np.full_like(var, var.mean())
        self.variance_ = var
        self.energy_ = float(self.scale * var.sum())
        return self

    def _check_fitted(self) -> None:
        if self.kind != "poisson" and not hasattr(self, "variance_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"This CountNoise(kind={self.kind!r}) is not fitted yet; call "
                                 "fit(X_train, y_train) first.")

    def __call__(self, x: torch.Tensor, state: Any = None) -> torch.Tensor:  # noqa: D102
        self._check_fitted()
        gen = _state_generator(state)
        if self.kind == "poisson":
            v = self.scale * x.detach().clamp(min=0)
        else:
            v = torch.as_tensor(self.scale * self.variance_, dtype=x.dtype).reshape(
                x.shape[1:]).expand_as(x)
        rate = (v / 2).to(gen.device if gen is not None else x.device)
        p1 = torch.poisson(rate, generator=gen)
        p2 = torch.poisson(rate, generator=gen)
        return (x + (p1 - p2).to(x.device, x.dtype)).clamp(min=0)


class LayerNoise:
    """Gaussian noise on a hidden layer's output through a forward hook.

    Parameters
    ----------
    layer : torch.nn.Module or str
        The layer whose output is perturbed (for modules returning a tuple, such as
        ``nn.LSTM``, the first element, the output sequence: see
        :mod:`spikedecode.robust._hooks`). A str is a submodule name (``"lstm"``,
        ``"layers.1"``) resolved against the trained module at the start of training —
        for decoders whose network is built inside ``fit``.
    kind : {"covariance", "isotropic", "relative"}, default="covariance"
        ``"covariance"``: N(0, scale·Σ_layer) with Σ_layer the covariance of the layer's
        (clean) activations — data-informed. ``"isotropic"``: the same energy spread
        evenly. ``"relative"``: N(0, (scale·std(h))²) per sample, like the noisy ResNet.
    scale : float, default=0.1
    test_time : bool, default=False
        Keep the noise on in eval mode (otherwise only while ``layer.training``).
    max_features : int, default=4096
        Largest layer width for which a full covariance is estimated.

    Notes
    -----
    Use it as a ``callback`` of :func:`spikedecode.training.train`: it attaches its hook
    at the start of training, accumulates the clean activations' first and second moments
    during each epoch and refreshes Σ_layer at the epoch's end (the first epoch uses each
    batch's own covariance until then, or the covariance from :meth:`fit`). Outside
    training call :meth:`attach` / :meth:`detach` yourself.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> ln = LayerNoise(net[1], kind="isotropic", scale=0.1, test_time=True)
    >>> ln = ln.fit(net, torch.randn(64, 4)).attach()
    >>> bool((net(torch.ones(1, 4)) != net(torch.ones(1, 4))).any())
    True
    >>> ln.detach()
    """

    def __init__(self, layer: nn.Module, kind: str = "covariance", scale: float = 0.1,
                 test_time: bool = False, max_features: int = 4096) -> None:
        if not isinstance(layer, (nn.Module, str)):
            raise SpikeDecodeTypeError(f"layer must be a torch.nn.Module or a submodule name; "
                                       f"got {type(layer).__name__}.")
        check_param(kind, "kind", Options("covariance", "isotropic", "relative"))
        self.layer = layer
        self.kind = kind
        self.scale = check_param(scale, "scale", Interval(Real, 0, None))
        self.test_time = bool(test_time)
        self.max_features = int(max_features)
        self.enabled = True
        self._handle: Any = None
        self._factor: torch.Tensor | None = None
        self._reset_moments()

    # -- statistics
    def _reset_moments(self) -> None:
        self._n = 0
        self._s1: torch.Tensor | None = None
        self._s2: torch.Tensor | None = None

    def _set_cov(self, cov: torch.Tensor) -> torch.Tensor:
        """Store (and return) the noise factor of covariance ``cov``."""
        cov = (cov + cov.T) / 2
        lam, vec = torch.linalg.eigh(cov.double())
        lam = lam.clamp(min=0)
        self.energy_ = float(self.scale * lam.sum())
        if self.kind == "isotropic":
            d = cov.shape[0]
            factor = torch.full((1,), float(np.sqrt(self.scale * float(lam.sum()) / d)))
        else:
            factor = (lam.sqrt()[:, None] * vec.T).float() * float(np.sqrt(self.scale))
        self._factor = factor
        return factor

    def _accumulate(self, h: torch.Tensor) -> None:
        z = h.detach().reshape(len(h), -1).double()
        if z.shape[1] > self.max_features:
            raise ConfigError(f"the layer has {z.shape[1]} features > max_features == "
                              f"{self.max_features}; use kind='relative' or raise "
                              "max_features.")
        s1, s2 = z.sum(0), z.T @ z
        self._s1 = s1 if self._s1 is None else self._s1 + s1
        self._s2 = s2 if self._s2 is None else self._s2 + s2
        self._n += len(z)

    def _cov_from_moments(self) -> torch.Tensor | None:
        if self._n < 2 or self._s1 is None or self._s2 is None:
            return None
        mean = self._s1 / self._n
        return (self._s2 - self._n * torch.outer(mean, mean)) / (self._n - 1)

    def fit(self, model: nn.Module, X: Any, *, batch_size: int = 512) -> LayerNoise:
        """Estimate the layer's activation covariance on ``X`` (no noise while fitting)."""
        if self.kind == "relative":
            return self
        X = as_float_tensor(X).float()
        self._reset_moments()
        handle = self._resolve(model).register_forward_hook(
            lambda m, i, o: self._accumulate(layer_output(o)))
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                for i in range(0, len(X), batch_size):
                    model(X[i:i + batch_size])
        finally:
            handle.remove()
            model.train(was)
        cov = self._cov_from_moments()
        if cov is None:
            raise NotEnoughDataError("LayerNoise.fit needs at least 2 samples.")
        self._set_cov(cov)
        self._reset_moments()
        return self

    # -- hook
    def _noise(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "relative":
            std = h.detach().reshape(len(h), -1).std(1).reshape(-1, *([1] * (h.ndim - 1)))
            return self.scale * std * torch.randn_like(h)
        if self._factor is None:  # first batches of a run without fit(): batch covariance
            z = h.detach().reshape(len(h), -1)
            if len(z) < 2:
                return torch.zeros_like(h)
            # this batch's factor only: the next batch without fit() estimates its own
            factor = self._set_cov(torch.cov(z.T.double()).reshape(z.shape[1], z.shape[1]))
            self._factor = None
        else:
            factor = self._factor
        if self.kind == "isotropic":
            return float(factor[0]) * torch.randn_like(h)
        z = torch.randn(len(h), factor.shape[0], device=h.device, dtype=h.dtype)
        return (z @ factor.to(h.device, h.dtype)).reshape(h.shape)

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        if not self.enabled or not (module.training or self.test_time):
            return None
        h = layer_output(output)
        if module.training and self.kind != "relative":
            self._accumulate(h)
        return replace_output(output, h + self._noise(h))

    def _resolve(self, module: Any = None) -> nn.Module:
        if isinstance(self.layer, nn.Module):
            return self.layer
        if module is None:
            raise ConfigError(f"layer == {self.layer!r} is a name; pass the model to attach() "
                              "or use LayerNoise as a training callback.")
        return resolve_layer(module, self.layer)

    def attach(self, module: Any = None) -> LayerNoise:
        """Register the forward hook (idempotent); returns self.

        ``module`` resolves a layer given by name.
        """
        if self._handle is None:
            self._handle = self._resolve(module).register_forward_hook(self._hook)
        return self

    def detach(self) -> None:
        """Remove the forward hook."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    # -- training-loop callback protocol
    def on_train_begin(self, state: Any) -> None:  # noqa: D102
        self._reset_moments()
        self.attach(getattr(state, "module", None))

    def on_epoch_end(self, state: Any) -> None:  # noqa: D102
        cov = self._cov_from_moments()
        if cov is not None and self.kind != "relative":
            self._set_cov(cov)
        self._reset_moments()

    def on_train_end(self, state: Any) -> None:  # noqa: D102
        if not self.test_time:
            self.detach()
