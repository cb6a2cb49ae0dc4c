r"""The risk and the cell of every point of a grid on a plane :math:`\theta_0 + \alpha d_1 + \beta d_2`: the engine
of :func:`cellscape.slices.slice_2d` (and of :func:`cellscape.slices.slice_1d`'s float curve).

Two kernels. :func:`evaluate_grid`, the row sweep, walks a grid row (fixed :math:`\beta`, increasing
:math:`\alpha`) for networks with one or two hidden layers. Along a row the first layer's pre-activations
:math:`z_b + \alpha z_1` are linear, so each unit changes piece at most once per breakpoint (found once per row),
and between such events the first layer's activations are :math:`A + \alpha B`; the second layer's
pre-activations are then the quadratic :math:`P_0 + \alpha P_1 + \alpha^2 P_2` in :math:`\alpha`, whose three
coefficient matrices are computed once per row (BLAS) and updated by :math:`O(d_2)` for each event. A grid point
costs :math:`O(n d_2 d_{out})` instead of a forward pass (with the row's products, about a thirtieth of its
arithmetic for a 20-100-78-1 network), compiled with numba (the first call compiles, about 8 s; the machine code
is cached on disk). :func:`evaluate_points` is the forward pass at each point (numpy and BLAS in threads), for
deeper networks and as the reference the sweep is tested against: the two agree to rounding (the sweep sums in
another order) and on every cell.

The cell of a point is its activation pattern (and loss pattern, for a piecewise loss), given as a 128-bit code:
points with equal codes are one cell (a code depends on the pattern alone; two different patterns share one with
probability about :math:`2^{-128}`). The sweep XORs a random key per set pattern bit (Zobrist hashing: an event
updates the code in O(1)); the point kernel hashes the packed bits with SHA-256. The two kernels' codes differ,
their cells (:func:`labels`) do not.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import os
import threading
from typing import Any

import jax
import numba
import numpy as np

from cellscape.losses import Loss
from cellscape.networks import Architecture

__all__ = ["evaluate_grid", "evaluate_points", "labels", "blocks", "first_layer"]


def blocks(arch: Architecture) -> list[tuple[int, int, int, int | None]]:
    """Per layer: ``(offset of W, rows, columns, offset of b or None)`` in the flat vector."""
    out, offset = [], 0
    for (rows, cols), b_shape in arch.layer_shapes():
        w_at = offset
        offset += rows * cols
        b_at = None
        if b_shape is not None:
            b_at = offset
            offset += b_shape[0]
        out.append((w_at, rows, cols, b_at))
    return out


def first_layer(arch: Architecture, flat: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``X W_1^T + b_1`` of a flat vector, ``(n, d_1)`` (a direction's bias enters like any parameter: the
    pre-activations are linear in the parameters)."""
    w_at, rows, cols, b_at = blocks(arch)[0]
    Z = X @ flat[w_at:w_at + rows * cols].reshape(rows, cols).T
    return Z + flat[b_at:b_at + rows] if b_at is not None else Z


_BLAS_BLOCK = 1 << 19  # m k n of one matrix product: OpenBLAS runs smaller ones on the calling thread only
_GROUP_ELEMENTS = 1 << 18  # pre-activations per task (n * widest layer * points): 2 MB, cache-sized buffers
_MAX_WORKERS = 8
_LOSS_BATCH = 1 << 20  # outputs (points * n * d_out) per call of the compiled loss


def labels(codes: np.ndarray) -> np.ndarray:
    """Cell labels from ``(G, 2)`` pattern codes: 0, 1, ... in order of first appearance."""
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


@functools.lru_cache(maxsize=32)
def _loss_kernel(loss: Loss):
    """The compiled per-sample losses and loss pieces of a batch of outputs: ``(yhat (P, n, d_out), y) -> (losses
    (P, n), pieces (P, n, m))``."""
    return jax.jit(lambda yhat, y: (loss.per_sample(yhat, y), loss.pieces(yhat, y)))


@dataclasses.dataclass(frozen=True)
class _Plane:
    r"""What every grid point of a plane shares, read-only.

    ``Z``: the first layer's :math:`Z_0, Z_1, Z_2`. ``M``: the later layers' matrices
    :math:`M_i = [W_i^\top; b_i]` (the bias as the last row, zero without one) of the origin and the two directions,
    raveled one after the other into a vector per ``i`` (``shapes``: each layer's ``(rows, columns)``). Every hidden
    layer carries one more column that is 1 at every point (1 in :math:`Z_0`, 0 in :math:`Z_1, Z_2`; a last column
    :math:`e` of :math:`M_0`, 0 in :math:`M_1, M_2`), so the next product adds the bias: :math:`[h, 1] M =
    h W^\top + b`. ``acts``: each hidden layer's activation as ``(c_0, s_0, ((p_j, s_j - s_{j-1}), ...))``."""

    Z: tuple[np.ndarray, np.ndarray, np.ndarray]
    M: tuple[np.ndarray, np.ndarray, np.ndarray]
    shapes: tuple[tuple[int, int], ...]
    acts: tuple[tuple[float, float, tuple[tuple[float, float], ...]], ...]
    breakpoints: tuple[tuple[float, ...], ...]
    widths: tuple[int, ...]
    n: int


def _plane(arch: Architecture, theta, d1, d2, X) -> _Plane:
    """The shared arrays of the plane ``theta + alpha d1 + beta d2`` (flat vectors) on inputs ``X``."""
    hidden = arch.n_layers > 1
    Z = []
    for i, v in enumerate((theta, d1, d2)):
        first = first_layer(arch, v, X)
        Z.append(np.ascontiguousarray(np.hstack([first, np.full((X.shape[0], 1), 1.0 if i == 0 else 0.0)])
                                      if hidden else first))
    M: list[list[np.ndarray]] = [[], [], []]
    shapes = []
    for l, (w_at, rows, cols, b_at) in enumerate(blocks(arch)[1:]):
        last = l == arch.n_layers - 2
        for i, v in enumerate((theta, d1, d2)):
            m = np.zeros((cols + 1, rows + (0 if last else 1)))
            m[:cols, :rows] = v[w_at:w_at + rows * cols].reshape(rows, cols).T
            if b_at is not None:
                m[cols, :rows] = v[b_at:b_at + rows]
            if not last and i == 0:
                m[cols, rows] = 1.0
            M[i].append(m.ravel())
        shapes.append((cols + 1, rows + (0 if last else 1)))
    flat = tuple(np.concatenate(m) if m else np.zeros(0) for m in M)
    acts = tuple((float(act.intercepts[0]), float(act.slopes[0]),
                  tuple((float(p), float(s1 - s0)) for p, s0, s1 in zip(act.breakpoints, act.slopes, act.slopes[1:])
                        if s1 != s0)) for act in arch.activations)
    bps = tuple(tuple(float(p) for p in act.breakpoints) for act in arch.activations)
    return _Plane(Z=tuple(Z), M=flat, shapes=tuple(shapes), acts=acts, breakpoints=bps, widths=tuple(arch.widths),
                  n=X.shape[0])


def _is_relu(act: tuple) -> bool:
    return act == (0.0, 0.0, ((0.0, 1.0),))


def _activate(act: tuple, z: np.ndarray, scratch: tuple[np.ndarray, np.ndarray] | None) -> None:
    r"""``z = h(z)`` in place (but its last column, ones) for a piecewise-linear ``h = (c_0, s_0, ((p_j, s_j -
    s_{j-1}), ...))``, the formula of its ``__call__``: :math:`h(z) = c_0 + s_0 z + \sum_j (s_j - s_{j-1})
    [z - p_j]_+`. ReLU takes one pass, ``max(z, 0)`` (which keeps the ones); another function two scratch arrays
    of ``z``'s shape."""
    if _is_relu(act):
        np.fmax(z, 0.0, out=z)
        return
    c0, s0, kinks = act
    total, term = scratch
    total.fill(c0)
    for p, jump in kinks:
        np.subtract(z, p, out=term)
        np.maximum(term, 0.0, out=term)
        if jump != 1.0:
            term *= jump
        total += term
    z *= s0
    z += total
    z[..., -1] = 1.0  # the column of ones


def _product(h: np.ndarray, M: np.ndarray, out: np.ndarray) -> None:
    """``out[q] = h[q] @ M[q]`` for every point ``q`` of a task. One stacked product when each is small, else
    blocks of rows with fewer than ``_BLAS_BLOCK`` multiply-adds each (a stacked product: one BLAS call per block):
    every BLAS call then runs on the calling thread and the tasks run in parallel (a threaded BLAS would make the
    two compete for the cores)."""
    n, k, m = h.shape[1], h.shape[2], M.shape[2]
    if n * k * m < _BLAS_BLOCK:
        np.matmul(h, M, out=out)
        return
    rows = max(1, (_BLAS_BLOCK - 1) // (k * m))
    rows -= rows % 8 if rows > 8 else 0  # whole blocks of the 4 x 8 (or 8 x 4) kernel run faster
    whole = n - n % rows
    for q in range(h.shape[0]):
        np.matmul(h[q, :whole].reshape(-1, rows, k), M[q], out=out[q, :whole].reshape(-1, rows, m))
        if whole < n:
            np.dot(h[q, whole:], M[q], out=out[q, whole:])


def _plane_worker(plane: _Plane, loss: Loss, y: np.ndarray, A: np.ndarray, B: np.ndarray, size: int,
                  take: Any, risk: np.ndarray, codes: np.ndarray) -> None:
    """Evaluate tasks (``size`` consecutive points each) until ``take()`` gives ``None``, writing ``risk`` and
    ``codes``; the buffers are this worker's own. The outputs of many tasks (up to ``_LOSS_BATCH`` numbers) are
    gathered for one call of the compiled loss (a call costs about 0.1 ms)."""
    n, widths = plane.n, plane.widths
    n_hidden = len(widths) - 2
    # hidden pre-activations with their column of ones, then (in place) activations
    z = [np.empty((size, n, w + 1)) for w in widths[1:-1]]
    scratch = [None if _is_relu(act) else (np.empty_like(zl), np.empty_like(zl)) for act, zl in zip(plane.acts, z)]
    M_all = np.empty((size, plane.M[0].size))  # the later layers' matrices at each point of a task
    M, at = [], 0
    for rows, cols in plane.shapes:
        M.append(M_all[:, at:at + rows * cols].reshape(size, rows, cols))
        at += rows * cols
    bits = [np.empty((size, n, w + 1), dtype=bool) for l, w in enumerate(widths[1:-1]) for _ in plane.breakpoints[l]]
    # the outputs of the tasks since the last call of the compiled loss: a batch of a fixed shape (whatever the
    # tasks), so that every point's loss is computed by the same code
    yhat = np.zeros((max(size, min(4096, _LOSS_BATCH // (n * widths[-1]))), n, widths[-1]))
    pending: list[tuple[int, int, list]] = []  # (start, points, hashes) of the tasks in yhat
    filled = 0
    kernel = _loss_kernel(loss)
    Z0, Z1, Z2 = plane.Z
    M0, M1, M2 = plane.M
    cached_b = None
    Zb, Mb = np.empty_like(Z0), np.empty_like(M0)  # Z0 + b Z2 and M0 + b M2 at that b

    def finish() -> None:
        """The risk and loss pieces of the gathered outputs; the codes of their points."""
        losses, pieces = (np.asarray(v) for v in kernel(yhat, y))
        row = 0
        for start, p, hashes in pending:
            risk[start:start + p] = np.mean(losses[row:row + p], axis=1)  # every row summed alike
            digests = bytearray()
            for q, digest in enumerate(hashes):
                if pieces.shape[-1]:
                    digest.update(np.ascontiguousarray(pieces[row + q]))
                digests += digest.digest()[:16]
            codes[start:start + p] = np.frombuffer(bytes(digests), dtype="<u8").reshape(p, 2)
            row += p
        pending.clear()

    while (task := take()) is not None:
        start = task * size
        a, b = A[start:start + size], B[start:start + size]
        p = a.shape[0]
        if filled + p > yhat.shape[0]:
            finish()
            filled = 0
        out = yhat[filled:filled + p]
        filled += p
        # the first layer (Z0 + b Z2) + a Z1 and the later layers' matrices (M0 + b M2) + a M1, the brackets once
        # per value of b (a grid row)
        z0 = z[0][:p] if n_hidden else out
        np.multiply(Z1, a[:, None, None], out=z0)
        np.multiply(M1, a[:, None], out=M_all[:p])
        b_list = b.tolist()
        lo = 0
        while lo < p:
            hi = lo + 1
            while hi < p and b_list[hi] == b_list[lo]:
                hi += 1
            if b_list[lo] != cached_b:
                cached_b = b_list[lo]
                np.multiply(Z2, cached_b, out=Zb)
                Zb += Z0
                np.multiply(M2, cached_b, out=Mb)
                Mb += M0
            z0[lo:hi] += Zb
            M_all[lo:hi] += Mb
            lo = hi
        slot = 0
        for l in range(n_hidden):
            zl = z[l][:p]
            for bp in plane.breakpoints[l]:
                np.greater_equal(zl, bp, out=bits[slot][:p])
                slot += 1
            _activate(plane.acts[l], zl, None if scratch[l] is None else (scratch[l][0][:p], scratch[l][1][:p]))
            _product(zl, M[l][:p], z[l + 1][:p] if l + 1 < n_hidden else out)
        packed = [np.packbits(bit[:p].reshape(p, -1), axis=1) for bit in bits]
        hashes = [hashlib.sha256() for _ in range(p)]
        for q, digest in enumerate(hashes):
            for row in packed:
                digest.update(row[q])
        pending.append((start, p, hashes))
    if pending:
        finish()


def _run_workers(worker: Any, args: tuple, n_tasks: int, risk: np.ndarray, codes: np.ndarray) -> None:
    """Run ``worker(*args, take, risk, codes)`` in up to ``min(cores, n_tasks, 8)`` threads that share the tasks
    ``0, ..., n_tasks - 1`` (``take()`` gives the next or ``None``)."""
    counter, lock = iter(range(n_tasks)), threading.Lock()

    def take() -> int | None:
        with lock:
            return next(counter, None)

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cpus = os.cpu_count() or 1
    workers = max(1, min(cpus, n_tasks, _MAX_WORKERS))
    if workers == 1:
        worker(*args, take, risk, codes)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(worker, *args, take, risk, codes) for _ in range(workers)]:
            future.result()


def evaluate_points(arch: Architecture, loss: Loss, theta, d1, d2, X, y, A, B, *, chunk: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Risk ``(G,)`` and pattern codes ``(G, 2)`` (uint64) at the plane points ``(A[g], B[g])``, a forward pass
    each (the reference the row sweep is tested against): tasks of ``chunk`` consecutive points, shared by a few
    threads (numpy and BLAS release the GIL); every point is computed by the same operations whatever its task, so
    neither the chunking nor the threads change a result."""
    plane = _plane(arch, theta, d1, d2, np.asarray(X, dtype=np.float64))
    y = np.asarray(y)
    A = np.ascontiguousarray(A, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    G = A.shape[0]
    if chunk is None:
        chunk = max(1, min(256, _GROUP_ELEMENTS // (plane.n * max(plane.widths[1:]))))
    size = min(chunk, G)
    risk = np.empty(G)
    codes = np.empty((G, 2), dtype=np.uint64)
    _run_workers(_plane_worker, (plane, loss, y, A, B, size), -(-G // size), risk, codes)
    return risk, codes


# ------------------------------------------------------------------------------------------- the row sweep
_SWEEP_BLOCK_BYTES = 1 << 17  # the sweep's samples per block: P (24 d_2 bytes a sample) in 128 KB, in L2
_KEY_SEED = 0x63656C6C  # the pattern keys: fixed, so that a code depends on the pattern alone


@functools.lru_cache(maxsize=4)
def _pattern_keys(n: int, width: int, n_breakpoints: int, layer: int) -> np.ndarray:
    """Random 128-bit keys ``(n, width, n_breakpoints, 2)`` (uint64), one per pattern bit of a layer: a pattern's
    code is the XOR of the keys of its set bits (Zobrist hashing), so that flipping a bit updates it in O(1)."""
    rng = np.random.default_rng([_KEY_SEED, layer, n, width, n_breakpoints])
    keys = rng.integers(0, np.iinfo(np.uint64).max, size=(n, width, n_breakpoints, 2), dtype=np.uint64,
                        endpoint=True)
    keys.flags.writeable = False
    return keys


@numba.njit(nogil=True, cache=True)
def _row_start(zb, z1, alpha, block, bps, slopes, intercepts, keys, A, B, keyed, events, starts,
               code):  # pragma: no cover
    r"""The first layer along one grid row, :math:`z(\alpha) = z_b + \alpha z_1` (``zb``, ``z1``: ``(n, d_1)``),
    at the row's points ``alpha`` (increasing).

    Writes ``A + alpha B``, the activations on the pieces the units are on at ``alpha[0]`` (:math:`s_q z_b + c_q`
    and :math:`s_q z_1`); ``code[b, :2]``, the code of the bits set at ``alpha[0]`` in samples block ``b`` (samples
    ``b * block`` to ``(b + 1) * block``; ``code[:, 2:]`` zeroed); and the events of the row: every pattern bit
    :math:`z \ge p_j` that differs from ``alpha[0]`` at a later point, at the first such point (the bits are
    computed as the point kernel computes them, ``zb + alpha * z1``; being monotone in ``alpha``, each bit changes
    at most once, found from the crossing and checked at the points either side). ``events[starts[b K +
    k]:starts[b K + k + 1]]`` are the events of block ``b`` at point ``k``, each ``((i d_1 + u) m + j) * 2 + up``
    (``m`` breakpoints)."""
    n, width = zb.shape
    nb, K = bps.size, alpha.size
    counts = np.zeros(starts.size, np.int64)
    code[:] = 0
    m = 0
    a_first, a_last = alpha[0], alpha[K - 1]
    spacing = (a_last - a_first) / (K - 1) if K > 1 else 1.0
    for i in range(n):
        blk = i // block
        for u in range(width):
            z, s = zb[i, u], z1[i, u]
            q = 0
            for j in range(nb):
                p = bps[j]
                first = z + a_first * s >= p
                if first:
                    q += 1
                    code[blk, 0] ^= keys[i, u, j, 0]
                    code[blk, 1] ^= keys[i, u, j, 1]
                if (z + a_last * s >= p) != first:
                    # the first point past the crossing (p - z) / s, from the mean spacing, then corrected
                    guess = (p - z) / s - a_first
                    hi = min(K - 1, max(1, int(np.ceil(guess / spacing)))) if np.isfinite(guess) else K - 1
                    while hi > 1 and (z + alpha[hi - 1] * s >= p) != first:
                        hi -= 1
                    while (z + alpha[hi] * s >= p) == first:
                        hi += 1
                    keyed[m] = blk * K + hi
                    events[m] = ((i * width + u) * nb + j) * 2 + (0 if first else 1)
                    counts[blk * K + hi] += 1
                    m += 1
            A[i, u] = slopes[q] * z + intercepts[q]
            B[i, u] = slopes[q] * s
    starts[0] = 0
    for t in range(starts.size - 1):
        starts[t + 1] = starts[t] + counts[t]
    fill = starts[:-1].copy()
    order = np.empty(m, np.int64)
    for e in range(m):
        order[fill[keyed[e]]] = events[e]
        fill[keyed[e]] += 1
    events[:m] = order


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})
def _row_sweep(k0, k1, alpha, block, first, events, starts, P, bps2, slopes2, intercepts2, keys2, piece2, W3, E3,
               b3, e3, out, codes, code):  # pragma: no cover
    r"""Points ``k0 <= k < k1`` of a grid row: write the outputs ``out[k - k0]`` ``(n, d_out)`` and the pattern
    codes ``codes[k - k0]``, applying the row's first-layer events on the way.

    The second layer's pre-activations are kept as :math:`V(\alpha) = P_0 + \alpha P_1 + \alpha^2 P_2`
    (``P[:, t]``, ``(n, d_2)`` each): with the first layer's activations :math:`H = A + \alpha B` and the second
    layer's weights :math:`W' + \alpha E` (``WE = [W'^\top, E^\top]``; bias :math:`c + \alpha e`, inside
    :math:`P_0, P_1`), :math:`P_0 = A W'^\top + c`, :math:`P_1 = B W'^\top + A E^\top + e`, :math:`P_2 = B
    E^\top`. An event (unit ``u`` of sample ``i`` crossing breakpoint ``p_j`` upwards, slope jump
    :math:`\delta_j`) adds :math:`\delta_j (z - p_j)` to that unit's activation, so sample ``i``'s rows gain
    :math:`g_a W'_u`, :math:`g_b W'_u + g_a E_u`, :math:`g_b E_u` with :math:`g_a = \delta_j (z_b - p_j)`,
    :math:`g_b = \delta_j z_1` (the opposite downwards): :math:`O(d_2)` per event instead of a product per point.
    With two hidden layers (``W3`` not empty) the second layer's activations (pieces tracked in ``piece2``, their
    bits' keys XORed into the code when they change) meet the output layer :math:`W_3' + \alpha E_3`, bias
    :math:`b_3 + \alpha e_3`; with one, :math:`V` is the output.

    The samples go in blocks of ``block`` (their ``P`` fits in the core's cache), each through all the points:
    ``code[b]``, block ``b``'s running code (first layer, then second), is XORed into each point's code.
    ``first``: ``(zb, z1, breakpoints, slope jumps, keys, WE)`` of the first layer."""
    n, _, width2 = P.shape
    d_out = out.shape[2]
    K = alpha.size
    hidden2 = W3.shape[0] > 0
    nb2 = bps2.size
    relu2 = nb2 == 1 and bps2[0] == 0.0 and slopes2[0] == 0.0 and slopes2[1] == 1.0 and intercepts2[0] == 0.0
    v = np.empty(width2)
    W3a = np.empty((k1 - k0, d_out, width2))
    b3a = np.empty((k1 - k0, d_out))
    for k in range(k0, k1):
        for o in range(d_out if hidden2 else 0):
            b3a[k - k0, o] = b3[o] + alpha[k] * e3[o]
            for c in range(width2):
                W3a[k - k0, o, c] = W3[o, c] + alpha[k] * E3[o, c]
    codes[:k1 - k0] = 0
    for blk in range(code.shape[0]):
        i0, i1 = blk * block, min(n, (blk + 1) * block)
        for k in range(k0, k1):
            a = alpha[k]
            if k > 0:
                for e in range(starts[blk * K + k], starts[blk * K + k + 1]):
                    _apply_event(first, events[e], P, code[blk])
            if not hidden2:
                _quadratic(P, i0, i1, a, out[k - k0])
            elif relu2 and d_out == 1:
                _relu_output(P, i0, i1, a, W3a[k - k0, 0], b3a[k - k0, 0], piece2, keys2, code[blk],
                             out[k - k0, :, 0])
            else:
                _output(P, i0, i1, a, W3a[k - k0], b3a[k - k0], bps2, slopes2, intercepts2, piece2, keys2,
                        code[blk], v, out[k - k0])
            codes[k - k0, 0] ^= code[blk, 0] ^ code[blk, 2]
            codes[k - k0, 1] ^= code[blk, 1] ^ code[blk, 3]


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})
def _apply_event(first, x, P, code):  # pragma: no cover
    """Apply the first-layer event ``x`` to ``P`` and the first-layer code ``code[:2]`` (see
    :func:`_row_sweep`)."""
    zb, z1, bps1, jumps1, keys1, WE = first
    width1, nb1, width2 = zb.shape[1], bps1.size, P.shape[2]
    up = x & 1
    x >>= 1
    j = x % nb1
    x //= nb1
    u = x % width1
    i = x // width1
    code[0] ^= keys1[i, u, j, 0]
    code[1] ^= keys1[i, u, j, 1]
    jump = jumps1[j] if up else -jumps1[j]
    if jump != 0.0:
        ga = jump * (zb[i, u] - bps1[j])
        gb = jump * z1[i, u]
        for c in range(width2):
            w, d = WE[u, c], WE[u, width2 + c]
            P[i, 0, c] += ga * w
            P[i, 1, c] += gb * w + ga * d
            P[i, 2, c] += gb * d


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})
def _quadratic(P, i0, i1, a, out):  # pragma: no cover
    """One hidden layer: the outputs ``out = P_0 + a P_1 + a^2 P_2`` of samples ``i0`` to ``i1``."""
    a2 = a * a
    for i in range(i0, i1):
        for c in range(P.shape[2]):
            out[i, c] = P[i, 0, c] + a * P[i, 1, c] + a2 * P[i, 2, c]


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})
def _relu_output(P, i0, i1, a, w3, b3, piece2, keys2, code, out):  # pragma: no cover
    """A ReLU second layer and one output: ``out = relu(P_0 + a P_1 + a^2 P_2) w3 + b3`` for samples ``i0`` to
    ``i1``, one pass per sample, and a second for the pieces only where one changed."""
    a2 = a * a
    width2 = P.shape[2]
    for i in range(i0, i1):
        acc = 0.0
        flips = 0
        for c in range(width2):
            x = P[i, 0, c] + a * P[i, 1, c] + a2 * P[i, 2, c]
            flips += (x >= 0.0) != piece2[i, c]
            acc += max(x, 0.0) * w3[c]
        out[i] = acc + b3
        if flips:
            for c in range(width2):
                q = P[i, 0, c] + a * P[i, 1, c] + a2 * P[i, 2, c] >= 0.0
                if q != piece2[i, c]:
                    piece2[i, c] = q
                    code[2] ^= keys2[i, c, 0, 0]
                    code[3] ^= keys2[i, c, 0, 1]


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "nsz"})
def _output(P, i0, i1, a, W3a, b3a, bps2, slopes2, intercepts2, piece2, keys2, code, v, out):  # pragma: no cover
    """Any second activation and output width: ``out = h(P_0 + a P_1 + a^2 P_2) W3a^T + b3a`` for samples ``i0`` to
    ``i1``, the pieces and the code ``code[2:]`` updated."""
    a2 = a * a
    width2, nb2 = P.shape[2], bps2.size
    for i in range(i0, i1):
        for c in range(width2):
            v[c] = P[i, 0, c] + a * P[i, 1, c] + a2 * P[i, 2, c]
            old = piece2[i, c]
            q = 0
            while q < nb2 and v[c] >= bps2[q]:
                q += 1
            if q != old:
                for j in range(min(q, old), max(q, old)):
                    code[2] ^= keys2[i, c, j, 0]
                    code[3] ^= keys2[i, c, j, 1]
                piece2[i, c] = q
            v[c] = slopes2[q] * v[c] + intercepts2[q]
        for o in range(W3a.shape[0]):
            acc = 0.0
            for c in range(width2):
                acc += v[c] * W3a[o, c]
            out[i, o] = acc + b3a[o]


def _activation_arrays(act: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Breakpoints, slopes, intercepts and slope jumps of a piecewise-linear activation, float64."""
    bps = np.array([float(p) for p in act.breakpoints])
    slopes = np.array([float(s) for s in act.slopes])
    return bps, slopes, np.array([float(c) for c in act.intercepts]), np.diff(slopes)


def _layer(arch: Architecture, l: int, vectors: tuple[np.ndarray, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layer ``l``'s ``(W, b)`` in each flat vector (a zero bias without one)."""
    w_at, rows, cols, b_at = blocks(arch)[l]
    return [(v[w_at:w_at + rows * cols].reshape(rows, cols),
             v[b_at:b_at + rows] if b_at is not None else np.zeros(rows)) for v in vectors]


@dataclasses.dataclass(frozen=True)
class _Sweep:
    """What every row of a swept grid shares, read-only: the first layer's :math:`Z_0, Z_1, Z_2` ``(n, d_1)`` and
    activation (breakpoints, slopes, intercepts, slope jumps, keys), the later layers' ``(W, b)`` in the origin and
    the two directions, the second activation (one hidden layer: placeholders) and the grid."""

    Z: tuple[np.ndarray, np.ndarray, np.ndarray]
    act1: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    keys1: np.ndarray
    layer2: list[tuple[np.ndarray, np.ndarray]]
    layer3: list[tuple[np.ndarray, np.ndarray]] | None
    act2: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    keys2: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    d_out: int


def _sweep(arch: Architecture, vectors: tuple[np.ndarray, ...], X: np.ndarray, alpha: np.ndarray,
           beta: np.ndarray) -> _Sweep:
    """The shared arrays of the grid ``vectors[0] + alpha vectors[1] + beta vectors[2]`` on inputs ``X``."""
    Z = tuple(first_layer(arch, v, X) for v in vectors)
    n, width1 = Z[0].shape
    act1 = _activation_arrays(arch.activations[0])
    layer2 = _layer(arch, 1, vectors)
    if arch.n_layers == 3:
        act2 = _activation_arrays(arch.activations[1])
        keys2 = _pattern_keys(n, layer2[0][0].shape[0], act2[0].size, 1)
        layer3 = _layer(arch, 2, vectors)
    else:
        act2 = (np.zeros(1),) * 4
        keys2, layer3 = np.zeros((1, 1, 1, 2), dtype=np.uint64), None
    return _Sweep(Z=Z, act1=act1, keys1=_pattern_keys(n, width1, act1[0].size, 0), layer2=layer2, layer3=layer3,
                  act2=act2, keys2=keys2, alpha=alpha, beta=beta, d_out=arch.d_out)


def _sweep_worker(sweep: _Sweep, loss: Loss, y: np.ndarray, size: int, take: Any, risk: np.ndarray,
                  codes: np.ndarray) -> None:
    """Sweep grid rows until ``take()`` gives ``None``, writing ``risk[r]`` and ``codes[r]``; the buffers are this
    worker's own. A row's points go to the compiled loss ``size`` at a time (the last batch padded)."""
    Z0, Z1, Z2 = sweep.Z
    n, width1 = Z0.shape
    bps1, slopes1, intercepts1, jumps1 = sweep.act1
    bps2, slopes2, intercepts2, _ = sweep.act2
    (W0, c0), (W1, c1), (W2, c2) = sweep.layer2
    width2 = W0.shape[0]
    if sweep.layer3 is not None:
        (V0, v0), (V1, e3), (V2, v2) = sweep.layer3
        E3 = np.ascontiguousarray(V1)
    else:
        E3, e3 = np.zeros((0, width2)), np.zeros(0)
    alpha, beta = sweep.alpha, sweep.beta
    K = alpha.size
    zb, A, B = (np.empty((n, width1)) for _ in range(3))
    block = max(1, min(n, _SWEEP_BLOCK_BYTES // (24 * width2)))  # samples whose P fits in a core's cache
    n_blocks = -(-n // block)
    keyed, events = (np.empty(n * width1 * bps1.size, dtype=np.int64) for _ in range(2))
    starts = np.empty(n_blocks * K + 1, dtype=np.int64)
    WE = np.empty((width1, 2 * width2))  # [W'^T, E^T]
    WE[:, width2:] = W1.T
    products = [np.empty((n, 2 * width2)) for _ in range(2)]
    P = np.empty((n, 3, width2))  # P_0, P_1, P_2 of each sample side by side
    piece2 = np.zeros((n, width2) if sweep.layer3 is not None else (1, 1), dtype=np.uint8)
    out = np.zeros((size, n, sweep.d_out))
    row_codes = np.empty((size, 2), dtype=np.uint64)
    code = np.empty((n_blocks, 4), dtype=np.uint64)
    first = (zb, Z1, bps1, jumps1, sweep.keys1, WE)
    kernel = _loss_kernel(loss)
    while (r := take()) is not None:
        b = float(beta[r])
        np.multiply(Z2, b, out=zb)
        zb += Z0  # as the point kernel: (Z0 + b Z2) + a Z1
        _row_start(zb, Z1, alpha, block, bps1, slopes1, intercepts1, sweep.keys1, A, B, keyed, events, starts, code)
        WE[:, :width2] = (W0 + b * W2).T
        for h, product in zip((A, B), products):
            _product(h[None], WE[None], product[None])
        np.add(products[0][:, :width2], c0 + b * c2, out=P[:, 0])
        np.add(products[1][:, :width2], products[0][:, width2:], out=P[:, 1])
        P[:, 1] += c1
        P[:, 2] = products[1][:, width2:]
        if sweep.layer3 is not None:
            piece2.fill(0)
            W3, b3 = V0 + b * V2, v0 + b * v2
        else:
            W3, b3 = E3, e3
        for k0 in range(0, K, size):
            k1 = min(K, k0 + size)
            _row_sweep(k0, k1, alpha, block, first, events, starts, P, bps2, slopes2, intercepts2, sweep.keys2, piece2,
                       W3, E3, b3, e3, out, row_codes, code)
            losses, pieces = (np.asarray(v) for v in kernel(out, y))
            p = k1 - k0
            risk[r, k0:k1] = np.mean(losses[:p], axis=1)
            if pieces.shape[-1]:
                digests = b"".join(hashlib.sha256(np.ascontiguousarray(pieces[q])).digest()[:16] for q in range(p))
                row_codes[:p] ^= np.frombuffer(digests, dtype="<u8").reshape(p, 2)
            codes[r, k0:k1] = row_codes[:p]


def evaluate_grid(arch: Architecture, loss: Loss, theta, d1, d2, X, y, alpha, beta, *, chunk: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    r"""Risk ``(rows, cols)`` and pattern codes ``(rows, cols, 2)`` (uint64) on the grid ``theta + alpha[c] d1 +
    beta[r] d2`` (``alpha`` increasing).

    Networks with one or two hidden layers are swept a grid row at a time (:func:`_row_sweep`): per point
    :math:`O(n d_2 d_{out})` plus :math:`O(d_2)` per first-layer unit that changes piece, instead of a forward pass
    (:math:`O(n \sum_l d_l d_{l-1})`); deeper networks (and none) go through :func:`evaluate_points`. Rows are
    shared by up to ``min(cores, 8)`` threads; ``chunk`` grid points of a row go to the loss at a time. A row is
    computed by the same operations whatever its thread and ``chunk``, so neither changes a result."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    beta = np.ascontiguousarray(beta, dtype=np.float64)
    rows, cols = beta.size, alpha.size
    if arch.n_layers not in (2, 3):
        A, B = np.meshgrid(alpha, beta)
        risk, codes = evaluate_points(arch, loss, theta, d1, d2, X, y, A.ravel(), B.ravel(), chunk=chunk)
        return risk.reshape(rows, cols), codes.reshape(rows, cols, 2)
    if chunk is None:
        chunk = max(1, _LOSS_BATCH // (X.shape[0] * arch.d_out))
    size = min(chunk, cols)
    risk = np.empty((rows, cols))
    codes = np.empty((rows, cols, 2), dtype=np.uint64)
    sweep = _sweep(arch, (theta, d1, d2), X, alpha, beta)
    _run_workers(_sweep_worker, (sweep, loss, y, size), rows, risk, codes)
    return risk, codes
