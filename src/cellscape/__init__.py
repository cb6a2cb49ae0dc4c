"""cellscape: exact loss-surface analysis of networks with piecewise-linear activations.

Importing cellscape switches JAX to float64 (``jax_enable_x64``): every computation is float64 unless a function
says otherwise.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from cellscape.activations import (  # noqa: E402
    PiecewiseLinear as PiecewiseLinear,
    abs_ as abs_,
    hardtanh as hardtanh,
    identity as identity,
    leaky_relu as leaky_relu,
    parse_activation as parse_activation,
    relu as relu,
)
from cellscape.exceptions import (  # noqa: E402
    CellscapeError as CellscapeError,
    ExactArithmeticError as ExactArithmeticError,
    InvalidInputError as InvalidInputError,
    MissingExtraError as MissingExtraError,
)
from cellscape.networks import (  # noqa: E402
    Architecture as Architecture,
    ExactParams as ExactParams,
    Params as Params,
    as_params as as_params,
    exact_params as exact_params,
    flatten_params as flatten_params,
    forward as forward,
    forward_exact as forward_exact,
    init_params as init_params,
    mlp as mlp,
    pre_activations as pre_activations,
    pre_activations_exact as pre_activations_exact,
    unflatten_params as unflatten_params,
)

__version__ = "0.1.0"
