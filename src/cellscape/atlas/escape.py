r"""Does gradient descent stay in the cell where it starts? The cell-escape experiment (Liu 2020 Part 2, E2.3).

Random starting weights pick random cells of the one-hidden-layer model
:math:`f(x) = \sum_k v_k h(w_k^\top \tilde x) \,(+\, c)`, :math:`\tilde x = (x, 1)` (see
:mod:`cellscape.atlas.model`). From each start, full-batch gradient descent on the mean risk
:math:`R = \frac{1}{2N} \sum_n (f(x_n) - y_n)^2` runs, and the experiment records whether the run ever left its
starting cell, and sets that against the cell's verdict from :func:`~cellscape.atlas.cell_solve.solve_cell`.

Inside a cell the risk is a convex least-squares problem (in :math:`z`, fixed output weights), so theory 3.3
predicts: a start in a *genuine* cell may stay and converge to the cell's optimal risk; a start in a cell with no
genuine minimum has no critical point to converge to inside the cell, so the run leaves it (or runs to its
boundary or to infinity without converging).

**Starts.** :math:`[w_k, b_k] \sim \mathcal N(0, I_{d+1}) / \sqrt{d+1}`; output weights fixed to the model's
signs, :math:`v_k =` ``model.signs[k]`` (``signs``; :class:`~cellscape.atlas.model.AtlasModel` stores them +1
first, whatever order they were given in), or +1 (``positive``), or :math:`v_k \sim \mathcal N(0, 1)`
(``trained``); the output bias (if any) starts at 0. Explicit starts can be given instead.

**Descent.** Plain gradient descent with step ``lr`` on the parameters the model trains: the first layer always,
the output weights only for ``trained``, the output bias when the model has one. Fixed output weights stay
fixed (:func:`cellscape.training.gradient_descent` trains every parameter of an architecture, so this module runs
its own compiled loop: :func:`jax.lax.while_loop` under :func:`jax.vmap` over the starts, with
``gradient_descent``'s stopping rules: a run stops when its gradient norm is at most ``gtol`` (*converged*) or
when a step would be non-finite (*diverged*)). The pattern :math:`[w_k^\top \tilde x_n > p]` is compared with the
start's after every step; *stayed* means it never changed.

Examples:
    >>> import numpy as np
    >>> from cellscape.atlas.model import AtlasModel
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.maximum(X[:, 0], 0.0)       # relu(x)
    >>> res = cell_escape(X, y, AtlasModel.build(width=1), start_weights=[[[0.9, -0.1]]], steps=3000, lr=0.2)
    >>> res.outcome[0].value, bool(res.converged[0] and res.final_risk[0] < 1e-16), res.table.tolist()
    ('genuine_stayed', True, [[1, 0], [0, 0]])
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cellscape._backend import to_numpy
from cellscape._validation import check_float, check_int, invalid
from cellscape.activations import PiecewiseLinear
from cellscape.atlas.cell_solve import solve_cell
from cellscape.atlas.model import AtlasModel, OutputWeights
from cellscape.data import Dataset, load_data
from cellscape.networks import Architecture, Params, make_rng

__all__ = ["EscapeOutcome", "CellEscape", "cell_escape", "EscapeConfig", "run_escape"]


class EscapeOutcome(str, enum.Enum):
    """What one run did, against its starting cell's verdict: ``genuine_stayed``, ``genuine_left``,
    ``not_genuine_stayed``, ``not_genuine_left``, or ``undecided`` (``solve_cell`` could not decide the cell)."""

    GENUINE_STAYED = "genuine_stayed"
    GENUINE_LEFT = "genuine_left"
    NOT_GENUINE_STAYED = "not_genuine_stayed"
    NOT_GENUINE_LEFT = "not_genuine_left"
    UNDECIDED = "undecided"


@dataclasses.dataclass(frozen=True, eq=False)
class CellEscape:
    """The runs of :func:`cell_escape`; ``B`` runs, ``K`` units, ``N`` samples.

    Attributes:
        arch: the network, ``mlp(d, [K], 1, bias=[True, output_bias])``.
        params_start, params_final: the networks at the start and the end (batch ``B``; fixed output weights
            unchanged).
        start_patterns, final_patterns: ``(B, K, N)`` booleans, True where :math:`w_k^\\top \\tilde x_n > p`.
        stayed: ``(B,)``, the pattern never changed during the run. left_at: ``(B,)``, the step after which it
            first changed (``-1``: never).
        genuine, decided: ``(B,)``, the starting cell's verdict (``decided`` False: ``solve_cell`` could not
            decide, and ``genuine`` is False).
        cell_risk: ``(B,)``, the starting cell's optimal risk (its least-squares risk, genuine or not).
        start_risk, final_risk, grad_norm: ``(B,)``, risks at both ends and the final gradient norm (over the
            trained parameters).
        steps, converged, diverged: ``(B,)``, steps taken; stopped at ``gtol``; stopped at a non-finite step.
        final_genuine, final_decided, final_cell_risk: ``(B,)``, the same analysis for the final cell.
        outcome: one :class:`EscapeOutcome` per run.
        counts: runs per outcome value (every outcome present; they add up to ``B``).
    """

    arch: Architecture
    params_start: Params
    params_final: Params
    start_patterns: np.ndarray
    final_patterns: np.ndarray
    stayed: np.ndarray
    left_at: np.ndarray
    genuine: np.ndarray
    decided: np.ndarray
    cell_risk: np.ndarray
    start_risk: np.ndarray
    final_risk: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    final_genuine: np.ndarray
    final_decided: np.ndarray
    final_cell_risk: np.ndarray
    outcome: tuple[EscapeOutcome, ...]
    counts: dict[str, int]

    @property
    def table(self) -> np.ndarray:
        """The summary ``(2, 2)`` table: rows genuine / not genuine start cell, columns stayed / left (undecided
        cells are left out; see :attr:`counts`)."""
        c = self.counts
        return np.array([[c["genuine_stayed"], c["genuine_left"]],
                         [c["not_genuine_stayed"], c["not_genuine_left"]]], dtype=np.int64)

    @property
    def risk_gap(self) -> np.ndarray:
        """``(B,)``: ``final_risk - cell_risk``, the distance to the starting cell's optimum."""
        return self.final_risk - self.cell_risk

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per run: ``index``, ``category`` (the :class:`EscapeOutcome` value), ``stayed``,
        ``left_at``, ``start_genuine``, ``start_decided``, ``cell_risk``, ``start_risk``, ``risk`` (final),
        ``grad_norm``, ``steps``, ``converged``, ``diverged``, ``final_genuine``, ``final_decided``,
        ``final_cell_risk`` and the two cells as hexadecimal bit strings (``start_cell``, ``final_cell``: the
        ``(K, N)`` pattern, row by row, packed by :func:`numpy.packbits`). Non-finite floats are the strings
        ``"nan"``, ``"inf"``, ``"-inf"``."""

        def real(value: Any) -> float | str:
            value = float(value)
            return value if math.isfinite(value) else str(value)

        return [{"index": b, "category": self.outcome[b].value, "stayed": bool(self.stayed[b]),
                 "left_at": int(self.left_at[b]), "start_genuine": bool(self.genuine[b]),
                 "start_decided": bool(self.decided[b]), "cell_risk": real(self.cell_risk[b]),
                 "start_risk": real(self.start_risk[b]), "risk": real(self.final_risk[b]),
                 "grad_norm": real(self.grad_norm[b]), "steps": int(self.steps[b]),
                 "converged": bool(self.converged[b]), "diverged": bool(self.diverged[b]),
                 "final_genuine": bool(self.final_genuine[b]), "final_decided": bool(self.final_decided[b]),
                 "final_cell_risk": real(self.final_cell_risk[b]),
                 "start_cell": np.packbits(self.start_patterns[b]).tobytes().hex(),
                 "final_cell": np.packbits(self.final_patterns[b]).tobytes().hex()}
                for b in range(len(self.outcome))]


# ---------------------------------------------------------------------------------------------- the kernel
@functools.lru_cache(maxsize=16)
def _descent(act: PiecewiseLinear):
    """The compiled batched descent for one activation: ``(W0, v0, c0, Xt, y, kink, train_v, train_c, lr, gtol,
    steps) -> (W, v, c, n_steps, converged, diverged, left_at, risk, grad_norm, start_pattern, final_pattern)``;
    ``W0`` is ``(B, K, D)``. The patterns are computed here, by the same arithmetic as the in-loop check."""

    def risk(W, v, c, Xt, y):
        return 0.5 * jnp.mean((act(Xt @ W.T) @ v + c - y) ** 2)

    grad = jax.grad(risk, argnums=(0, 1, 2))

    def single(W, v, c, Xt, y, kink, train_v, train_c, lr, gtol, steps):
        start = Xt @ W.T > kink

        def cond(state):
            i, *_, active = state
            return (i < steps) & active

        def body(state):
            i, W, v, c, taken, converged, diverged, left_at, _ = state
            gW, gv, gc = grad(W, v, c, Xt, y)
            gv, gc = gv * train_v, gc * train_c
            gnorm = jnp.sqrt(jnp.sum(gW**2) + jnp.sum(gv**2) + gc**2)
            done = gnorm <= gtol
            W1, v1, c1 = W - lr * gW, v - lr * gv, c - lr * gc
            finite = (jnp.all(jnp.isfinite(W1)) & jnp.all(jnp.isfinite(v1)) & jnp.isfinite(c1)
                      & jnp.isfinite(risk(W1, v1, c1, Xt, y)))
            move = ~done & finite
            W, v, c = jnp.where(move, W1, W), jnp.where(move, v1, v), jnp.where(move, c1, c)
            changed = jnp.any((Xt @ W.T > kink) != start)
            left_at = jnp.where((left_at < 0) & move & changed, taken + 1, left_at)
            return (i + 1, W, v, c, taken + move, converged | done, diverged | (~done & ~finite), left_at, move)

        no, yes = jnp.bool_(False), jnp.bool_(True)
        state = (jnp.int64(0), W, v, c, jnp.int64(0), no, no, jnp.int64(-1), yes)
        _, W, v, c, taken, converged, diverged, left_at, _ = jax.lax.while_loop(cond, body, state)
        gW, gv, gc = grad(W, v, c, Xt, y)
        gnorm = jnp.sqrt(jnp.sum(gW**2) + jnp.sum((gv * train_v) ** 2) + (gc * train_c) ** 2)
        return (W, v, c, taken, converged | (gnorm <= gtol), diverged, left_at, risk(W, v, c, Xt, y), gnorm,
                start.T, (Xt @ W.T > kink).T)

    axes = (0, 0, 0) + (None,) * 8
    return jax.jit(jax.vmap(single, in_axes=axes))


def _cell_verdicts(X: np.ndarray, y: np.ndarray, patterns: np.ndarray, model: AtlasModel):
    """``(genuine, decided, risk)`` per run, one :func:`solve_cell` per distinct pattern."""
    cache: dict[bytes, tuple[bool, bool, float]] = {}
    out = []
    for p in patterns:
        key = np.packbits(p).tobytes()
        if key not in cache:
            sol = solve_cell(X, y, p, model)
            cache[key] = (bool(sol.genuine), sol.genuine is not None, sol.risk)
        out.append(cache[key])
    genuine, decided, risk = (np.array(col) for col in zip(*out))
    return genuine.astype(bool), decided.astype(bool), risk.astype(np.float64)


# ---------------------------------------------------------------------------------------------- public
def cell_escape(X: Any, y: Any, model: AtlasModel, *, n_starts: int | None = None, steps: int = 10_000,
                lr: float = 0.05, gtol: float = 1e-10, seed: int | np.random.Generator | None = 0,
                start_weights: Any = None, start_outputs: Any = None) -> CellEscape:
    r"""Run gradient descent from random (or given) starts and record whether each run stays in its starting
    cell, next to that cell's genuineness verdict and optimal risk (module docstring).

    Args:
        X: inputs ``(N, d)``. y: targets ``(N,)``. model: the :class:`~cellscape.atlas.model.AtlasModel`.
        n_starts: the number of random starts (default 32; with ``start_weights``, omit it or give their count).
        steps: the most gradient steps per run. lr: the step size. gtol: a run stops once the gradient norm
            (over the trained parameters) is at most ``gtol``.
        seed: seeds the random starts (an int, a ``numpy.random.Generator`` or ``None``): first all
            ``(B, K, d + 1)`` first-layer weights, then, for trained outputs, the ``(B, K)`` output weights.
        start_weights: explicit starts ``(B, K, d + 1)`` (rows ``(w_k, b_k)``) instead of random ones.
        start_outputs: explicit output weights ``(B, K)`` (trained outputs only; default drawn as above).

    Returns:
        A :class:`CellEscape`.

    Raises:
        InvalidInputError: for bad shapes or values, or output weights given for a model that fixes them.

    Notes:
        Each step costs a forward and backward pass, :math:`O(N K d)` per run, all runs in one compiled loop
        (which stops when every run has stopped). Then one :func:`solve_cell` per distinct starting and final
        cell.
    """
    func = "cell_escape"
    if not isinstance(model, AtlasModel):
        raise invalid("model", func, "an AtlasModel", model)
    X = to_numpy(X, name="X", func=func)
    if X.ndim != 2 or X.shape[0] == 0:
        raise invalid("X", func, "inputs of shape (N, d) with N >= 1", f"an array of shape {X.shape}", raw=True)
    N, d = X.shape
    K, D = model.width, d + 1
    y = to_numpy(y, name="y", func=func).reshape(-1)
    if y.shape[0] != N:
        raise invalid("y", func, f"{N} targets", y.shape[0])
    steps = check_int(steps, name="steps", func=func, minimum=0)
    lr = check_float(lr, name="lr", func=func, minimum=0.0, strict_minimum=True)
    gtol = check_float(gtol, name="gtol", func=func, minimum=0.0)
    trained = model.outputs is OutputWeights.TRAINED
    if start_outputs is not None and not trained:
        raise invalid("start_outputs", func, "omitted unless the model's outputs are 'trained'", "output weights",
                      raw=True)
    rng = make_rng(seed, func=func)
    if start_weights is None:
        B = 32 if n_starts is None else check_int(n_starts, name="n_starts", func=func, minimum=1)
        W0 = rng.normal(size=(B, K, D)) / np.sqrt(D)
    else:
        W0 = to_numpy(start_weights, name="start_weights", func=func)
        W0 = W0[None] if W0.ndim == 2 else W0
        if W0.ndim != 3 or W0.shape[1:] != (K, D) or W0.shape[0] == 0:
            raise invalid("start_weights", func, f"an array of shape (B, {K}, {D})", f"shape {W0.shape}", raw=True)
        B = W0.shape[0]
        if n_starts is not None and check_int(n_starts, name="n_starts", func=func, minimum=1) != B:
            raise invalid("n_starts", func, f"omitted or {B} (the number of start_weights)", n_starts)
    if not trained:
        v0 = np.broadcast_to(np.asarray(model.signs, dtype=np.float64), (B, K)).copy()
    elif start_outputs is None:
        v0 = rng.normal(size=(B, K))
    else:
        v0 = to_numpy(start_outputs, name="start_outputs", func=func)
        v0 = v0[None] if v0.ndim == 1 else v0
        if v0.shape != (B, K):
            raise invalid("start_outputs", func, f"an array of shape ({B}, {K})", f"shape {v0.shape}", raw=True)
    c0 = np.zeros(B)
    kink = float(model.kink)
    Xt = np.hstack([X, np.ones((N, 1))])
    run = _descent(model.activation)
    W, v, c, taken, converged, diverged, left_at, risk, gnorm, start_patterns, final_patterns = (
        np.asarray(a) for a in run(W0, v0, c0, Xt, y, kink, float(trained), float(model.output_bias), lr, gtol,
                                   steps))
    start_risk = np.asarray(jax.vmap(lambda W_, v_, c_: 0.5 * jnp.mean(
        (model.activation(Xt @ W_.T) @ v_ + c_ - y) ** 2))(W0, v0, c0))

    genuine, decided, cell_risk = _cell_verdicts(X, y, start_patterns, model)
    final_genuine, final_decided, final_cell_risk = _cell_verdicts(X, y, final_patterns, model)
    stayed = left_at < 0
    outcome = tuple(
        EscapeOutcome.UNDECIDED if not decided[b] else EscapeOutcome(
            f"{'genuine' if genuine[b] else 'not_genuine'}_{'stayed' if stayed[b] else 'left'}")
        for b in range(B))
    counts = {o.value: sum(1 for x in outcome if x is o) for o in EscapeOutcome}
    return CellEscape(model.architecture(d), model.params(W0, v0, c0), model.params(W, v, c),
                      start_patterns, final_patterns, stayed, left_at.astype(np.int64), genuine, decided, cell_risk,
                      start_risk, risk, gnorm, taken.astype(np.int64), converged.astype(bool),
                      diverged.astype(bool), final_genuine, final_decided, final_cell_risk, outcome, counts)


# ---------------------------------------------------------------------------------------------- as a study
@dataclasses.dataclass(frozen=True)
class EscapeConfig:
    """One cell-escape experiment, as a configuration (what a sweep of ``kind = "escape"`` runs per task).

    Attributes:
        data: a dataset specification for :func:`cellscape.data.load_data` (default: the built-in data that no
            affine map fits). n_samples, d_in: the size of a builtin dataset (``None``: its default).
        width, activation, outputs, signs, output_bias: the :class:`~cellscape.atlas.model.AtlasModel`
            (:meth:`~cellscape.atlas.model.AtlasModel.build`; ``signs`` only with ``outputs = "signs"``).
        runs: the number of random starts. steps, lr, gtol: the descent (:func:`cell_escape`).
        seed: seeds the data (``load_data(data, seed=seed)``) and, through the independent stream
            ``numpy.random.default_rng([seed, 1])``, the starts.

    Examples:
        >>> res = run_escape(EscapeConfig(width=2, runs=4, steps=200, n_samples=12))
        >>> sum(res.counts.values()), len(res.records()), res.records()[0]["category"] in res.counts
        (4, 4, True)
    """

    data: str = "builtin:nonaffine"
    width: int = 3
    activation: str = "relu"
    outputs: str = "signs"
    signs: tuple[int, ...] | None = None
    output_bias: bool = False
    runs: int = 32
    steps: int = 10_000
    lr: float = 0.05
    gtol: float = 1e-10
    seed: int = 0
    n_samples: int | None = None
    d_in: int | None = None

    def __post_init__(self) -> None:
        func = "EscapeConfig"
        if self.signs is not None:
            object.__setattr__(self, "signs", tuple(self.signs))
        self.model()
        check_int(self.runs, name="runs", func=func, minimum=1)
        check_int(self.steps, name="steps", func=func, minimum=0)
        check_int(self.seed, name="seed", func=func, minimum=0)
        check_float(self.lr, name="lr", func=func, minimum=0.0, strict_minimum=True)
        check_float(self.gtol, name="gtol", func=func, minimum=0.0)
        if not isinstance(self.data, str) or not self.data:
            raise invalid("data", func, "a dataset specification (a file or builtin:NAME)", self.data)

    def model(self) -> AtlasModel:
        """The :class:`~cellscape.atlas.model.AtlasModel` the experiment trains."""
        return AtlasModel.build(width=self.width, activation=self.activation, outputs=self.outputs,
                                signs=self.signs, output_bias=self.output_bias)

    def load_dataset(self) -> Dataset:
        """The experiment's data (:func:`cellscape.data.load_data` with its seed and sizes)."""
        return load_data(self.data, seed=self.seed, n_samples=self.n_samples, d_in=self.d_in)


def run_escape(config: EscapeConfig) -> CellEscape:
    """Run the cell-escape experiment that ``config`` describes: :func:`cell_escape` on its data and model, from
    ``config.runs`` random starts drawn from ``numpy.random.default_rng([config.seed, 1])``.

    Args:
        config: the :class:`EscapeConfig`.

    Returns:
        The :class:`CellEscape`.
    """
    if not isinstance(config, EscapeConfig):
        raise invalid("config", "run_escape", "an EscapeConfig", config)
    data = config.load_dataset()
    return cell_escape(data.X, data.y, config.model(), n_starts=config.runs, steps=config.steps, lr=config.lr,
                       gtol=config.gtol, seed=np.random.default_rng([config.seed, 1]))
