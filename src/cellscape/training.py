r"""Batched training: ``B`` networks of one architecture trained in one compiled computation.

Every network of the batch follows its own trajectory under one of three optimisers (:class:`Optimizer`), with
the step size :math:`\eta_t` of a :class:`Schedule` at step :math:`t`:

* ``gd``: full-batch gradient descent, :math:`\theta_b \leftarrow \theta_b - \eta_t \nabla R(\theta_b)`;
* ``sgd``: the same on a minibatch of ``batch_size`` samples drawn without replacement, afresh for every network
  and step from ``(seed, the network's position in the batch, step)``;
* ``adam``: Adam (Kingma and Ba 2015) with bias correction, full batch or on minibatches,
  :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
  :math:`\theta \leftarrow \theta - \eta_t \hat m / (\sqrt{\hat v} + \epsilon)`.

The gradient of :math:`\sum_b R(\theta_b)` with respect to the stacked parameters is the stack of the
per-network gradients, so one compiled call serves the whole batch. Each network stops on its own:

* *converged* when its gradient norm (full batch; Euclidean unless the caller gives another norm) is at most
  ``gtol``. With minibatches the full gradient is checked after every chunk of ``chunk`` steps.
* *diverged* when a step makes its parameters non-finite, or its risk non-finite, above ``divergence_risk`` or
  above ``divergence_growth`` (default ``1e8``) times ``1 +`` its first risk (the risk is seen at the next step,
  which then goes back to the point before). Under ``on_divergence="stop"`` the network keeps that last good
  point and is reported diverged; under ``"halve"`` the step is undone and the network's step size halved, and
  the network is reported diverged only after ``max_halvings`` halvings.

Steps run in compiled chunks of ``chunk`` steps (``jax.lax.fori_loop`` under ``jax.jit``) over ``batch_chunk``
slots of networks (chosen so that the working set of one step stays in cache-sized memory: the pace is then set
by memory bandwidth and arithmetic, not by the batch size). Between chunks, the networks that stopped leave
their slots to networks still waiting; once none waits, the slots shrink to the running networks (to the next
power of two, which bounds the number of compilations), so a few slow networks do not hold up the whole batch.

Results reproduce bit for bit from the initial parameters and ``seed``; a network's
trajectory does not depend on which other networks share its batch (up to the summation order of a batched
matrix product, within 1e-12 relative).

Training may run in ``float32``; the returned parameters, risks and gradient norms are always float64,
the risks and norms evaluated afresh in float64 at the returned parameters.

Examples:
    >>> import numpy as np
    >>> from cellscape import init_params, mlp
    >>> arch = mlp(1, [], 1)  # an affine model: gradient descent reaches the least-squares fit
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([[1.0], [3.0], [5.0]])
    >>> result = gradient_descent(arch, init_params(arch, seed=0), X, y, lr=0.3, steps=2000)
    >>> bool(result.risk[0] < 1e-20), bool(result.converged[0])
    (True, False)
    >>> adam = train(arch, init_params(arch, batch=2, seed=0), X, y,
    ...              config=TrainConfig(optimizer="adam", lr=0.05, steps=3000, gtol=1e-8))
    >>> adam.converged.tolist(), bool(np.all(adam.risk < 1e-12))
    ([True, True], True)
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cellscape._validation import check_enum, check_float, check_int, invalid
from cellscape.conv import ConvNet, batched_conv_risk, patches
from cellscape.losses import Loss, as_targets, batched_risk, parse_loss
from cellscape.networks import Architecture, Params, as_inputs, as_params

__all__ = [
    "Optimizer",
    "Schedule",
    "OnDivergence",
    "Precision",
    "TrainConfig",
    "TrainingResult",
    "Minimized",
    "minimize",
    "train",
    "gradient_descent",
    "batched_gradient_step",
    "euclidean_norm",
]


class Optimizer(str, enum.Enum):
    """The update rule (module docstring)."""

    GD = "gd"
    SGD = "sgd"
    ADAM = "adam"


class Schedule(str, enum.Enum):
    r"""The step size at step :math:`t = 0, 1, \dots` of ``T = steps``, for base step :math:`\eta`,
    ``decay_steps`` :math:`\tau` and ``decay_factor`` :math:`\gamma`: ``constant`` :math:`\eta`;
    ``inverse_time`` :math:`\eta / (1 + t/\tau)`; ``inverse_sqrt`` :math:`\eta / \sqrt{1 + t/\tau}`;
    ``cosine`` :math:`\eta\,(1 + \cos(\pi t / T)) / 2`; ``step`` :math:`\eta\,\gamma^{\lfloor t/\tau \rfloor}`."""

    CONSTANT = "constant"
    INVERSE_TIME = "inverse_time"
    INVERSE_SQRT = "inverse_sqrt"
    COSINE = "cosine"
    STEP = "step"


class OnDivergence(str, enum.Enum):
    """What a network does when a step would diverge: ``stop`` (keep the last point, report it diverged) or
    ``halve`` (refuse the step and halve that network's step size, at most ``max_halvings`` times)."""

    STOP = "stop"
    HALVE = "halve"


class Precision(str, enum.Enum):
    """The floating-point type training runs in."""

    FLOAT64 = "float64"
    FLOAT32 = "float32"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train (module docstring).

    Attributes:
        optimizer: ``gd``, ``sgd`` or ``adam``. lr: the base step size. steps: the most steps per network.
        schedule, decay_steps, decay_factor: the step-size schedule (:class:`Schedule`).
        gtol: a network stops once its gradient norm is at most ``gtol`` (0: never early).
        batch_size: minibatch size for ``sgd`` (required) and ``adam`` (``None``: full batch).
        beta1, beta2, eps: Adam's constants.
        precision: ``float64`` or ``float32``.
        on_divergence, max_halvings, divergence_risk, divergence_growth: divergence handling
            (:class:`OnDivergence`): a risk above ``divergence_risk``, or above ``divergence_growth`` times
            ``1 +`` the network's first risk, counts as divergence.
        seed: seeds the minibatch draws.
        chunk: steps per compiled call (progress is reported between chunks).
        batch_chunk: networks per compiled call (``None``: chosen from the size of one step's working set).
    """

    optimizer: Optimizer = Optimizer.GD
    lr: float = 0.05
    steps: int = 1000
    schedule: Schedule = Schedule.CONSTANT
    decay_steps: float = 1000.0
    decay_factor: float = 0.1
    gtol: float = 0.0
    batch_size: int | None = None
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    precision: Precision = Precision.FLOAT64
    on_divergence: OnDivergence = OnDivergence.STOP
    max_halvings: int = 30
    divergence_risk: float = math.inf
    divergence_growth: float = 1e8
    seed: int = 0
    chunk: int = 100
    batch_chunk: int | None = None

    def __post_init__(self) -> None:
        func = "TrainConfig"
        put = object.__setattr__
        put(self, "optimizer", check_enum(self.optimizer, Optimizer, name="optimizer", func=func))
        put(self, "schedule", check_enum(self.schedule, Schedule, name="schedule", func=func))
        put(self, "precision", check_enum(self.precision, Precision, name="precision", func=func))
        put(self, "on_divergence", check_enum(self.on_divergence, OnDivergence, name="on_divergence", func=func))
        put(self, "lr", check_float(self.lr, name="lr", func=func, minimum=0.0, strict_minimum=True))
        put(self, "steps", check_int(self.steps, name="steps", func=func, minimum=0))
        put(self, "decay_steps", check_float(self.decay_steps, name="decay_steps", func=func, minimum=0.0,
                                             strict_minimum=True))
        put(self, "decay_factor", check_float(self.decay_factor, name="decay_factor", func=func, minimum=0.0,
                                              strict_minimum=True, maximum=1.0))
        put(self, "gtol", check_float(self.gtol, name="gtol", func=func, minimum=0.0))
        put(self, "beta1", check_float(self.beta1, name="beta1", func=func, minimum=0.0, maximum=0.999999))
        put(self, "beta2", check_float(self.beta2, name="beta2", func=func, minimum=0.0, maximum=0.999999999))
        put(self, "eps", check_float(self.eps, name="eps", func=func, minimum=0.0, strict_minimum=True))
        put(self, "max_halvings", check_int(self.max_halvings, name="max_halvings", func=func, minimum=0))
        if not (isinstance(self.divergence_risk, (int, float)) and self.divergence_risk > 0):
            raise invalid("divergence_risk", func, "a positive float (inf: only non-finite risks diverge)",
                          self.divergence_risk)
        put(self, "divergence_risk", float(self.divergence_risk))
        if not (isinstance(self.divergence_growth, (int, float)) and self.divergence_growth > 1):
            raise invalid("divergence_growth", func, "a float > 1 (inf: no limit)", self.divergence_growth)
        put(self, "divergence_growth", float(self.divergence_growth))
        put(self, "seed", check_int(self.seed, name="seed", func=func, minimum=0))
        put(self, "chunk", check_int(self.chunk, name="chunk", func=func, minimum=1))
        if self.batch_chunk is not None:
            put(self, "batch_chunk", check_int(self.batch_chunk, name="batch_chunk", func=func, minimum=1))
        if self.batch_size is not None:
            if self.optimizer is Optimizer.GD:
                raise invalid("batch_size", func, "None for optimizer 'gd' (use 'sgd' or 'adam' for minibatches)",
                              self.batch_size)
            put(self, "batch_size", check_int(self.batch_size, name="batch_size", func=func, minimum=1))
        elif self.optimizer is Optimizer.SGD:
            raise invalid("batch_size", func, "a minibatch size >= 1 for optimizer 'sgd'", self.batch_size)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingResult:
    """Endpoints of a batched training run.

    Attributes:
        params: final parameters (float64 numpy, batch ``B``).
        risk: final risk of each network ``(B,)`` (float64).
        grad_norm: final full-batch gradient norm ``(B,)`` (float64).
        steps: steps taken (accepted) by each network ``(B,)``.
        converged: gradient norm reached ``gtol`` ``(B,)``.
        diverged: stopped by divergence ``(B,)``.
        halvings: step-size halvings of each network (``on_divergence="halve"``) ``(B,)``.
    """

    params: Params
    risk: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    halvings: np.ndarray | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Minimized:
    """What :func:`minimize` returns: the final parameters (a pytree of float64 numpy arrays with the batch axis
    first) and, per network, ``risk``, ``grad_norm`` (the stopping norm), ``steps``, ``converged``, ``diverged``
    and ``halvings``."""

    params: Any
    risk: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    halvings: np.ndarray


# --------------------------------------------------------------------------------------------------- the engine
def euclidean_norm(grads: Any) -> Any:
    """The Euclidean norm of each network's gradient (a pytree with the batch axis first), shape ``(B,)``."""
    leaves = jax.tree_util.tree_leaves(grads)
    return jnp.sqrt(sum(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in leaves))


def _expand(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: a[None], tree)


def _sample_indices(key: Any, net_ids: Any, t: Any, n: int, m: int) -> Any:
    """Minibatch indices ``(B, m)``: for each network, ``m`` of ``n`` samples without replacement, drawn from
    ``(seed, network id, the network's step t)`` alone."""
    def one(net_id, step):
        k = jax.random.fold_in(jax.random.fold_in(key, net_id), step)
        return jax.random.permutation(k, n)[:m]

    return jax.vmap(one)(net_ids, t)


def _value_and_grad(objective: Callable, params: Any, data: Any, idx: Any):
    """Per-network risks ``(B,)`` and gradients (full batch when ``idx`` is None, else per-network minibatches)."""
    if idx is None:
        def total(p):
            r = objective(p, data)
            return jnp.sum(r), r
    else:
        def one(p, rows):  # one network on its own minibatch, through the batched objective
            sub = jax.tree_util.tree_map(lambda a: a[rows], data)
            return objective(_expand(p), sub)[0]

        def total(p):
            r = jax.vmap(one)(p, idx)
            return jnp.sum(r), r

    grads, risks = jax.grad(total, has_aux=True)(params)
    return risks, grads


def _step_size(schedule: Schedule, lr: Any, decay: Any, factor: Any, t: Any, total: int) -> Any:
    if schedule is Schedule.CONSTANT:
        return lr
    if schedule is Schedule.INVERSE_TIME:
        return lr / (1.0 + t / decay)
    if schedule is Schedule.INVERSE_SQRT:
        return lr / jnp.sqrt(1.0 + t / decay)
    if schedule is Schedule.STEP:
        return lr * factor ** jnp.floor(t / decay)
    return lr * 0.5 * (1.0 + jnp.cos(jnp.pi * t / max(total, 1)))


def _where(mask: Any, new: Any, old: Any) -> Any:
    def pick(a, b):
        return jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(pick, new, old)


@dataclasses.dataclass(frozen=True)
class _Static:
    """The compile-time part of a configuration."""

    optimizer: Optimizer
    schedule: Schedule
    on_divergence: OnDivergence
    batch_size: int | None
    total_steps: int
    n_samples: int


def _chunk(objective, stop_norm, static: _Static, state, data, hyper, key, n_steps):
    """``n_steps`` iterations of every network in ``state`` (a dict, see :func:`minimize`)."""
    lr, decay, factor, gtol, beta1, beta2, eps, max_halvings, divergence_risk, divergence_growth = hyper
    stochastic = static.batch_size is not None

    def scaled(a, e):
        return e.reshape((-1,) + (1,) * (a.ndim - 1)).astype(a.dtype)

    def body(_, s):
        s = dict(s)
        s["active"] = s["active"] & (s["it"] < static.total_steps)
        t = s["it"]
        s["it"] = t + s["active"].astype(t.dtype)
        idx = _sample_indices(key, s["ids"], t, static.n_samples, static.batch_size) if stochastic else None
        risks, grads = _value_and_grad(objective, s["params"], data, idx)
        # the last accepted step led to a non-finite or too large risk: go back to the point before it
        s["risk0"] = jnp.where(jnp.isnan(s["risk0"]), risks, s["risk0"])
        limit = jnp.minimum(divergence_risk, divergence_growth * (1.0 + jnp.abs(s["risk0"])))
        ok_here = jnp.isfinite(risks) & (risks <= limit)
        back = s["active"] & ~ok_here
        for name in ("params", "m", "v"):
            s[name] = _where(back, s["prev_" + name], s[name])
        s["steps"] = s["steps"] - back.astype(s["steps"].dtype)
        if not stochastic:
            done = s["active"] & ok_here & (stop_norm(grads) <= gtol)
            s["converged"] = s["converged"] | done
            s["active"] = s["active"] & ~done
        eta = _step_size(static.schedule, lr, decay, factor, t.astype(risks.dtype), static.total_steps) * s["scale"]
        if static.optimizer is Optimizer.ADAM:
            m = jax.tree_util.tree_map(lambda a, g: beta1 * a + (1 - beta1) * g, s["m"], grads)
            v = jax.tree_util.tree_map(lambda a, g: beta2 * a + (1 - beta2) * g * g, s["v"], grads)
            tt = (s["steps"] + 1).astype(risks.dtype)
            c1, c2 = 1 - beta1**tt, 1 - beta2**tt
            new = jax.tree_util.tree_map(
                lambda p, a, b: p - scaled(p, eta / c1) * a / (jnp.sqrt(b / scaled(b, c2)) + eps), s["params"], m, v)
        else:
            m, v = s["m"], s["v"]
            new = jax.tree_util.tree_map(lambda p, g: p - scaled(p, eta) * g, s["params"], grads)
        finite = jnp.ones_like(back)
        for leaf in jax.tree_util.tree_leaves(new):
            finite = finite & jnp.all(jnp.isfinite(leaf.reshape(leaf.shape[0], -1)), axis=1)
        bad = back | (s["active"] & ~finite)
        if static.on_divergence is OnDivergence.HALVE:
            s["scale"] = jnp.where(bad, s["scale"] * 0.5, s["scale"])
            s["halvings"] = s["halvings"] + bad.astype(s["halvings"].dtype)
            dead = bad & (s["halvings"] > max_halvings)
        else:
            dead = bad
        s["diverged"] = s["diverged"] | dead
        s["active"] = s["active"] & ~dead
        move = s["active"] & ~bad
        for name, value in (("params", new), ("m", m), ("v", v)):
            s["prev_" + name] = _where(move, s[name], s["prev_" + name])
            s[name] = _where(move, value, s[name])
        s["steps"] = s["steps"] + move.astype(s["steps"].dtype)
        return s

    return jax.lax.fori_loop(0, n_steps, body, state)


_jit_chunk = jax.jit(_chunk, static_argnums=(0, 1, 2, 7))


def _evaluate(objective, stop_norm, params, data):
    risks, grads = _value_and_grad(objective, params, data, None)
    return risks, stop_norm(grads)


_jit_evaluate = jax.jit(_evaluate, static_argnums=(0, 1))


def _cast(tree: Any, dtype: Any) -> Any:
    def cast(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree_util.tree_map(cast, tree)


def minimize(
    objective: Callable[[Any, Any], Any],
    params: Any,
    data: Any,
    *,
    config: TrainConfig = TrainConfig(),
    stop_norm: Callable[[Any], Any] = euclidean_norm,
    n_samples: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Minimized:
    r"""Minimise ``objective`` for every member of a batch at once (the engine behind :func:`train`).

    Args:
        objective: ``objective(params, data) -> risks (B,)``, batched over the leading axis of every leaf of
            ``params``; it must be hashable (a module-level function or a frozen dataclass: it is a compile-time
            constant) and must cast ``data`` to the parameters' dtype where it mixes them. For minibatches,
            every leaf of ``data`` has the samples on its leading axis and the objective must accept any number
            of samples.
        params: a pytree of arrays, the batch axis first. data: a pytree of arrays (not compiled in).
        config: the :class:`TrainConfig`.
        stop_norm: ``stop_norm(grads) -> (B,)``, the norm compared with ``gtol`` (hashable, like ``objective``).
        n_samples: the number of samples in ``data`` (required with minibatches).
        progress: called as ``progress(steps_done, steps_total)`` after every chunk of steps, summed over chunks
            of networks.

    Returns:
        :class:`Minimized`, with float64 parameters and the risks and stopping norms evaluated afresh in float64.
    """
    func = "minimize"
    if not isinstance(config, TrainConfig):
        raise invalid("config", func, "a TrainConfig", config)
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise invalid("params", func, "a pytree with at least one array", params)
    B = int(np.shape(leaves[0])[0])
    if config.batch_size is not None:
        if n_samples is None or config.batch_size > n_samples:
            raise invalid("batch_size", func, f"at most the number of samples ({n_samples})", config.batch_size)
    dtype = jnp.float32 if config.precision is Precision.FLOAT32 else jnp.float64
    static = _Static(config.optimizer, config.schedule, config.on_divergence, config.batch_size, config.steps,
                     int(n_samples or 0))
    hyper = tuple(jnp.asarray(x, dtype) for x in (config.lr, config.decay_steps, config.decay_factor, config.gtol,
                                                   config.beta1, config.beta2, config.eps))
    hyper += (jnp.asarray(config.max_halvings, jnp.int64), jnp.asarray(config.divergence_risk, dtype),
              jnp.asarray(config.divergence_growth, dtype))
    work_data = _cast(data, dtype)
    key = jax.random.PRNGKey(config.seed)
    host = jax.tree_util.tree_map(lambda a: np.array(a, dtype=np.float64), params)  # becomes the result
    out = {"steps": np.zeros(B, np.int64), "converged": np.zeros(B, bool), "diverged": np.zeros(B, bool),
           "halvings": np.zeros(B, np.int64)}
    slots = B if config.batch_chunk is None else min(config.batch_chunk, B)
    state = _fresh_state(host, np.arange(slots), slots, dtype)
    queue = slots  # the next network to start
    n_iterations = max(1, min(config.chunk, config.steps))
    while True:
        state = _jit_chunk(objective, stop_norm, static, state, work_data, hyper, key, n_iterations)
        if config.batch_size is not None:  # minibatches: check the full gradient between chunks
            risks, norms = _jit_evaluate(objective, stop_norm, state["params"], work_data)
            stop = state["active"] & jnp.isfinite(risks) & (norms <= config.gtol)
            state = {**state, "active": state["active"] & ~stop, "converged": state["converged"] | stop}
        state = jax.tree_util.tree_map(np.asarray, state)
        active, real = state["active"], state["real"]
        finished = real & ~(active & (state["it"] < config.steps))
        if finished.any():
            _store(host, out, state, np.nonzero(finished)[0])
            state["real"] = real & ~finished
        free = np.nonzero(~state["real"])[0]
        if free.size and queue < B:  # start waiting networks in the free slots
            start = np.arange(queue, min(B, queue + free.size))
            state = _refill(state, free[: start.size], _fresh_state(host, start, start.size, dtype))
            queue += start.size
        n_real = int(state["real"].sum())
        if progress is not None:
            running = np.asarray(state["it"])[state["real"]].sum()
            progress(int(config.steps * (queue - n_real) + running), config.steps * B)
        if n_real == 0:
            break
        if queue == B and n_real <= slots // 2:  # the tail: keep only the running networks
            slots = 1 << (n_real - 1).bit_length()
            keep = np.concatenate([np.nonzero(state["real"])[0], np.nonzero(~state["real"])[0]])[:slots]
            state = jax.tree_util.tree_map(lambda a, keep=keep: a[keep], state)
    risks, norms = _jit_evaluate(objective, stop_norm, _cast(host, jnp.float64), _cast(data, jnp.float64))
    norms = np.asarray(norms, dtype=np.float64)
    return Minimized(params=host, risk=np.asarray(risks, dtype=np.float64), grad_norm=norms, steps=out["steps"],
                     converged=out["converged"] | (norms <= config.gtol), diverged=out["diverged"],
                     halvings=out["halvings"])


_OPTIMIZER_STATE = ("params", "m", "v", "prev_params", "prev_m", "prev_v")


def _fresh_state(host: Any, ids: np.ndarray, size: int, dtype: Any) -> dict[str, Any]:
    """The starting state of networks ``ids`` (global indices into ``host``) in ``size`` slots."""
    start = _cast(jax.tree_util.tree_map(lambda a: a[ids], host), dtype)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, start)
    return {"params": start, "m": zeros, "v": zeros, "prev_params": start, "prev_m": zeros, "prev_v": zeros,
            "ids": np.asarray(ids, np.int64), "real": np.ones(size, bool), "active": np.ones(size, bool),
            "converged": np.zeros(size, bool), "diverged": np.zeros(size, bool), "steps": np.zeros(size, np.int64),
            "it": np.zeros(size, np.int64), "halvings": np.zeros(size, np.int64),
            "scale": np.ones(size, dtype), "risk0": np.full(size, np.nan, dtype)}


def _store(host: Any, out: dict[str, np.ndarray], state: dict[str, Any], slots: np.ndarray) -> None:
    """Copy the finished networks in ``slots`` to the results (``host`` parameters and ``out`` counters)."""
    ids = state["ids"][slots]
    for dst, src in zip(jax.tree_util.tree_leaves(host), jax.tree_util.tree_leaves(state["params"])):
        dst[ids] = np.asarray(src, dtype=np.float64)[slots]
    for name in out:
        out[name][ids] = state[name][slots]


def _refill(state: dict[str, Any], slots: np.ndarray, fresh: dict[str, Any]) -> dict[str, Any]:
    """``state`` with ``slots`` replaced by the networks of ``fresh``."""
    def put(a, b):
        a = np.array(a)
        a[slots] = np.asarray(b)
        return a

    return {name: jax.tree_util.tree_map(put, value, fresh[name]) for name, value in state.items()}


# ----------------------------------------------------------------------------------------- networks on data
@dataclasses.dataclass(frozen=True)
class _NetworkObjective:
    """The mean loss of an MLP, or of a CNN on its precomputed patches, per network: ``data = (X, y)``."""

    model: Architecture | ConvNet
    loss: Loss

    def __call__(self, params: Params, data: Any) -> Any:
        X, y = data
        dtype = params.weights[0].dtype
        X, y = X.astype(dtype), y.astype(dtype) if jnp.issubdtype(y.dtype, jnp.floating) else y
        if isinstance(self.model, ConvNet):
            return batched_conv_risk(self.model, self.loss, params, X, y)
        return batched_risk(self.model, self.loss, params, X, y)


def _param_arch(model: Architecture | ConvNet) -> Architecture:
    return model.patch_net if isinstance(model, ConvNet) else model


_WORKING_SET = 2**21
"""Floats of activations one compiled step may touch per chunk of networks (16 MiB in float64)."""


def _auto_batch_chunk(model: Architecture | ConvNet, n: int) -> int:
    arch = _param_arch(model)
    per_network = max(1, n * sum(arch.widths[1:]) * (model.positions if isinstance(model, ConvNet) else 1)
                      + arch.n_params)
    return max(1, _WORKING_SET // per_network)


def train(
    model: Architecture | ConvNet,
    params: Any,
    X: Any,
    y: Any,
    *,
    loss: str | Loss = "squared",
    config: TrainConfig = TrainConfig(),
    progress: Callable[[int, int], None] | None = None,
) -> TrainingResult:
    r"""Train every network of the batch at once (module docstring).

    Args:
        model: the architecture, or a :class:`~cellscape.conv.ConvNet` (parameters of its ``patch_net``,
            signals ``X``). params: initial parameters (batch ``B``). X, y: the data.
        loss: the loss. config: the :class:`TrainConfig`.
        progress: called as ``progress(steps_done, steps_total)`` after every chunk of steps.

    Raises:
        InvalidInputError: for bad shapes, a bad configuration, or a minibatch larger than the data.

    Notes:
        Each step costs one batched forward and backward pass, :math:`O(n P)` flops per network on ``n``
        samples (``batch_size`` with minibatches) for ``P`` parameters.
    """
    func = "train"
    loss = parse_loss(loss)
    if not isinstance(config, TrainConfig):
        raise invalid("config", func, "a TrainConfig", config)
    P = as_params(_param_arch(model), params, func=func)
    if isinstance(model, ConvNet):
        Xn = patches(X, model.kernel_size)
        if Xn.shape[1] != model.positions:
            raise invalid("X", func, f"signals of length {model.signal_length}", f"{np.asarray(X).shape}")
    else:
        Xn = as_inputs(model, X, func=func)
    yn = as_targets(y, loss, model.d_out, Xn.shape[0], func=func)
    n = int(Xn.shape[0])
    if config.batch_size is not None and config.batch_size > n:
        raise invalid("batch_size", func, f"at most the number of samples ({n})", config.batch_size)
    if config.batch_chunk is None:
        config = dataclasses.replace(config, batch_chunk=_auto_batch_chunk(model, config.batch_size or n))
    out = minimize(_NetworkObjective(model, loss), P, (jnp.asarray(Xn), jnp.asarray(yn)), config=config,
                   n_samples=n, progress=progress)
    return TrainingResult(params=out.params, risk=out.risk, grad_norm=out.grad_norm, steps=out.steps,
                          converged=out.converged, diverged=out.diverged, halvings=out.halvings)


def gradient_descent(
    arch: Architecture | ConvNet,
    params: Any,
    X: Any,
    y: Any,
    *,
    loss: str | Loss = "squared",
    lr: float = 0.05,
    steps: int = 1000,
    gtol: float = 0.0,
    chunk: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingResult:
    """Full-batch gradient descent with a constant step: :func:`train` with ``TrainConfig(optimizer="gd", lr=lr,
    steps=steps, gtol=gtol, chunk=chunk)``.

    Raises:
        InvalidInputError: for bad shapes, a non-positive step size, or negative counts.
    """
    config = TrainConfig(lr=lr, steps=steps, gtol=gtol, chunk=chunk)
    return train(arch, params, X, y, loss=loss, config=config, progress=progress)


def batched_gradient_step(arch: Architecture, loss: Loss, params: Params, X: Any, y: Any, lr: float) -> Params:
    """One plain gradient step for every network of the batch (no checks; jit it with ``static_argnums=(0, 1)``)."""
    _, grads = _value_and_grad(_NetworkObjective(arch, loss), params, (X, y), None)
    return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
