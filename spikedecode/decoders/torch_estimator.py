"""One scikit-learn classifier wrapper for any torch ``nn.Module``.

:class:`TorchClassifier` turns a module factory, a module instance or the name of a
built-in network (``"mlp"``, ``"lstm"``: the registry
:data:`spikedecode.decoders._nets.NETWORKS`) into a scikit-learn classifier that trains
through :func:`spikedecode.training.train`, the project's one training loop. Network
parameters are routed through ``module_params`` (or ``set_params(module__name=...)``, as
in skorch). :class:`~spikedecode.decoders.MLPDecoder` and
:class:`~spikedecode.decoders.LSTMDecoder` are presets: ``TorchClassifier(module="mlp")``
and ``TorchClassifier(module="lstm")`` with the network parameters in the signature.

Input layout
------------
``X`` is ``(sample, lag, unit)`` as produced by ``preprocess.to_sequences`` (any
``(sample, *shape)`` array with ``ndim >= 3`` is accepted and its trailing shape kept);
a 2-D ``X`` ``(sample, feature)`` counts as sequences of length 1, or is reshaped to
``(sample, n_lags, feature // n_lags)`` when ``n_lags`` is given (the C-order layout of
``preprocess.to_xy``). The fitted ``module_`` is a plain ``nn.Module`` that maps float32
tensors of shape ``(batch, *input_shape_)`` to logits; :meth:`TorchClassifier.torch_module`
returns it wrapped so that it also accepts flat ``(batch, n_features_in_)`` tensors. That is
what :mod:`spikedecode.robust` attacks and regularizes.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    check_X_y,
    column_or_1d,
    validate_data,
)

from spikedecode._random import draw_seed
from spikedecode._validation import Interval, Options, check_params
from spikedecode.errors import ConfigError, NotEnoughDataError, SpikeDecodeValueError
from spikedecode.preprocess.resample import balanced_bootstrap_indices, grouped_validation_split

__all__ = ["TorchClassifier"]

# parameters that are objects (plug-ins): not stored in a saved model's JSON config
_NOT_SAVED = ("loss_terms", "transforms", "callbacks", "module")


def _import_path(obj: Any) -> str | None:
    mod = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None)
    if not mod or not name or "<" in name:
        return None
    return f"{mod}:{name}"


def _resolve_import_path(path: str) -> Any:
    mod, _, name = path.partition(":")
    if not (mod == "spikedecode" or mod.startswith("spikedecode.") or mod.startswith("torch.")):
        raise ConfigError(
            f"the saved module factory {path!r} is outside spikedecode/torch and is not imported "
            "from a file for safety; pass it explicitly: load(path, module=<factory>)."
        )
    obj: Any = importlib.import_module(mod)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier around any torch ``nn.Module``.

    Trains through :func:`spikedecode.training.train` (Adam by default) with early
    stopping on a validation split that keeps groups (trials) whole.

    Parameters
    ----------
    module : str, callable or torch.nn.Module, default=None
        ``"mlp"`` or ``"lstm"`` (the built-in networks, as in the presets), a factory
        ``module(input_shape, n_classes, **module_params) -> nn.Module`` where
        ``input_shape`` is the per-sample shape (``(lag, unit)``), or an ``nn.Module``
        instance (deep-copied at each fit). The module maps float32
        ``(batch, *input_shape)`` tensors to ``(batch, n_classes)`` logits.
    module_params : dict, default=None
        Keyword arguments of the factory (the network parameters), e.g.
        ``{"hidden_layer_sizes": (32,)}`` for ``"mlp"``; ``set_params(module__x=v)``
        updates one entry.
    max_epochs : int, default=100
    batch_size : int, default=64
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    optimizer : {"adam", "adamw", "sgd"} or callable, default="adam"
    validation_fraction : float, default=0.1
        Fraction of the training groups (or samples, without groups) held out for early
        stopping; 0 disables validation and early stopping.
    patience : int or None, default=10
        Early-stopping patience in epochs on the validation metric; best weights restored.
    early_stopping_metric : {"loss", "accuracy"}, default="loss"
        What early stopping watches on the validation set: its cross-entropy or its
        accuracy (the epoch with the best validation accuracy is restored).
    standardize : bool or None, default=None
        Standardise each input feature (the last axis: units) with the mean and standard
        deviation of the training part (the validation data excluded). The statistics live
        in the network's ``input_scale`` layer (a
        :class:`~spikedecode.decoders._nets.InputScale`), so ``module_``, ``torch_module()``,
        saved models and attacks all take raw inputs. None: when the network has such a
        layer (the built-in ones do); True: required; False: never.
    grad_clip : float or None, default=None
    n_lags : int or None, default=None
        Reshape a 2-D ``X`` to ``(sample, n_lags, feature // n_lags)``.
    bootstrap : bool or {"largest", "fold"}, default=False
        Train on a class-balanced bootstrap of the training fold (drawn after the
        validation split, so validation stays clean). ``True`` or ``"largest"`` draws every
        class up to the largest class's size (the seed study); ``"fold"`` keeps the
        fold's size (see :func:`spikedecode.preprocess.resample.balanced_bootstrap_indices`), so an epoch costs no more
        than without the bootstrap.
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int, RandomState or None, default=None
        Seeds the weights, the validation split, the bootstrap, dropout and batch order.
    progress : bool, default=False
        Show a progress bar over epochs.
    warm_start : bool, default=False
        Keep training the fitted ``module_`` on the next ``fit`` instead of rebuilding it.
    loss_terms, transforms, callbacks : sequences, default=()
        Passed straight to :func:`spikedecode.training.train` (e.g.
        ``robust.SpectralRegularizer``, noise injection). ``decoders`` never imports
        ``robust``: pass its pieces in.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained plain module (eval mode), input ``(batch, *input_shape_)`` float32.
    classes_ : ndarray
    n_features_in_ : int
        ``prod(input_shape_)``.
    input_shape_ : tuple of int
        Per-sample shape the module expects, e.g. ``(lag, unit)``.
    device_ : torch.device
    history_ : spikedecode.training.History
    n_epochs_ : int

    Examples
    --------
    >>> from torch import nn
    >>> def linear(shape, n_classes):
    ...     return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), n_classes))
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 2, 3)).astype("float32"); y = (X[:, 0, 0] > 0).astype(int)
    >>> clf = TorchClassifier(module=linear, max_epochs=30, lr=0.05, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.8
    True
    """

    def __init__(
        self,
        *,
        module: Any = None,
        module_params: dict[str, Any] | None = None,
        max_epochs: int = 100,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str | Callable = "adam",
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        grad_clip: float | None = None,
        n_lags: int | None = None,
        bootstrap: bool | str = False,
        device: Any = "auto",
        random_state: Any = None,
        progress: bool = False,
        warm_start: bool = False,
        loss_terms: Sequence[Any] = (),
        transforms: Sequence[Any] = (),
        callbacks: Sequence[Any] = (),
        early_stopping_metric: str = "loss",
        standardize: bool | None = None,
    ) -> None:
        self.module = module
        self.module_params = module_params
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.grad_clip = grad_clip
        self.n_lags = n_lags
        self.bootstrap = bootstrap
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.warm_start = warm_start
        self.loss_terms = loss_terms
        self.transforms = transforms
        self.callbacks = callbacks
        self.early_stopping_metric = early_stopping_metric
        self.standardize = standardize

    #: name of the built-in network a preset builds (see ``_nets.NETWORKS``)
    _preset: str | None = None
    #: the preset's network parameters, routed to the network factory
    _network_params: tuple[str, ...] = ()

    @classmethod
    def _get_param_defaults(cls) -> dict[str, Any]:
        """``{name: default}`` of the constructor's parameters."""
        import inspect

        return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if name != "self"}

    def set_params(self, **params: Any) -> TorchClassifier:
        """Set parameters; ``module__name=value`` updates ``module_params["name"]`` (skorch)."""
        routed = {k[len("module__"):]: params.pop(k) for k in list(params)
                  if k.startswith("module__")}
        if routed:
            if self._preset is not None:
                raise ConfigError(
                    f"{sorted(routed)}: {type(self).__name__} takes its network parameters "
                    f"directly ({', '.join(self._network_params)}); set those instead."
                )
            self.module_params = {**(self.module_params or {}), **routed}
        return super().set_params(**params)

    # ------------------------------------------------------------------ hooks
    def _module_spec(self) -> tuple[Any, dict[str, Any]]:
        """``(module, params)``: what to build (a preset's network and its parameters)."""
        if self._preset is not None:
            return self._preset, {k: getattr(self, k) for k in self._network_params}
        return self.module, dict(self.module_params or {})

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> Any:
        """Build a fresh module for this input shape."""
        import torch

        from spikedecode.decoders._nets import NETWORKS

        module, params = self._module_spec()
        if module is None:
            raise ConfigError(
                "module is None; pass 'mlp' or 'lstm', a factory module(input_shape, "
                "n_classes) -> nn.Module or an nn.Module instance, or use MLPDecoder / "
                "LSTMDecoder."
            )
        if isinstance(module, str):
            if module not in NETWORKS:
                raise ConfigError(f"module == {module!r}, must be one of {sorted(NETWORKS)}, "
                                  "a factory or an nn.Module.")
            module = NETWORKS[module]
        if isinstance(module, torch.nn.Module):
            return copy.deepcopy(module)
        if not callable(module):
            raise ConfigError(f"module == {module!r} is neither callable nor an nn.Module.")
        return module(tuple(input_shape), int(n_classes), **params)

    def _check_params(self) -> None:
        check_params(self, {
            "max_epochs": Interval(Integral, 1, None),
            "batch_size": Interval(Integral, 1, None),
            "lr": Interval(Real, 0, None, closed="neither"),
            "weight_decay": Interval(Real, 0, None),
            "validation_fraction": Interval(Real, 0, 1, closed="left"),
            "patience": [Interval(Integral, 1, None), None],
            "n_lags": [Interval(Integral, 1, None), None],
            "bootstrap": Options(False, True, "largest", "fold"),
            "early_stopping_metric": Options("loss", "accuracy"),
            "standardize": Options(None, True, False),
        })

    # ----------------------------------------------------------------- input
    def _validate_X(self, X: Any, y: Any = None, *, reset: bool) -> Any:
        """Validate X (and y) and return X as float32 ``(sample, *input_shape)``."""
        nd = getattr(X, "ndim", None)
        if nd is None and not hasattr(X, "shape") and isinstance(X, (list, tuple)):
            nd = np.ndim(X)
        if nd is not None and nd >= 3:
            if hasattr(X, "values") and not isinstance(X, np.ndarray):
                X = X.values  # DataArray of Windows
            if y is not None:
                X, y = check_X_y(X, y, allow_nd=True, dtype=np.float32)
            else:
                X = check_array(X, allow_nd=True, dtype=np.float32)
            shape = tuple(int(s) for s in X.shape[1:])
            if reset:
                self.n_features_in_ = int(np.prod(shape))
                self.input_shape_ = shape
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            elif shape != tuple(self.input_shape_):
                raise SpikeDecodeValueError(
                    f"X has per-sample shape {shape}, but {type(self).__name__} is expecting "
                    f"{tuple(self.input_shape_)} (lag, unit) as input."
                )
        else:
            if y is not None:
                X, y = validate_data(self, X, y, reset=reset, dtype=np.float32)
            else:
                X = validate_data(self, X, reset=reset, dtype=np.float32)
            n_feat = X.shape[1]
            if reset:
                if self.n_lags is not None:
                    if n_feat % int(self.n_lags):
                        raise ConfigError(
                            f"n_lags == {self.n_lags} does not divide the {n_feat} features of X;"
                            " pass n_lags equal to the window length used by to_xy."
                        )
                    self.input_shape_ = (int(self.n_lags), n_feat // int(self.n_lags))
                else:
                    self.input_shape_ = (1, n_feat)
        X = np.ascontiguousarray(X, dtype=np.float32).reshape(len(X), *self.input_shape_)
        return (X, y) if y is not None else X

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------------------- fit
    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None, *,
            X_val: ArrayLike | None = None, y_val: ArrayLike | None = None) -> TorchClassifier:
        """Train the module.

        Parameters
        ----------
        X : array-like of shape (n_samples, lag, unit) or (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (any hashable, e.g. ``"touch/LUM"``).
        groups : array-like of shape (n_samples,), optional
            Trial ids: the early-stopping validation split keeps each group whole.
        X_val, y_val : array-like, optional
            An explicit validation set (as scikit-learn's
            ``HistGradientBoostingClassifier.fit``): early stopping watches it instead of a
            split of ``X`` (``validation_fraction`` is then ignored and every sample of
            ``X`` is trained on). Its labels must occur in ``y``.

        Returns
        -------
        self
        """
        import torch

        from spikedecode._random import torch_seeded
        from spikedecode.training import resolve_device, train

        self._check_params()
        if y is None:
            raise SpikeDecodeValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X, y = self._validate_X(X, y, reset=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise NotEnoughDataError(
                f"y has 1 class ({classes.tolist()}); a classifier needs at least 2 classes."
            )
        if groups is not None:
            groups = np.asarray(groups)
            if len(groups) != len(y):
                raise SpikeDecodeValueError(
                    f"groups has {len(groups)} entries but X has {len(y)} samples."
                )
        seed = draw_seed(self.random_state)
        self.device_ = resolve_device(self.device)
        explicit = self._explicit_validation(X_val, y_val, classes)
        if explicit is None:
            tr, va = grouped_validation_split(y_idx, groups, float(self.validation_fraction),
                                              random_state=seed)
        else:
            tr, va = np.arange(len(y_idx)), np.zeros(0, dtype=np.intp)
        if self.bootstrap:
            size = "fold" if self.bootstrap == "fold" else "largest"
            tr = tr[balanced_bootstrap_indices(y_idx[tr], random_state=seed + 1, size=size)]
        reuse = (self.warm_start and hasattr(self, "module_")
                 and np.array_equal(getattr(self, "classes_", None), classes))
        if not reuse:
            with torch_seeded(seed):
                self.module_ = self._build_module(tuple(self.input_shape_), len(classes))
            if not isinstance(self.module_, torch.nn.Module):
                raise ConfigError(
                    f"the module factory returned {type(self.module_).__name__}, "
                    "not a torch.nn.Module."
                )
        self.classes_ = classes
        self._fit_input_scale(X[np.unique(tr)], reuse)
        x_t = torch.from_numpy(X)
        y_t = torch.from_numpy(y_idx.astype(np.int64))
        if explicit is not None:
            val = (torch.from_numpy(explicit[0]), torch.from_numpy(explicit[1]))
        else:
            val = (x_t[va], y_t[va]) if len(va) else None
        self.history_ = train(
            self.module_,
            (x_t[tr], y_t[tr]),
            val_data=val,
            optimizer=self.optimizer,
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            loss_terms=tuple(self.loss_terms),
            transforms=tuple(self.transforms),
            callbacks=tuple(self.callbacks),
            patience=int(self.patience) if (self.patience is not None and val is not None)
            else None,
            monitor=f"val_{self.early_stopping_metric}",
            grad_clip=self.grad_clip,
            device=self.device_,
            random_state=seed,
            progress=bool(self.progress),
        )
        self.n_epochs_ = len(self.history_.epochs)
        self._seed = seed
        self.module_.eval()
        return self

    def _explicit_validation(self, X_val: Any, y_val: Any, classes: NDArray
                             ) -> tuple[NDArray[np.float32], NDArray[np.int64]] | None:
        """The validated explicit validation set as (X float32, y class indices), or None."""
        if X_val is None and y_val is None:
            return None
        if X_val is None or y_val is None:
            raise SpikeDecodeValueError(
                "pass both X_val and y_val (an explicit validation set), or neither."
            )
        Xv = self._validate_X(X_val, reset=False)
        yv = column_or_1d(np.asarray(y_val), warn=True)
        if len(yv) != len(Xv) or len(yv) == 0:
            raise SpikeDecodeValueError(
                f"y_val has {len(yv)} labels but X_val has {len(Xv)} samples; pass one label "
                "per validation sample (at least one)."
            )
        unknown = sorted(set(yv.tolist()) - set(classes.tolist()))
        if unknown:
            raise SpikeDecodeValueError(
                f"y_val holds labels {unknown[:5]} that y does not; the validation set must use "
                "the training classes."
            )
        return Xv, np.searchsorted(classes, yv).astype(np.int64)

    def _fit_input_scale(self, X_train: NDArray[np.float32], reuse: bool) -> None:
        """Set the network's input standardisation from the training part (``standardize``)."""
        import torch

        from spikedecode.decoders._nets import InputScale

        layer = getattr(self.module_, "input_scale", None)
        has = isinstance(layer, InputScale)
        if self.standardize is True and not has:
            raise ConfigError(
                "standardize=True needs a network with an InputScale layer named "
                f"'input_scale'; {type(self.module_).__name__} has none. Add one "
                "(spikedecode.decoders._nets.InputScale) or pass standardize=None/False."
            )
        if not has or self.standardize is False or reuse:
            return  # warm start keeps the statistics of the first fit
        flat = X_train.reshape(-1, X_train.shape[-1]).astype(np.float64)
        mean, std = flat.mean(0), flat.std(0)
        std[~(std > 0)] = 1.0  # constant features: shifted, not scaled
        if layer.mean.shape[0] != mean.shape[0]:  # per flattened feature (MLPNet n_units=None)
            flat = X_train.reshape(len(X_train), -1).astype(np.float64)
            mean, std = flat.mean(0), flat.std(0)
            std[~(std > 0)] = 1.0
        layer.set_(torch.from_numpy(mean), torch.from_numpy(std))

    # --------------------------------------------------------------- predict
    def _logits(self, X: Any) -> NDArray[np.float32]:
        from spikedecode.training import History, TrainState, predict_logits

        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        state = None
        if any(not getattr(t, "train_only", True) for t in self.transforms):
            from spikedecode._random import torch_generator

            state = TrainState(module=self.module_, optimizer=None, device=self.device_,
                               generator=torch_generator(getattr(self, "_seed", 0)),
                               history=History(), max_epochs=0, training=False)
        out = predict_logits(self.module_, X, device=self.device_,
                             transforms=tuple(self.transforms), state=state)
        return out.numpy().reshape(len(X), -1)

    def decision_function(self, X: ArrayLike) -> NDArray[np.float32]:
        """Logits, shape (n_samples, n_classes) (column 1 minus column 0 for 2 classes)."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Class probabilities (softmax of the logits), columns in ``classes_`` order."""
        z = self._logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Log of :meth:`predict_proba`."""
        z = self._logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X: ArrayLike) -> NDArray:
        """Most probable class of each sample."""
        z = self._logits(X)
        return self.classes_[np.argmax(z, axis=1)]

    def torch_module(self) -> Any:
        """The fitted module, wrapped to accept ``(batch, n_features_in_)`` or
        ``(batch, *input_shape_)`` float32 tensors; returns logits with gradients.

        Use it to attack or inspect the decoder with torch (it shares weights with
        ``module_``; call ``.eval()`` as needed).
        """
        from spikedecode.decoders._nets import InputReshape

        check_is_fitted(self)
        return InputReshape(self.module_, self.input_shape_)

    # ------------------------------------------------------------ save/load
    def _config(self) -> dict[str, Any]:
        params = {}
        dropped = []
        for k, v in self.get_params(deep=False).items():
            if k == "module" and isinstance(v, str):
                params[k] = v
                continue
            if k in _NOT_SAVED:
                if k != "module" and v:
                    dropped.append(k)
                continue
            if k == "device":
                v = str(v)
            params[k] = v
        cfg: dict[str, Any] = {
            "class": type(self).__name__,
            "params": params,
            "classes": self.classes_.tolist(),
            "input_shape": list(self.input_shape_),
            "n_features_in": int(self.n_features_in_),
            "history": self.history_.to_dict(),
            "not_saved": dropped,
        }
        if "module" in self.get_params(deep=False):
            cfg["module_factory"] = _import_path(self.module)
        return cfg

    def save(self, path: str | Path) -> Path:
        """Save the fitted decoder as ``path.safetensors`` + ``path.json`` (no pickle).

        Plug-ins (``loss_terms``, ``transforms``, ``callbacks``) are not saved.

        Returns
        -------
        Path
            ``path`` without suffix.
        """
        from spikedecode.serialization import save_module

        check_is_fitted(self)
        return save_module(self.module_, path, config=self._config())

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> TorchClassifier:
        """Load a decoder written by :meth:`save`.

        Parameters
        ----------
        path : path with or without suffix
        **overrides
            Parameters to set instead of the saved ones (e.g. ``device="cpu"``,
            ``module=<factory>`` for a custom :class:`TorchClassifier`).
        """
        from spikedecode.serialization import load_state
        from spikedecode.training import History, resolve_device

        state, cfg = load_state(path)
        registry = {c.__name__: c for c in _subclasses(TorchClassifier)}
        name = cfg.get("class")
        if name not in registry:
            raise ConfigError(f"{path} holds a {name!r}, not one of {sorted(registry)}.")
        klass = registry[name]
        if not issubclass(klass, cls):
            raise ConfigError(f"{path} holds a {name}, not a {cls.__name__}.")
        params = dict(cfg.get("params", {}))
        # JSON stores tuples as lists: give back a tuple wherever the class's default is one
        defaults = klass._get_param_defaults()
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ConfigError(
                f"{path} stores parameters {unknown} that {name} does not take (saved by an "
                "older spikedecode? MLPDecoder's hidden_sizes is now hidden_layer_sizes); "
                "rename them in the .json file."
            )
        for k, v in params.items():
            if isinstance(v, list) and isinstance(defaults.get(k), tuple):
                params[k] = tuple(v)
        if (klass is TorchClassifier and "module" not in overrides
                and not isinstance(params.get("module"), str) and cfg.get("module_factory")):
            params["module"] = _resolve_import_path(cfg["module_factory"])
        params.update(overrides)
        est = klass(**params)
        est.classes_ = np.asarray(cfg["classes"])
        est.input_shape_ = tuple(cfg["input_shape"])
        est.n_features_in_ = int(cfg["n_features_in"])
        est.device_ = resolve_device(est.device)
        est.module_ = est._build_module(est.input_shape_, len(est.classes_))
        missing, unexpected = est.module_.load_state_dict(state, strict=False)
        # files written before the input standardisation layer existed lack its buffers:
        # they load as the identity (those models were trained on raw inputs)
        bad = [k for k in missing if ".input_scale." not in f".{k}"] + list(unexpected)
        if bad:
            raise ConfigError(f"{path} does not match the {name} network: keys {bad[:5]}.")
        est.module_.to(est.device_).eval()
        h = cfg.get("history", {})
        est.history_ = History(epochs=h.get("epochs", []), best_epoch=h.get("best_epoch"),
                               stopped_early=bool(h.get("stopped_early", False)))
        est.n_epochs_ = len(est.history_.epochs)
        return est


def _subclasses(cls: type) -> list[type]:
    """``cls`` and every subclass defined so far (the presets register by subclassing)."""
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out
