"""Thread policy: how many threads torch and BLAS use, chosen in one place.

A small network (the CLI's LSTM of 32 units on 35 units of input) gains almost nothing
from a second thread, and on a shared machine every extra OpenMP thread that spin-waits
at a barrier burns a core another process needs: beside one CPU-bound process the
README decode command went from 139 s to more than 590 s with torch's default of one
spinning thread per core (issue 23). The rule, applied by :func:`spikedecode.training.train`,
:func:`spikedecode.training.predict_logits` and the CLI:

1. **How many** — ``n_threads`` when given (:func:`thread_limits`), else the
   ``SPIKEDECODE_NUM_THREADS`` environment variable, else *automatic*: the cores this
   process may use (:func:`available_cpus`: CPU affinity and the cgroup CPU quota), never
   more than the caller's own ``torch.get_num_threads()``, and one thread per
   :data:`WORK_PER_THREAD` multiply-adds of a training step (so a small network gets one).
2. **No spinning** — ``import spikedecode`` sets ``OMP_WAIT_POLICY=PASSIVE`` (unless the
   user set it; :func:`default_wait_policy`) when no OpenMP runtime is loaded yet, so the
   runtimes that torch, scikit-learn and numba load later put idle threads to sleep
   instead of spinning on a core; the CLI does the same. OpenMP reads the variable once,
   when its runtime loads: if torch (or another OpenMP user) was imported *before*
   spikedecode, the policy can no longer change, and what still works at run time is
   the thread count (a small network trains on one thread, BLAS fits on one), which
   leaves no idle thread to spin. To be sure, set ``OMP_WAIT_POLICY=PASSIVE`` in the
   shell, or import spikedecode first.
3. **Folds in parallel** — cross-validation folds large enough to pay for a worker
   process (:data:`FOLD_WORK`; the README decode command's logistic and LSTM folds) run
   in as many processes as the count above allows (:func:`fold_jobs`), each on one
   thread: a small LSTM or a one-thread BLAS solve does not use a second core, a second
   fold does. Each fold is seeded as in the serial loop, so the numbers are the same.
4. **Restore** — every change is undone on the way out of the block (torch's count via
   ``torch.set_num_threads``, BLAS and OpenMP pools via ``threadpoolctl``), whatever
   happens inside.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from numbers import Integral
from pathlib import Path

from spikedecode.errors import ConfigError

__all__ = [
    "ENV_VAR",
    "WORK_PER_THREAD",
    "available_cpus",
    "resolve_n_threads",
    "requested_n_threads",
    "thread_limits",
    "torch_threads",
    "blas_threads",
    "configure_cli",
    "CLI_ENV_VARS",
    "step_work",
    "default_wait_policy",
    "WAIT_POLICY_VAR",
    "FOLD_WORK",
    "OVERLOAD",
    "fold_jobs",
    "in_fold_worker",
]

#: The environment variable that sets the thread count (an integer >= 1, or "auto").
ENV_VAR = "SPIKEDECODE_NUM_THREADS"

#: Multiply-adds of one training step that justify one more thread. The CLI's LSTM
#: (3 x 32 units, 35 inputs, batch 256, 5 lags: ~3e7) gets one thread, a CIFAR ResNet20
#: at batch 128 (~5e9) every core it may use.
WORK_PER_THREAD = 2e8

# n_threads set by an enclosing thread_limits(n) or the CLI's --threads (None: automatic)
_REQUESTED: ContextVar[int | None] = ContextVar("spikedecode_n_threads", default=None)


def _cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max``, v1 ``cfs_quota_us``), or None."""
    try:
        text = (root / "cpu.max").read_text().split()
        if len(text) == 2 and text[0] != "max":
            return float(text[0]) / float(text[1])
        return None
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus() -> int:
    """Cores this process may use: CPU affinity, capped by the cgroup CPU quota.

    ``os.cpu_count()`` counts the machine's cores; a process pinned to some of them
    (``taskset``, a batch scheduler) or given a CPU quota (a container, a cgroup) may use
    fewer. A quota of 1.5 CPUs counts as 2 (rounded up: the half core is usable).

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from spikedecode import available_cpus
    >>> import os
    >>> 1 <= available_cpus() <= (os.cpu_count() or 1)
    True
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, n)


def _check_n_threads(value: object, name: str) -> int | None:
    """``value`` as an int >= 1, or None for automatic (``None`` / ``"auto"``)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"{name} == {value!r} is not an integer; set it to a number of "
                              "threads >= 1, or 'auto'.") from None
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < 1:
        raise ConfigError(f"{name} == {value!r}, must be an integer >= 1 (or 'auto' / None "
                          "for the automatic choice).")
    return int(value)


def requested_n_threads() -> int | None:
    """The explicit count in force (enclosing ``thread_limits(n)``, ``--threads`` or
    ``$SPIKEDECODE_NUM_THREADS``), or None when the choice is automatic."""
    requested = _REQUESTED.get()
    if requested is not None:
        return requested
    return _check_n_threads(os.environ.get(ENV_VAR), ENV_VAR)


def step_work(n_params: int, batch_size: int, sample_shape: tuple[int, ...]) -> float:
    """Rough multiply-adds of one training step: parameters x batch x positions.

    A parameter is used once per position of the input (time steps of a sequence,
    pixels of an image, one for a flat vector): every axis of a sample but the last
    (units or channels-last features) counts as positions; for a ``(C, H, W)`` image the
    last two do. An over-estimate for strided convolutions, which is harmless: the
    estimate only separates small networks from large ones.
    """
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) >= 3:  # (C, H, W) images: H x W positions
        positions = math.prod(shape[-2:])
    else:  # (lag, unit) sequences: lag positions; flat vectors: one
        positions = math.prod(shape[:-1]) if len(shape) > 1 else 1
    return float(n_params) * max(int(batch_size), 1) * max(positions, 1)


def resolve_n_threads(n_threads: int | str | None = None, *, work: float | None = None,
                      ceiling: int | None = None) -> int:
    """The thread count the policy picks (see the module docstring).

    Parameters
    ----------
    n_threads : int, "auto" or None, default=None
        An explicit count wins. ``None``/``"auto"``: the enclosing :func:`thread_limits`
        count, else ``$SPIKEDECODE_NUM_THREADS``, else automatic.
    work : float, optional
        Multiply-adds of one step (:func:`step_work`); the automatic choice gives one
        thread per :data:`WORK_PER_THREAD`. ``None``: no cap from the work.
    ceiling : int, optional
        Upper bound of the automatic choice (the caller's own thread count).

    Returns
    -------
    int
        At least 1.

    Raises
    ------
    ConfigError
        ``n_threads`` or ``$SPIKEDECODE_NUM_THREADS`` is not an integer >= 1 or "auto".

    Examples
    --------
    >>> from spikedecode._threads import resolve_n_threads
    >>> resolve_n_threads(3)
    3
    >>> resolve_n_threads(None, work=1e6)  # a tiny network: one thread
    1
    """
    explicit = _check_n_threads(n_threads, "n_threads")
    if explicit is not None:
        return explicit
    requested = requested_n_threads()
    if requested is not None:
        return requested
    n = available_cpus()
    if ceiling is not None:
        n = min(n, max(int(ceiling), 1))
    if work is not None:
        n = min(n, max(1, math.ceil(float(work) / WORK_PER_THREAD)))
    return max(1, n)


@contextlib.contextmanager
def torch_threads(*, work: float | None = None) -> Iterator[int]:
    """Torch's intra-op thread count for the block, chosen by the policy; restored after.

    Cheap (no library scan): used around every training run and batched prediction.
    Inside, the automatic choice is capped by the caller's ``torch.get_num_threads()``.
    Does nothing when torch was never imported.

    Examples
    --------
    >>> import torch
    >>> from spikedecode._threads import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(work=1.0) as n:
    ...     torch.get_num_threads() == n == 1
    True
    >>> torch.get_num_threads() == before
    True
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield resolve_n_threads(work=work)
        return
    before = torch.get_num_threads()
    n = resolve_n_threads(work=work, ceiling=before)
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


_CONTROLLER: list = []  # one threadpoolctl controller, made on first use (a library scan)


@contextlib.contextmanager
def blas_threads(*, work: float | None = None) -> Iterator[int]:
    """BLAS pools (OpenBLAS, MKL) limited by the policy for the block; restored after.

    Used around the fits of the evaluation functions (``within_day_scores``,
    ``cross_day_matrix`` ...): a fit of ``work`` multiply-adds per BLAS call gets one
    thread per :data:`WORK_PER_THREAD`, so the linear decoders' small solves run on one
    thread, where a second, spinning OpenBLAS thread made them ten times slower beside
    other processes. An explicit count (:func:`thread_limits`, ``--threads``,
    ``$SPIKEDECODE_NUM_THREADS``) wins. Torch's own pool is left alone.

    Examples
    --------
    >>> from spikedecode._threads import blas_threads
    >>> with blas_threads(work=1e3) as n:
    ...     n
    1
    """
    n = resolve_n_threads(work=work)
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield n
        return
    # rescan the loaded libraries when modules were imported since the last scan (scipy's
    # own OpenBLAS loads with scipy)
    if not _CONTROLLER or _CONTROLLER[0][0] != len(sys.modules):
        _CONTROLLER[:] = [(len(sys.modules), ThreadpoolController())]
    blas = _CONTROLLER[0][1].select(user_api="blas")
    if all(lib.num_threads == n for lib in blas.lib_controllers):
        yield n
        return
    with blas.limit(limits=n):
        yield n


@contextlib.contextmanager
def thread_limits(n_threads: int | str | None = None, *,
                  blas_work: float | None = None) -> Iterator[int]:
    """Use ``n_threads`` threads in torch, BLAS and OpenMP inside the block; restore after.

    The one setting of spikedecode's thread use (``SPIKEDECODE_NUM_THREADS`` and the
    CLI's ``--threads`` set the same). Inside the block every torch training run and
    prediction uses ``n_threads`` threads, and the BLAS (OpenBLAS, MKL) and OpenMP pools
    that numpy, scipy and scikit-learn loaded are limited to as many (``threadpoolctl``).
    On the way out, torch's count and every pool's are put back as they were.

    Parameters
    ----------
    n_threads : int, "auto" or None, default=None
        ``None``/``"auto"``: ``$SPIKEDECODE_NUM_THREADS`` if set, else automatic: torch
        gets the cores this process may use (:func:`available_cpus`, at most the
        caller's count; training still picks fewer for a small network), BLAS and
        OpenMP pools one thread per :data:`WORK_PER_THREAD` of ``blas_work``.
    blas_work : float, optional
        Multiply-adds of the block's typical BLAS call (automatic choice only); ``None``
        puts no cap from the work. OpenBLAS threads spin while they wait: beside other
        processes, a logistic-regression fit on 60,000 x 175 windows took 301 s on two
        BLAS threads and 28 s on one (issue 23), so small BLAS work gets one thread.

    Yields
    ------
    int
        The thread count in force for torch.

    Raises
    ------
    ConfigError
        ``n_threads`` is not an integer >= 1, ``"auto"`` or None.

    Examples
    --------
    >>> import torch
    >>> from spikedecode import thread_limits
    >>> before = torch.get_num_threads()
    >>> with thread_limits(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    explicit = _check_n_threads(n_threads, "n_threads")
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    n = resolve_n_threads(explicit, ceiling=before)
    n_blas = n if explicit is not None or requested_n_threads() is not None \
        else resolve_n_threads(work=blas_work)
    token = _REQUESTED.set(explicit) if explicit is not None else None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limiter: contextlib.AbstractContextManager = contextlib.nullcontext()
    else:
        limiter = threadpool_limits(limits=n_blas)
    try:
        with limiter:
            if torch is not None:
                torch.set_num_threads(n)
            yield n
    finally:
        if token is not None:
            _REQUESTED.reset(token)
        if torch is not None and before is not None:
            torch.set_num_threads(before)


#: The variables :func:`configure_cli` may set (and ``cli.main`` restores).
CLI_ENV_VARS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def configure_cli(n_threads: int | str | None = None) -> int | None:
    """Set the process-wide policy for a CLI run, before torch or OpenMP load.

    ``OMP_WAIT_POLICY=PASSIVE`` (unless set already; ``import spikedecode`` normally did
    it, :func:`default_wait_policy`): OpenMP runtimes loaded from now on
    (torch's and scikit-learn's libgomp) put idle threads to sleep instead of spinning on
    a core. An explicit count (``--threads`` / ``$SPIKEDECODE_NUM_THREADS``) goes into
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` for libraries
    not loaded yet; the command itself runs inside ``thread_limits(count)``, which limits
    the ones already loaded. :func:`spikedecode.cli.main` puts these variables back as
    they were when it returns (the CLI called in-process, by tests or scripts).

    Returns the explicit count, or None for automatic.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    explicit = _check_n_threads(n_threads, "--threads")
    if explicit is None:
        explicit = _check_n_threads(os.environ.get(ENV_VAR), ENV_VAR)
    if explicit is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(explicit)
    return explicit


#: The OpenMP variable :func:`default_wait_policy` sets: ``PASSIVE`` puts idle threads to
#: sleep in GNU libgomp (torch's and scikit-learn's runtime here) and in Intel/LLVM
#: ``libiomp5``/``libomp`` (where it also makes ``KMP_BLOCKTIME`` default to 0).
WAIT_POLICY_VAR = "OMP_WAIT_POLICY"

# shared-library names of the OpenMP runtimes that read OMP_WAIT_POLICY when they load
_OPENMP_LIBS = ("libgomp", "libiomp", "libomp")
# modules that load an OpenMP runtime (used where /proc/self/maps cannot be read)
_OPENMP_MODULES = ("torch", "sklearn", "numba", "lightgbm", "xgboost", "faiss")

#: What :func:`default_wait_policy` found at ``import spikedecode``: ``"set"`` (it set
#: ``OMP_WAIT_POLICY=PASSIVE``), ``"user"`` (the caller had set it; kept) or
#: ``"too-late"`` (an OpenMP runtime was already loaded; left unset), None before.
wait_policy_status: str | None = None


def _openmp_loaded(maps: Path = Path("/proc/self/maps")) -> bool:
    """Whether an OpenMP runtime is loaded in this process already."""
    try:
        text = maps.read_text()
    except OSError:  # not Linux: judge from the modules known to load one
        return any(name in sys.modules for name in _OPENMP_MODULES)
    for line in text.splitlines():  # address perms offset dev inode [path]
        fields = line.split(None, 5)
        if len(fields) == 6 and os.path.basename(fields[5].strip()).startswith(_OPENMP_LIBS):
            return True
    return False


def default_wait_policy() -> str:
    """Make idle OpenMP threads sleep, not spin, unless the caller chose otherwise.

    Called once by ``import spikedecode``. Sets ``OMP_WAIT_POLICY=PASSIVE`` in
    ``os.environ`` when the variable is unset and no OpenMP runtime is loaded yet; the
    runtime torch, scikit-learn or numba loads afterwards reads it. A value the user set
    (even ``ACTIVE``) is kept; nothing is restored later (the variable stays for child
    processes too, such as joblib's workers). When a runtime is already loaded (torch
    imported before spikedecode), setting the variable would change nothing in this
    process, so it is left alone, and the thread counts chosen at run time
    (:func:`thread_limits`, one thread for a small network) are what keeps idle threads
    from spinning.

    Returns
    -------
    str
        ``"set"``, ``"user"`` or ``"too-late"`` (also stored in
        ``spikedecode._threads.wait_policy_status``).

    Examples
    --------
    >>> import os
    >>> from spikedecode._threads import default_wait_policy
    >>> default_wait_policy() in ("set", "user", "too-late")
    True
    >>> "OMP_WAIT_POLICY" in os.environ or default_wait_policy() == "too-late"
    True
    """
    global wait_policy_status
    if os.environ.get(WAIT_POLICY_VAR) is not None:
        status = "user" if wait_policy_status != "set" else "set"
    elif _openmp_loaded():
        status = "too-late"
    else:
        os.environ[WAIT_POLICY_VAR] = "PASSIVE"
        status = "set"
    wait_policy_status = status
    return status


#: Work of one fold's fit (samples x features x classes for a linear decoder, samples x
#: features x max_epochs for a torch decoder) from which cross-validation folds run in
#: worker processes: starting a worker (importing torch) costs about 2-5 s of CPU, so the
#: README decode command's folds (86,000 windows x 175 features: ~5e7 for the logistic
#: decoder, ~9e8 for the LSTM) go parallel and a unit test's hundred windows do not.
FOLD_WORK = 1e7

_IN_FOLD_WORKER: list[bool] = [False]  # set in a fold worker process: no nested pools


def fold_jobs(n_folds: int, *, work: float, on_gpu: bool = False) -> int:
    """Worker processes for the folds of one cross-validation (1: run them here).

    The count is the thread setting (``n_threads`` of an enclosing :func:`thread_limits`,
    ``--threads``, ``$SPIKEDECODE_NUM_THREADS``), else the cores this process may use
    (:func:`available_cpus`) unless the machine is overloaded (1-minute load average at
    least :data:`OVERLOAD` times those cores: 1), at most ``n_folds``; the predictions do
    not depend on it. 1 when one fold's ``work`` is below
    :data:`FOLD_WORK`, when the decoder trains on a GPU (one device, shared) or inside a
    fold worker already.

    Examples
    --------
    >>> from spikedecode._threads import fold_jobs, thread_limits
    >>> fold_jobs(5, work=1e3)  # a small fit: not worth a process
    1
    >>> with thread_limits(1):
    ...     fold_jobs(5, work=1e9)
    1
    """
    if n_folds < 2 or on_gpu or _IN_FOLD_WORKER[0] or float(work) < FOLD_WORK:
        return 1
    n = resolve_n_threads()
    if requested_n_threads() is None and n > 1 and _load_average() >= OVERLOAD * n:
        # an overloaded machine has no idle core to give: a second process only takes a
        # larger share from the neighbours, and each worker costs its start-up
        # (docs/design-decisions.md, "Threads on a shared machine")
        return 1
    return max(1, min(int(n_folds), n))


#: Automatic fold workers only while the 1-minute load average is below this many times
#: the allowed cores (beside one or two busy neighbours the workers still pay off).
OVERLOAD = 2.0


def _load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # Windows
        return 0.0


@contextlib.contextmanager
def in_fold_worker() -> Iterator[None]:
    """Inside a fold worker process: one thread for torch and BLAS, no nested pools.

    Examples
    --------
    >>> from spikedecode._threads import fold_jobs, in_fold_worker
    >>> with in_fold_worker():
    ...     fold_jobs(5, work=1e12)
    1
    """
    before = _IN_FOLD_WORKER[0]
    _IN_FOLD_WORKER[0] = True
    try:
        with thread_limits(1):
            yield
    finally:
        _IN_FOLD_WORKER[0] = before
