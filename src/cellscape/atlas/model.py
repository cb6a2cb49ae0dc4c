r"""The one-hidden-layer model the atlas maps, and its cells.

:math:`f(x) = \sum_{k=1}^K v_k\, h(w_k^\top \tilde x) \;(+\, c)` with :math:`\tilde x = (x, 1)` and a two-piece
activation ``h`` (breakpoint ``p``, slopes :math:`s_-, s_+`): ReLU, leaky ReLU, or any other. The output weights
are one of three explicit variants (:class:`OutputWeights`): ``trained``, fixed ``signs`` (:math:`\pm 1`), or all
``positive`` (+1). With :math:`z_k = w_k - p\,e_D` unit ``k`` is in its upper piece on sample ``n`` exactly when
:math:`z_k^\top \tilde x_n > 0`, and there

.. math::  v_k h(w_k^\top \tilde x_n) = v_k h(p) + v_k\, s_{I_{nk}}\, z_k^\top \tilde x_n .

A cell is a pattern :math:`I \in \{0, 1\}^{N \times K}`, one unit cell per unit (:func:`iter_cells`); with fixed
output weights the risk in it is the least-squares problem :math:`\frac{1}{2N}\|A z - (y - h(p) \sum_k v_k)\|^2`
with :math:`A = [v_k s_{I_{\cdot k}} \odot \tilde X]_k`; with trained ones the same holds in
:math:`\tilde z_k = v_k z_k` (which needs :math:`h(p) = 0` or an output bias to absorb :math:`h(p) \sum_k v_k`).
Units whose output weights are interchangeable are counted once per multiset of unit cells.

Examples:
    >>> model = AtlasModel.build(width=3, outputs="signs")
    >>> model.signs, count_cells(model, 382)
    ((1, 1, -1), 27944446)
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from cellscape._validation import check_enum, check_int, invalid
from cellscape.activations import PiecewiseLinear, parse_activation
from cellscape.networks import Architecture, Params, mlp

__all__ = ["OutputWeights", "AtlasModel", "count_cells", "iter_cells"]


class OutputWeights(str, enum.Enum):
    """The output-weight variant: ``trained``, fixed ``signs`` (+1 then -1), or all ``positive``."""

    TRAINED = "trained"
    SIGNS = "signs"
    POSITIVE = "positive"


@dataclasses.dataclass(frozen=True)
class AtlasModel:
    """A one-hidden-layer model: ``width`` units, a two-piece ``activation``, the output-weight variant, the fixed
    ``signs`` (+1 for ``positive``, all 1 as placeholders for ``trained``) and whether there is an output bias."""

    width: int
    activation: PiecewiseLinear
    outputs: OutputWeights
    signs: tuple[int, ...]
    output_bias: bool

    @classmethod
    def build(cls, *, width: int, activation: str | PiecewiseLinear = "relu", outputs: str = "positive",
              signs: Any = None, output_bias: bool = False) -> AtlasModel:
        """Validated construction; ``signs`` defaults to ``ceil(K/2)`` times +1 then -1 for ``outputs="signs"``.
        Given signs are sorted, +1 first: units are interchangeable within a sign group, so unit ``k`` has output
        weight ``model.signs[k]`` and the order given carries no information.

        Raises:
            InvalidInputError: for a width below 1, an activation without exactly one kink, signs of the wrong
                length or not +-1 (or given for another variant), or trained outputs with ``h(p) != 0`` and no
                output bias.
        """
        func = "AtlasModel"
        K = check_int(width, name="width", func=func, minimum=1)
        act = parse_activation(activation)
        if len(act.breakpoints) != 1 or act.slopes[0] == act.slopes[1]:
            raise invalid("activation", func, "a two-piece activation with one kink (relu, leaky_relu, pwl)",
                          act.spec)
        outputs = check_enum(outputs, OutputWeights, name="outputs", func=func)
        if outputs is OutputWeights.SIGNS:
            signs = tuple([1] * math.ceil(K / 2) + [-1] * (K // 2)) if signs is None else tuple(int(s) for s in signs)
            if len(signs) != K or any(s not in (1, -1) for s in signs):
                raise invalid("signs", func, f"{K} values, each +1 or -1", signs)
            signs = tuple(sorted(signs, reverse=True))
        elif signs is not None:
            raise invalid("signs", func, "omitted unless outputs='signs'", signs)
        else:
            signs = (1,) * K
        if outputs is OutputWeights.TRAINED and act.evaluate_exact(act.breakpoints[0]) != 0 and not output_bias:
            raise invalid("activation", func, "h(p) = 0 at the kink for trained output weights without an output "
                          "bias", act.spec)
        return cls(K, act, outputs, signs, bool(output_bias))

    @property
    def kink(self) -> Fraction:
        return self.activation.breakpoints[0]

    @property
    def slopes(self) -> tuple[Fraction, Fraction]:
        """``(s_-, s_+)``: the slopes below and above the kink."""
        return self.activation.slopes[0], self.activation.slopes[1]

    @property
    def groups(self) -> list[int]:
        """Sizes of the groups of interchangeable units (all units, or the +1 and the -1 ones)."""
        if self.outputs is OutputWeights.SIGNS:
            return [n for n in (self.signs.count(1), self.signs.count(-1)) if n]
        return [self.width]

    def architecture(self, d: int) -> Architecture:
        """The network as a cellscape architecture on ``d`` inputs: ``mlp(d, [K], 1, bias=[True, output_bias])``."""
        return mlp(d, [self.width], 1, activation=self.activation, bias=[True, self.output_bias])

    def params(self, W: Any, v: Any, c: Any = None) -> Params:
        """Parameters of :meth:`architecture` from input weights ``W`` (``(B, K, d + 1)``, bias last), output
        weights ``v`` (``(B, K)``) and output biases ``c`` (``(B,)``, ignored without an output bias)."""
        W, v = np.asarray(W, dtype=np.float64), np.asarray(v, dtype=np.float64)
        c = np.zeros(W.shape[0]) if c is None else np.asarray(c, dtype=np.float64).reshape(W.shape[0])
        d = W.shape[2] - 1
        return Params((W[:, :, :d], v[:, None, :]), (W[:, :, d], c[:, None] if self.output_bias else None))

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "activation": self.activation.spec, "outputs": self.outputs.value,
                "signs": list(self.signs), "output_bias": self.output_bias}


def count_cells(model: AtlasModel, n_unit_cells: int) -> int:
    r"""The number of network cells up to the permutations of interchangeable units: a multiset of unit cells per
    group, :math:`\prod_g \binom{C + K_g - 1}{K_g}` for ``C`` unit cells.

    Examples:
        >>> count_cells(AtlasModel.build(width=2), 382)
        73153
    """
    C = check_int(n_unit_cells, name="n_unit_cells", func="count_cells", minimum=0)
    return math.prod(math.comb(C + k - 1, k) for k in model.groups)


def iter_cells(model: AtlasModel, n_unit_cells: int) -> Iterator[tuple[int, ...]]:
    """The network cells, lazily, as tuples of ``K`` unit-cell indices (non-decreasing within each group of
    interchangeable units), in lexicographic order; there are :func:`count_cells` of them.

    Examples:
        >>> list(iter_cells(AtlasModel.build(width=2), 3))
        [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    """
    def rest(groups: list[int]) -> Iterator[tuple[int, ...]]:
        if not groups:
            yield ()
            return
        for head in itertools.combinations_with_replacement(range(n_unit_cells), groups[0]):
            for tail in rest(groups[1:]):
                yield head + tail

    return rest(model.groups)
