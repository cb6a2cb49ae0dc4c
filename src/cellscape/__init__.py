"""cellscape: exact loss-surface analysis of networks with piecewise-linear activations.

Importing cellscape switches JAX to float64 (``jax_enable_x64``): every computation is float64 unless a function
says otherwise. The torch bridge (:mod:`cellscape.torch_bridge`) imports torch only when called.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from cellscape.activations import (
    PiecewiseLinear as PiecewiseLinear,
    abs_ as abs_,
    hardtanh as hardtanh,
    identity as identity,
    leaky_relu as leaky_relu,
    parse_activation as parse_activation,
    relu as relu,
)
from cellscape.affine import AffineFit as AffineFit, best_affine_fit as best_affine_fit
from cellscape.cell_risk import CellRisk as CellRisk, restrict_to_cell as restrict_to_cell
from cellscape.certify import (
    Certificate as Certificate,
    CertificateStatus as CertificateStatus,
    certify as certify,
)
from cellscape.data import (
    Dataset as Dataset,
    from_arrays as from_arrays,
    list_builtins as list_builtins,
    load_data as load_data,
)
from cellscape.exceptions import (
    CellscapeError as CellscapeError,
    ExactArithmeticError as ExactArithmeticError,
    InvalidInputError as InvalidInputError,
    MissingExtraError as MissingExtraError,
)
from cellscape.input_regions import LinearRegions as LinearRegions, linear_regions as linear_regions
from cellscape.lines import line_restriction as line_restriction
from cellscape.losses import Loss as Loss, parse_loss as parse_loss, risk as risk, risk_exact as risk_exact
from cellscape.networks import (
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
from cellscape.params_io import load_params as load_params, save_params as save_params
from cellscape.patterns import (
    Cell as Cell,
    Pattern as Pattern,
    activation_pattern as activation_pattern,
    activation_pattern_exact as activation_pattern_exact,
    certified_radius as certified_radius,
)
from cellscape.report import SurveyReport as SurveyReport, survey_report as survey_report
from cellscape.slices import (
    Slice1D as Slice1D,
    Slice2D as Slice2D,
    random_direction as random_direction,
    slice_1d as slice_1d,
    slice_2d as slice_2d,
)
from cellscape.spectrum import HessianSpectrum as HessianSpectrum, hessian_spectrum as hessian_spectrum
from cellscape.survey import SurveyConfig as SurveyConfig, load_survey as load_survey, run_survey as run_survey
from cellscape.torch_bridge import (  # torch itself is imported only when these are called
    from_state_dict as from_state_dict,
    from_torch as from_torch,
    to_torch as to_torch,
)
from cellscape.training import TrainingResult as TrainingResult, gradient_descent as gradient_descent

__version__ = "0.1.0"

__all__ = [
    # activations
    "PiecewiseLinear", "relu", "leaky_relu", "hardtanh", "abs_", "identity", "parse_activation",
    # networks and parameters
    "Architecture", "Params", "ExactParams", "mlp", "init_params", "as_params", "flatten_params",
    "unflatten_params", "exact_params", "forward", "forward_exact", "pre_activations", "pre_activations_exact",
    "save_params", "load_params", "from_torch", "to_torch", "from_state_dict",
    # losses and risk
    "Loss", "parse_loss", "risk", "risk_exact",
    # data
    "Dataset", "load_data", "from_arrays", "list_builtins", "AffineFit", "best_affine_fit",
    # cells
    "Cell", "Pattern", "activation_pattern", "activation_pattern_exact", "certified_radius", "CellRisk",
    "restrict_to_cell",
    # lines, slices, input regions and spectra
    "line_restriction", "Slice1D", "Slice2D", "random_direction", "slice_1d", "slice_2d", "LinearRegions",
    "linear_regions", "HessianSpectrum", "hessian_spectrum",
    # certificates
    "Certificate", "CertificateStatus", "certify",
    # training and the survey
    "TrainingResult", "gradient_descent", "SurveyConfig", "run_survey", "load_survey",
    # the survey's HTML report
    "SurveyReport", "survey_report",
    # errors
    "CellscapeError", "InvalidInputError", "MissingExtraError", "ExactArithmeticError",
]
