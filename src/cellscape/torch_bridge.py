"""Exact conversion between cellscape networks and ``torch.nn.Sequential`` models (the ``torch`` extra).

A cellscape network with widths ``d_0, ..., d_L`` corresponds to

``Sequential(Linear(d_0, d_1), act_1, Linear(d_1, d_2), act_2, ..., Linear(d_{L-1}, d_L))``

with these activation modules:

=====================  ===================================
cellscape              torch
=====================  ===================================
``relu``               ``nn.ReLU()``
``leaky_relu(a)``      ``nn.LeakyReLU(a)``
``hardtanh(lo, hi)``   ``nn.Hardtanh(lo, hi)``
``identity``           ``nn.Identity()`` (or nothing)
``abs``                ``nn.LeakyReLU(-1)`` (the same function)
=====================  ===================================

:func:`to_torch` matches activations by the function they compute, not by name, so a hand-built
:class:`~cellscape.activations.PiecewiseLinear` equal to one of these converts too.

Weights are copied bit for bit: a float32 (or float16) model converts exactly to float64, and :func:`to_torch`
builds a float64 model by default, so ``from_torch(to_torch(arch, params))`` gives back the same bits. torch
stores the parameters of ``LeakyReLU`` and ``Hardtanh`` as Python floats, which :func:`from_torch` takes at
their exact binary value (``LeakyReLU(0.01)`` becomes ``leaky_relu(0.01)``, the float nearest 1/100, which is
what torch computes with in float64); :func:`to_torch` rounds exact rationals such as ``leaky_relu("1/100")``
to the nearest float.

torch is imported inside the functions, so importing this module does not need it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from cellscape._backend import is_torch_tensor, to_numpy
from cellscape._validation import check_int, invalid
from cellscape.activations import PiecewiseLinear, hardtanh, identity, leaky_relu, relu
from cellscape.exceptions import MissingExtraError
from cellscape.networks import Architecture, Params, as_params
from cellscape.params_io import ActivationSpec, Layers, _network_from_layers

__all__ = ["from_torch", "to_torch", "from_state_dict"]

_SUPPORTED = "torch.nn.Linear layers with at most one nn.ReLU, LeakyReLU, Hardtanh or Identity between two"


def _import_torch(func: str) -> ModuleType:
    """Import torch, or explain which extra to install.

    Raises:
        MissingExtraError: when torch is not installed.
    """
    try:
        import torch
    except ImportError:
        raise MissingExtraError(
            f"`{func}` needs torch, which is not installed. Install it with: pip install cellscape[torch]"
        ) from None
    return torch


def _to_float64(value: Any, *, name: str, func: str) -> np.ndarray:
    """A float64 numpy copy of a tensor or array (every float dtype of torch widens exactly)."""
    if is_torch_tensor(value):
        value = value.detach().cpu().double().numpy()
    return np.array(to_numpy(value, name=name, func=func), dtype=np.float64, copy=True)


# ----------------------------------------------------------------------------------------- torch -> cellscape
def _leaves(sequential: Any, nn: ModuleType, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(position, module)`` for each module, nested ``Sequential`` containers flattened (repeats kept)."""
    for position, module in enumerate(sequential):
        if isinstance(module, nn.Sequential):
            yield from _leaves(module, nn, f"{prefix}{position}.")
        else:
            yield f"{prefix}{position}", module


def _activation_of(module: Any, nn: ModuleType) -> PiecewiseLinear | None:
    if isinstance(module, nn.ReLU):
        return relu
    if isinstance(module, nn.LeakyReLU):
        return leaky_relu(float(module.negative_slope))
    if isinstance(module, nn.Hardtanh):  # nn.ReLU6 is Hardtanh(0, 6)
        return hardtanh(float(module.min_val), float(module.max_val))
    return None


def from_torch(model: Any) -> tuple[Architecture, Params]:
    """Convert a ``torch.nn.Sequential`` of linear layers and piecewise-linear activations, exactly.

    Args:
        model: a ``torch.nn.Sequential`` (nested ones are flattened) of ``nn.Linear`` layers with at most one
            ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.Hardtanh`` or ``nn.Identity`` between two of them; two Linear
            layers in a row have the ``identity`` activation between them. ``nn.Identity`` may stand anywhere.

    Returns:
        ``(arch, params)``: the architecture (a ``Linear(..., bias=False)`` layer has no bias) and float64
        numpy :class:`~cellscape.networks.Params` with a batch of one, holding the model's values exactly.

    Raises:
        InvalidInputError: naming ``model`` for anything else (another module, an activation first, last or
            twice in a row, mismatched widths, non-finite values).
        MissingExtraError: when torch is not installed.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.25), nn.Linear(3, 1))
        >>> arch, params = from_torch(model)
        >>> arch.describe(), params.weights[0].shape
        ('2-3-1 leaky_relu:1/4, biases', (1, 3, 2))
        >>> bool((params.weights[0][0] == model[0].weight.detach().numpy()).all())
        True
    """
    func = "from_torch"
    torch = _import_torch(func)
    nn = torch.nn
    if not isinstance(model, nn.Sequential):
        raise invalid("model", func, f"a torch.nn.Sequential of {_SUPPORTED}", type(model).__name__, raw=True)
    linears: list[Any] = []
    activations: list[PiecewiseLinear] = []
    pending: PiecewiseLinear | None = None  # the activation met since the last Linear layer
    for position, module in _leaves(model, nn):
        if isinstance(module, nn.Identity):
            continue
        if isinstance(module, nn.Linear):
            if linears:
                activations.append(identity if pending is None else pending)
            pending = None
            linears.append(module)
            continue
        act = _activation_of(module, nn)
        if act is None:
            raise invalid("model", func, f"a torch.nn.Sequential of {_SUPPORTED}",
                          f"{module!r} at position {position}", raw=True)
        if not linears or pending is not None:
            where = "before the first Linear layer" if not linears else "right after another activation"
            raise invalid("model", func, f"a torch.nn.Sequential of {_SUPPORTED}",
                          f"{module!r} at position {position}, {where}", raw=True)
        pending = act
    if not linears:
        raise invalid("model", func, f"a torch.nn.Sequential of {_SUPPORTED}", "no Linear layer", raw=True)
    if pending is not None:
        raise invalid("model", func, f"a torch.nn.Sequential of {_SUPPORTED}, ending with a Linear layer",
                      f"a model ending with the activation {pending.spec}", raw=True)
    layers = [(_to_float64(lin.weight, name="model", func=func),
               None if lin.bias is None else _to_float64(lin.bias, name="model", func=func))
              for lin in linears]
    return _network_from_layers(layers, activations, name="model", func=func, shown="a Sequential")


def _layers_from_state_dict(state_dict: Any, *, name: str, func: str, shown: str) -> Layers:
    """The ``(W, b)`` pairs of a state dict, in its order, as float64 numpy copies."""
    expected = "a state dict of Linear layers: <prefix>.weight and optional <prefix>.bias entries"
    if not isinstance(state_dict, Mapping):
        raise invalid(name, func, expected, f"{shown} holding a {type(state_dict).__name__}", raw=True)
    groups: dict[str, dict[str, Any]] = {}
    for key, value in state_dict.items():
        prefix, _, kind = key.rpartition(".") if isinstance(key, str) else ("", "", "")
        if kind not in ("weight", "bias"):
            raise invalid(name, func, expected, f"{shown} with an entry {key!r}", raw=True)
        groups.setdefault(prefix, {})[kind] = value
    layers: Layers = []
    for prefix, entry in groups.items():
        label = f"{prefix}." if prefix else ""
        if "weight" not in entry:
            raise invalid(name, func, expected, f"{shown} with {label}bias but no {label}weight", raw=True)
        w = _to_float64(entry["weight"], name=f"{name}: {label}weight", func=func)
        b = entry.get("bias")
        b = None if b is None else _to_float64(b, name=f"{name}: {label}bias", func=func)
        if w.ndim != 2:
            raise invalid(name, func, f"{expected}, the weights 2-D",
                          f"{shown} with {label}weight of shape {w.shape}", raw=True)
        layers.append((w, b))
    return layers


def from_state_dict(
    state_dict: Mapping[str, Any], *, activation: ActivationSpec = "relu"
) -> tuple[Architecture, Params]:
    """Convert the state dict of a ``torch.nn.Sequential`` of Linear layers, exactly.

    Its ``<prefix>.weight`` and ``<prefix>.bias`` entries (``0.weight, 0.bias, 2.weight, ...``) are the layers
    in the order of the mapping, which is the order of ``model.state_dict()``. A state dict does not say which
    activations the model had, so they are given by ``activation``.

    Args:
        state_dict: a mapping from names to tensors (or numpy arrays), weights of shape ``(d_l, d_{l-1})``.
        activation: the hidden activation (specification string or
            :class:`~cellscape.activations.PiecewiseLinear`), or one per hidden layer.

    Returns:
        ``(arch, params)`` as :func:`from_torch` returns them.

    Raises:
        InvalidInputError: naming ``state_dict`` for other entries, a missing weight or inconsistent shapes,
            naming ``activation`` for a bad activation.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(2, 4), nn.Hardtanh(), nn.Linear(4, 1))
        >>> arch, params = from_state_dict(model.state_dict(), activation="hardtanh")
        >>> arch == from_torch(model)[0]
        True
    """
    func = "from_state_dict"
    layers = _layers_from_state_dict(state_dict, name="state_dict", func=func, shown="a state dict")
    return _network_from_layers(layers, activation, name="state_dict", func=func, shown="a state dict")


# ----------------------------------------------------------------------------------------- cellscape -> torch
def _torch_activation(act: PiecewiseLinear, nn: ModuleType) -> Any:
    """The torch module computing ``act`` (its float parameters rounded to float64), or ``None``."""
    bps, slopes, offset = act.breakpoints, act.slopes, act.offset
    if offset == 0 and bps == () and slopes == (1,):
        return nn.Identity()
    if offset == 0 and bps == (0,) and slopes[1] == 1:
        if slopes[0] == 0 and act.name != "leaky_relu":
            return nn.ReLU()
        return nn.LeakyReLU(float(slopes[0]))
    if len(bps) == 2 and slopes == (0, 1, 0) and offset == min(max(0, bps[0]), bps[1]):
        lo, hi = float(bps[0]), float(bps[1])
        return nn.Hardtanh(lo, hi) if lo < hi else None
    return None


def to_torch(arch: Architecture, params: Any, *, index: int = 0, dtype: Any = None) -> Any:
    """Build the ``torch.nn.Sequential`` computing network ``index`` of a batch.

    Args:
        arch: the architecture; its activations must be ``relu``, ``leaky_relu``, ``hardtanh``, ``identity``
            or ``abs`` (compared as functions, see the module docstring).
        params: any form :func:`~cellscape.networks.as_params` accepts.
        index: which network of the batch (negative counts from the end).
        dtype: a floating ``torch.dtype``; ``None`` means ``torch.float64``, which keeps every bit.

    Returns:
        ``Sequential(Linear, act, Linear, act, ..., Linear)``, one activation module after each hidden layer
        (``nn.Identity`` for ``identity``), so layer ``l`` (1-based) is at position ``2 (l - 1)``. The
        parameters are fresh tensors (the model does not share memory with ``params``) and require gradients.

    Raises:
        InvalidInputError: naming ``arch`` for an activation torch has no module for (a general ``pwl``,
            say with a breakpoint away from 0), ``params`` for parameters that do not fit, ``index`` outside
            the batch, or ``dtype`` that is not a floating torch dtype.
        MissingExtraError: when torch is not installed.

    Examples:
        >>> import torch
        >>> from cellscape import forward, init_params, mlp
        >>> arch = mlp(2, [5, 5], 1, activation="leaky_relu:0.5")
        >>> params = init_params(arch, batch=3, seed=0)
        >>> model = to_torch(arch, params, index=2)
        >>> model[1], model[2].weight.dtype
        (LeakyReLU(negative_slope=0.5), torch.float64)
        >>> X = np.random.default_rng(0).normal(size=(4, 2))
        >>> y = model(torch.from_numpy(X)).detach().numpy()
        >>> bool(np.allclose(y, forward(arch, params, X)[2], rtol=1e-12, atol=0))
        True
    """
    func = "to_torch"
    torch = _import_torch(func)
    nn = torch.nn
    if not isinstance(arch, Architecture):
        raise invalid("arch", func, "an Architecture (see cellscape.mlp)", type(arch).__name__, raw=True)
    modules = []
    for l, act in enumerate(arch.activations, start=1):
        module = _torch_activation(act, nn)
        if module is None:
            raise invalid("arch", func, "built from the activations relu, leaky_relu, hardtanh or identity",
                          f"{act.spec} in hidden layer {l} (torch has no module for activation {act.spec})",
                          raw=True)
        modules.append(module)
    params = as_params(arch, params, func=func).numpy()
    index = check_int(index, name="index", func=func)
    batch = params.batch_size
    if not -batch <= index < batch:
        raise invalid("index", func, f"an integer in [{-batch}, {batch - 1}] (a batch of {batch})", index)
    if dtype is None:
        dtype = torch.float64
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise invalid("dtype", func, "None or a floating torch dtype such as torch.float64", dtype)
    layers = []
    for l, ((w, b), ((d_out, d_in), _)) in enumerate(zip(params.layers(), arch.layer_shapes(), strict=True)):
        # skip_init: no random initialisation, so the global torch generator is left alone
        linear = nn.utils.skip_init(nn.Linear, d_in, d_out, bias=b is not None, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(w[index]))  # copy_ rounds to dtype where it is narrower
            if b is not None:
                linear.bias.copy_(torch.tensor(b[index]))
        layers.append(linear)
        if l < len(modules):
            layers.append(modules[l])
    return nn.Sequential(*layers)
