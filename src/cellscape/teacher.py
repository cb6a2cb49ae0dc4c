r"""The Gaussian teacher-student experiment of Safran and Shamir (ICML 2018), in closed form.

A student :math:`x \mapsto \sum_{i=1}^n \mathrm{relu}(w_i^\top x)` learns a teacher with ``k`` orthonormal units
:math:`v_j = e_j` in dimension ``d = k`` (output weights all 1) under :math:`x \sim \mathcal N(0, I_d)`, by
gradient descent on the population risk ``F`` of :mod:`cellscape.gaussian`, with no sampling error. The protocol
(``../shared/theory.md`` section 6.3 leaves it open; the choices are those of the issue and are recorded in
``docs/decisions.md``):

1. initialise every entry of ``W`` from :math:`\mathcal N(0, 1/d)` (``randn / sqrt(d)``), run ``r`` from the
   generator ``numpy.random.default_rng((seed, k, n))``, all runs drawn at once as one ``(runs, n, d)`` array;
2. gradient descent with step ``lr = 0.1`` on ``F`` (closed-form gradient, float64, all runs in one batch);
3. stop a run when :math:`2\pi \max_i |\nabla_{w_i} F| \le` ``tol`` (``1e-9``), or after ``max_steps`` steps
   (then *not converged*);
4. classify the endpoint (:class:`TeacherOutcome`): *global* when :math:`F <` ``spurious_risk`` (``1e-3``; the
   global minimum has ``F = 0``); otherwise the float64 Hessian (:func:`cellscape.gaussian.population_hessian`)
   decides: *spurious* (a strict local minimum above the global one) when its smallest eigenvalue exceeds
   ``eig_tol``, *saddle* when it is below ``-eig_tol``; *inconclusive* when it lies in between (a degenerate
   critical point), or when ``F`` is not twice differentiable there: a student unit of norm below ``1e-6``
   (``F`` has a kink at :math:`w_i = 0`) or two parallel student units (cosine above :math:`1 - 10^{-12}`, where
   the Hessian is infinite in one direction).

A gradient of norm at most ``1e-9`` and a Hessian with smallest eigenvalue :math:`\lambda > 10^{-6}` put a strict
local minimum within about :math:`10^{-9} / \lambda \le 10^{-3}` of the endpoint (``F`` is smooth there), so a
*spurious* endpoint is a spurious local minimum up to that distance.

**Distinct minima up to symmetry.** ``F`` is invariant under permutations of the student units and under
permutations of the coordinates (which permute the teacher units ``e_j``); the sorted entries of ``W`` are
invariant under both. Two spurious endpoints are the same minimum when their risks agree within ``1e-8``
relative and their sorted entries within ``1e-4`` (endpoints are within about :math:`10^{-9}/\lambda` of the
minimum); this can only merge minima that share every invariant, and never splits copies of one minimum.

Examples:
    >>> result = run_teacher(TeacherConfig(k=2, runs=8, max_steps=20000))
    >>> result.counts["global"], result.spurious.count
    (8, 0)
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cellscape._validation import check_float, check_int, invalid
from cellscape.gaussian import population_risk, trainable_risk
from cellscape.statistics import Rate, rate
from cellscape.training import TrainConfig, minimize

__all__ = ["TeacherConfig", "TeacherOutcome", "TeacherMinimum", "TeacherResult", "classify", "run_teacher",
           "run_teacher_table", "parse_range"]

_DEAD_NORM = 1e-6
_PARALLEL_COS = 1.0 - 1e-12
_MINIMUM_RISK_RTOL = 1e-8
_MINIMUM_ENTRY_ATOL = 1e-4
_HESSIAN_BATCH = 32


class TeacherOutcome(str, enum.Enum):
    """Where one run ended (module docstring)."""

    GLOBAL = "global"
    SPURIOUS = "spurious"
    SADDLE = "saddle"
    INCONCLUSIVE = "inconclusive"
    NOT_CONVERGED = "not_converged"


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """One size of the experiment (module docstring).

    Attributes:
        k: teacher units (and input dimension ``d = k``). extra_neurons: student units beyond ``k`` (``n = k + extra``).
        runs: runs from independent initialisations. lr: the step size. tol: the stopping threshold on
        :math:`2\\pi \\max_i |\\nabla_{w_i} F|`. max_steps: the most steps of a run.
        spurious_risk: endpoints at or above this risk are examined for spurious minima.
        eig_tol: the Hessian's smallest eigenvalue must exceed this for a minimum (and be below minus this for a
        saddle). seed: seeds the initialisation. chunk: steps per compiled call. batch_chunk: runs per compiled
        call (``None``: all).
    """

    k: int
    extra_neurons: int = 0
    runs: int = 1000
    lr: float = 0.1
    tol: float = 1e-9
    max_steps: int = 1_000_000
    spurious_risk: float = 1e-3
    eig_tol: float = 1e-6
    seed: int = 0
    chunk: int = 500
    batch_chunk: int | None = None

    def __post_init__(self) -> None:
        func = "TeacherConfig"
        check_int(self.k, name="k", func=func, minimum=1)
        check_int(self.extra_neurons, name="extra_neurons", func=func, minimum=0)
        check_int(self.runs, name="runs", func=func, minimum=1)
        check_float(self.lr, name="lr", func=func, minimum=0.0, strict_minimum=True)
        check_float(self.tol, name="tol", func=func, minimum=0.0, strict_minimum=True)
        check_int(self.max_steps, name="max_steps", func=func, minimum=1)
        check_float(self.spurious_risk, name="spurious_risk", func=func, minimum=0.0, strict_minimum=True)
        check_float(self.eig_tol, name="eig_tol", func=func, minimum=0.0)
        check_int(self.seed, name="seed", func=func, minimum=0)
        check_int(self.chunk, name="chunk", func=func, minimum=1)
        if self.batch_chunk is not None:
            check_int(self.batch_chunk, name="batch_chunk", func=func, minimum=1)

    @property
    def n(self) -> int:
        """Student units."""
        return self.k + self.extra_neurons


@dataclasses.dataclass(frozen=True)
class TeacherMinimum:
    """A distinct spurious minimum (module docstring): its lowest risk, the runs that reached it, the smallest
    Hessian eigenvalue at its first run, and that run's weights ``W`` (``(n, d)``)."""

    risk: float
    count: int
    min_eigenvalue: float
    runs: tuple[int, ...]
    weights: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"risk": self.risk, "count": self.count, "min_eigenvalue": self.min_eigenvalue,
                "runs": list(self.runs), "weights": self.weights.tolist()}


@dataclasses.dataclass(frozen=True, eq=False)
class TeacherResult:
    """One size of the experiment.

    Attributes:
        config: the configuration. outcome: each run's :class:`TeacherOutcome` value. risk, steps: each run's
        final risk and steps. min_eigenvalue: the smallest Hessian eigenvalue of each run examined (``nan`` for
        runs below ``spurious_risk``, not converged, or not twice differentiable). reason: why a run is
        inconclusive (empty otherwise).
        counts: runs per outcome. spurious: the :class:`~cellscape.statistics.Rate` of spurious minima.
        mean_min_eigenvalue, mean_spurious_risk: means over the spurious runs (``nan`` when none).
        max_global_risk: the largest risk among the runs counted global. minima: distinct spurious minima, lowest
        risk first. wall_s: seconds. network_steps: steps summed over the runs.
    """

    config: TeacherConfig
    outcome: tuple[str, ...]
    risk: np.ndarray
    steps: np.ndarray
    min_eigenvalue: np.ndarray
    reason: tuple[str, ...]
    counts: dict[str, int]
    spurious: Rate
    mean_min_eigenvalue: float
    mean_spurious_risk: float
    max_global_risk: float
    minima: tuple[TeacherMinimum, ...]
    wall_s: float
    network_steps: int

    @property
    def steps_per_second(self) -> float:
        """Network-steps per second of wall time."""
        return self.network_steps / self.wall_s if self.wall_s > 0 else math.nan

    def to_dict(self, *, runs: bool = True) -> dict[str, Any]:
        def number(x: float) -> float | None:
            return None if not math.isfinite(x) else float(x)

        out = {
            "k": self.config.k, "n": self.config.n, "d": self.config.k,
            "config": dataclasses.asdict(self.config),
            "counts": self.counts,
            "spurious": self.spurious.to_dict(),
            "mean_min_eigenvalue": number(self.mean_min_eigenvalue),
            "mean_spurious_risk": number(self.mean_spurious_risk),
            "max_global_risk": number(self.max_global_risk),
            "distinct_spurious_minima": len(self.minima),
            "minima": [m.to_dict() for m in self.minima],
            "wall_s": self.wall_s,
            "network_steps": self.network_steps,
            "network_steps_per_s": self.steps_per_second,
        }
        if runs:
            out["runs"] = {"outcome": list(self.outcome), "risk": self.risk.tolist(), "steps": self.steps.tolist(),
                           "min_eigenvalue": [number(x) for x in self.min_eigenvalue], "reason": list(self.reason)}
        return out


@dataclasses.dataclass(frozen=True)
class _Risk:
    """The population risk as a training objective: ``data`` is the teacher ``V``."""

    def __call__(self, W: Any, V: Any) -> Any:
        return trainable_risk(W, V.astype(W.dtype))


@dataclasses.dataclass(frozen=True)
class _LargestUnitGradient:
    """The protocol's stopping norm: :math:`2\\pi \\max_i |\\nabla_{w_i} F|`."""

    def __call__(self, grads: Any) -> Any:
        return 2.0 * jnp.pi * jnp.max(jnp.linalg.norm(grads, axis=-1), axis=-1)


def _flat_risk(flat: Any, V: Any, shape: tuple[int, int]) -> Any:
    return population_risk(flat.reshape(shape), V)


_batched_hessians = jax.jit(jax.vmap(jax.hessian(_flat_risk), in_axes=(0, None, None)), static_argnums=2)


def _smallest_hessian_eigenvalues(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The smallest eigenvalue of the float64 Hessian of ``F`` at each student of ``W`` (``(R, n, d)``)."""
    shape = W.shape[1:]
    flat = W.reshape(len(W), -1)
    out = [np.linalg.eigvalsh(np.asarray(_batched_hessians(jnp.asarray(flat[lo:lo + _HESSIAN_BATCH]), V, shape)))[:, 0]
           for lo in range(0, len(W), _HESSIAN_BATCH)]
    return np.concatenate(out) if out else np.zeros(0)


def _smoothness_problem(W: np.ndarray) -> str:
    """Why ``F`` is not twice differentiable at ``W`` (empty when it is)."""
    norms = np.linalg.norm(W, axis=1)
    if norms.min() < _DEAD_NORM:
        return f"a student unit of norm {norms.min():.1e} (F has a kink at w_i = 0)"
    unit = W / norms[:, None]
    cos = unit @ unit.T - 2.0 * np.eye(len(W))
    if cos.max() > _PARALLEL_COS:
        return "two parallel student units (the Hessian is infinite along one direction)"
    return ""


def _distinct_minima(W: np.ndarray, risk: np.ndarray, eig: np.ndarray, runs: np.ndarray) -> tuple[TeacherMinimum,
                                                                                                      ...]:
    order = sorted(runs.tolist(), key=lambda r: (risk[r], r))
    groups: list[list[int]] = []
    for r in order:
        key = np.sort(W[r].ravel())
        for members in groups:
            first = members[0]
            if (abs(risk[r] - risk[first]) <= _MINIMUM_RISK_RTOL * (1.0 + risk[first])
                    and np.max(np.abs(key - np.sort(W[first].ravel()))) <= _MINIMUM_ENTRY_ATOL):
                members.append(r)
                break
        else:
            groups.append([r])
    return tuple(TeacherMinimum(risk=float(risk[g[0]]), count=len(g), min_eigenvalue=float(eig[g[0]]),
                                runs=tuple(sorted(g)), weights=W[g[0]].copy()) for g in groups)


def classify(*, risk: float, converged: bool, min_eigenvalue: float, problem: str, spurious_risk: float,
             eig_tol: float) -> tuple[TeacherOutcome, str]:
    """The outcome of one endpoint and, when inconclusive, why (module docstring, step 4).

    Examples:
        >>> classify(risk=0.02, converged=True, min_eigenvalue=3e-2, problem="", spurious_risk=1e-3, eig_tol=1e-6)
        (<TeacherOutcome.SPURIOUS: 'spurious'>, '')
    """
    if not converged:
        return TeacherOutcome.NOT_CONVERGED, ""
    if risk < spurious_risk:
        return TeacherOutcome.GLOBAL, ""
    if problem:
        return TeacherOutcome.INCONCLUSIVE, problem
    if min_eigenvalue > eig_tol:
        return TeacherOutcome.SPURIOUS, ""
    if min_eigenvalue < -eig_tol:
        return TeacherOutcome.SADDLE, ""
    return TeacherOutcome.INCONCLUSIVE, (f"smallest Hessian eigenvalue {min_eigenvalue:.1e} within eig_tol of 0 "
                                         "(a degenerate critical point)")


def run_teacher(config: TeacherConfig, *, progress: Callable[[int, int], None] | None = None) -> TeacherResult:
    """Run one size of the experiment (module docstring).

    Args:
        config: the :class:`TeacherConfig`.
        progress: called as ``progress(done, total)`` in network-steps (finished runs count ``max_steps``).

    Raises:
        InvalidInputError: for a bad configuration.

    Notes:
        Each step costs :math:`O(n (n + k) d)` per run for the angles, with one ``arccos`` per pair; runs
        stop one by one, and the batch shrinks to the running ones. The Hessians, :math:`O((nd)^2 n k)` each by
        forward-over-reverse autodiff, are taken only at endpoints at or above ``spurious_risk``.
    """
    if not isinstance(config, TeacherConfig):
        raise invalid("config", "run_teacher", "a TeacherConfig", config)
    k, n = config.k, config.n
    V = np.eye(k)
    rng = np.random.default_rng((config.seed, k, n))
    W0 = rng.standard_normal((config.runs, n, k)) / math.sqrt(k)
    start = time.perf_counter()
    train_config = TrainConfig(lr=config.lr, steps=config.max_steps, gtol=config.tol, chunk=config.chunk,
                               batch_chunk=config.batch_chunk)
    out = minimize(_Risk(), W0, V, config=train_config, stop_norm=_LargestUnitGradient(), progress=progress)
    W, risk = out.params, out.risk
    converged = out.converged & ~out.diverged
    examine = np.nonzero(converged & (risk >= config.spurious_risk))[0]
    problems = {int(r): _smoothness_problem(W[r]) for r in examine}
    smooth = np.asarray([r for r in examine if not problems[r]], dtype=np.int64)
    eig = np.full(config.runs, np.nan)
    if smooth.size:
        eig[smooth] = _smallest_hessian_eigenvalues(W[smooth], V)
    pairs = [classify(risk=float(risk[r]), converged=bool(converged[r]), min_eigenvalue=float(eig[r]),
                      problem=problems.get(r, ""), spurious_risk=config.spurious_risk, eig_tol=config.eig_tol)
             for r in range(config.runs)]
    outcome = np.asarray([o.value for o, _ in pairs], dtype=object)
    reason = [why for _, why in pairs]
    spurious = np.nonzero(outcome == TeacherOutcome.SPURIOUS.value)[0]
    is_global = outcome == TeacherOutcome.GLOBAL.value
    return TeacherResult(
        config=config,
        outcome=tuple(outcome.tolist()),
        risk=risk,
        steps=out.steps,
        min_eigenvalue=eig,
        reason=tuple(reason),
        counts={o.value: int(np.sum(outcome == o.value)) for o in TeacherOutcome},
        spurious=rate(int(spurious.size), config.runs),
        mean_min_eigenvalue=float(np.mean(eig[spurious])) if spurious.size else math.nan,
        mean_spurious_risk=float(np.mean(risk[spurious])) if spurious.size else math.nan,
        max_global_risk=float(np.max(risk[is_global])) if is_global.any() else math.nan,
        minima=_distinct_minima(W, risk, eig, spurious),
        wall_s=time.perf_counter() - start,
        network_steps=int(out.steps.sum()),
    )


def parse_range(text: str, *, name: str = "k") -> tuple[int, ...]:
    """``"6..20"`` (inclusive), ``"6,8,10"`` or ``"7"`` as a tuple of positive integers.

    Examples:
        >>> parse_range("6..9"), parse_range("3,5"), parse_range("4")
        ((6, 7, 8, 9), (3, 5), (4,))
    """
    try:
        values: list[int] = []
        for part in str(text).split(","):
            if ".." in part:
                lo, hi = (int(p) for p in part.split(".."))
                if hi < lo:
                    raise ValueError
                values.extend(range(lo, hi + 1))
            else:
                values.append(int(part))
    except ValueError:
        raise invalid(name, "cellscape teacher", "a range such as 6..20, a list such as 6,8,10, or one integer",
                      text) from None
    if not values or min(values) < 1:
        raise invalid(name, "cellscape teacher", "positive integers", text)
    return tuple(values)


def run_teacher_table(
    configs: list[TeacherConfig] | tuple[TeacherConfig, ...],
    *,
    json_path: str | Path | None = None,
    on_start: Callable[[TeacherConfig], Callable[[int, int], None] | None] | None = None,
) -> list[dict[str, Any]]:
    """Run several sizes, one after the other, keeping every finished size.

    With ``json_path``, the file is rewritten (atomically) after each size as ``{"command": "teacher", "sizes":
    [...]}``; sizes already in the file with the same configuration are not run again, so an interrupted table
    resumes where it stopped. ``on_start(config)`` is called before each size that runs and may return a
    progress callback for it.

    Returns:
        One :meth:`TeacherResult.to_dict` per configuration, in order.

    Raises:
        InvalidInputError: for a bad configuration, or a ``json_path`` that is not a teacher table.
    """
    from cellscape import __version__

    path = None if json_path is None else Path(json_path)
    done: dict[str, dict[str, Any]] = {}
    if path is not None and path.exists():
        try:
            previous = json.loads(path.read_text())
            entries = previous["sizes"] if previous.get("command") == "teacher" else None
        except (OSError, ValueError, KeyError, AttributeError):
            entries = None
        if entries is None:
            raise invalid("json_path", "run_teacher_table", "a new file or a table written by `cellscape teacher`",
                          str(path))
        done = {json.dumps(e["config"], sort_keys=True): e for e in entries}
    results: list[dict[str, Any]] = []
    for config in configs:
        key = json.dumps(dataclasses.asdict(config), sort_keys=True)
        if key not in done:
            progress = on_start(config) if on_start is not None else None
            done[key] = run_teacher(config, progress=progress).to_dict()
        results.append(done[key])
        if path is not None:
            payload = {"cellscape_version": __version__, "command": "teacher",
                       "sizes": results + [e for e in done.values() if e not in results]}
            tmp = path.with_name(path.name + ".tmp")
            try:
                tmp.write_text(json.dumps(payload, indent=1) + "\n")
                os.replace(tmp, path)
            except OSError as err:
                raise invalid("json_path", "run_teacher_table", "a writable file",
                              f"{str(path)!r} ({err.strerror})", raw=True) from None
    return results
