"""Saving and loading network parameters: numpy ``.npz`` archives and torch state dicts.

An ``.npz`` file written by :func:`save_params` holds one array per weight and bias, named ``W1, b1, ..., WL,
bL`` (``W_l`` of shape ``(d_l, d_{l-1})`` as ``torch.nn.Linear`` stores it; a layer without bias has no
``b{l}``), with a leading batch axis when it holds more than one network, and the architecture as a JSON
string in a 0-d array named ``architecture``. Values are stored as float64, so a save and a load give back the
same bits.

:func:`load_params` also reads ``.npz`` files written by other code (widths and biases are then inferred from
the arrays, the hidden activation is given by the caller) and torch state dicts saved with
``torch.save(model.state_dict(), path)`` (``.pt`` or ``.pth``, needs the ``torch`` extra).

Examples:
    >>> import pathlib, tempfile
    >>> from cellscape import init_params, mlp
    >>> arch = mlp(2, [3], 1, activation="leaky_relu:0.25")
    >>> params = init_params(arch, batch=2, seed=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_params(pathlib.Path(tmp) / "nets.npz", arch, params)
    ...     loaded_arch, loaded = load_params(path)
    >>> loaded_arch == arch, all(np.array_equal(a, b) for a, b in zip(loaded.weights, params.weights))
    (True, True)
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellscape._backend import to_numpy
from cellscape._validation import invalid
from cellscape.activations import PiecewiseLinear, parse_activation, relu
from cellscape.exceptions import InvalidInputError
from cellscape.networks import Architecture, Params, as_params

__all__ = ["save_params", "load_params"]

_LOADABLE = (".npz", ".pt", ".pth")
_ARRAY_NAME = re.compile(r"([Wb])([1-9][0-9]*)")

ActivationSpec = str | PiecewiseLinear | Sequence[str | PiecewiseLinear]

Layers = list[tuple[np.ndarray, np.ndarray | None]]


def save_params(path: str | os.PathLike[str], arch: Architecture, params: Any) -> Path:
    """Write parameters and their architecture to an uncompressed ``.npz`` archive.

    Args:
        path: the file to write; ``.npz`` is appended to a name without extension.
        arch: the architecture of the networks.
        params: any form :func:`~cellscape.networks.as_params` accepts.

    Returns:
        The path written. Its arrays are ``W1, b1, ..., WL, bL`` in float64, of shapes ``(d_l, d_{l-1})``
        and ``(d_l,)`` for a batch of one network and ``(B, d_l, d_{l-1})`` and ``(B, d_l)`` otherwise, plus
        the 0-d string array ``architecture`` holding :meth:`Architecture.to_json`.

    Raises:
        InvalidInputError: for an architecture that is not an :class:`~cellscape.networks.Architecture`,
            parameters that do not fit it, or a path with another extension or in a missing directory.

    Examples:
        >>> import pathlib, tempfile
        >>> from cellscape import init_params, mlp
        >>> arch = mlp(2, [3], 1, bias=[True, False])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = save_params(pathlib.Path(tmp) / "net", arch, init_params(arch, seed=0))
        ...     names, shape = sorted(np.load(path).files), np.load(path)["W1"].shape
        >>> path.name, names, shape
        ('net.npz', ['W1', 'W2', 'architecture', 'b1'], (3, 2))
    """
    func = "save_params"
    if not isinstance(arch, Architecture):
        raise invalid("arch", func, "an Architecture (see cellscape.mlp)", type(arch).__name__, raw=True)
    if not isinstance(path, (str, os.PathLike)):
        raise invalid("path", func, "a str or os.PathLike path ending in .npz", type(path).__name__, raw=True)
    target = Path(path)
    if target.suffix == "":
        target = target.with_name(target.name + ".npz")
    if target.suffix.lower() != ".npz":
        raise invalid("path", func, "a path ending in .npz (or without extension)", str(path))
    if not target.parent.is_dir():
        raise invalid("path", func, "a path in an existing directory", f"{str(path)!r} (no such directory)",
                      raw=True)
    params = as_params(arch, params, func=func).numpy()
    single = params.batch_size == 1
    arrays: dict[str, np.ndarray] = {}
    for l, (w, b) in enumerate(params.layers(), start=1):
        arrays[f"W{l}"] = w[0] if single else w
        if b is not None:
            arrays[f"b{l}"] = b[0] if single else b
    arrays["architecture"] = np.array(arch.to_json())
    with open(target, "wb") as handle:  # a handle, so numpy does not rename the file
        np.savez(handle, **arrays)
    return target


def load_params(
    path: str | os.PathLike[str], *, activation: ActivationSpec | None = None
) -> tuple[Architecture, Params]:
    """Read parameters from an ``.npz`` archive or a torch state dict (``.pt`` / ``.pth``).

    An ``.npz`` file written by :func:`save_params` describes its own architecture. Otherwise (another
    ``.npz``, or a state dict) the widths come from the weight shapes, the bias flags from which biases exist,
    and the hidden activations from ``activation``. A state dict is read with
    ``torch.load(path, map_location="cpu", weights_only=True)``; its ``<prefix>.weight`` and ``<prefix>.bias``
    entries are taken as the layers in the order the file lists them (the order of
    ``torch.nn.Sequential.state_dict()``).

    Args:
        path: an existing ``.npz``, ``.pt`` or ``.pth`` file.
        activation: the hidden activation (a specification string such as ``"leaky_relu:0.1"`` or a
            :class:`~cellscape.activations.PiecewiseLinear`), or one per hidden layer; ``None`` means the
            file's own architecture or, where the file has none, ``relu``. Given for a file that describes its
            architecture, it must agree with it.

    Returns:
        ``(arch, params)``, the parameters as float64 numpy :class:`~cellscape.networks.Params` with a batch
        axis (``B = 1`` for a file without one and for every state dict).

    Raises:
        InvalidInputError: naming ``path`` for a missing file, another extension, an unreadable file, no
            ``W1``, unknown entries or inconsistent shapes; naming ``activation`` for a bad or disagreeing
            activation.
        MissingExtraError: for a state dict when torch is not installed (``pip install cellscape[torch]``).

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "plain.npz"
        ...     np.savez(path, W1=np.ones((4, 2)), b1=np.zeros(4), W2=np.ones((1, 4)))
        ...     arch, params = load_params(path, activation="hardtanh")
        >>> arch.describe(), params.weights[0].shape
        ('2-4-1 hardtanh:-1,1, bias (True, False)', (1, 4, 2))
    """
    func = "load_params"
    expected = "an existing .npz, .pt or .pth file"
    if not isinstance(path, (str, os.PathLike)):
        raise invalid("path", func, expected, type(path).__name__, raw=True)
    source = Path(path)
    shown = repr(str(path))
    suffix = source.suffix.lower()
    if suffix not in _LOADABLE:
        raise invalid("path", func, expected, f"{shown} (extension {source.suffix or 'missing'!r})", raw=True)
    if not source.exists():
        raise invalid("path", func, expected, f"{shown} (no such file)", raw=True)
    if not source.is_file():
        raise invalid("path", func, expected, f"{shown} (not a file)", raw=True)
    if suffix == ".npz":
        return _load_npz(source, activation, shown=shown)
    from cellscape.torch_bridge import _import_torch, _layers_from_state_dict

    torch = _import_torch(func)
    try:
        state_dict = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for unreadable files
        raise invalid("path", func, "a torch state dict saved with torch.save(model.state_dict(), path)",
                      f"{shown} (torch.load failed: {type(err).__name__})", raw=True) from None
    layers = _layers_from_state_dict(state_dict, name="path", func=func, shown=shown)
    return _network_from_layers(layers, activation, name="path", func=func, shown=shown)


# ---------------------------------------------------------------------------------------------- helpers
def _load_npz(source: Path, activation: ActivationSpec | None, *, shown: str) -> tuple[Architecture, Params]:
    func = "load_params"
    try:
        with np.load(source, allow_pickle=False) as data:
            entries = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise invalid("path", func, "a readable .npz archive of numeric arrays",
                      f"{shown} ({type(err).__name__}: {err})".replace("\n", " "), raw=True) from None
    description = entries.pop("architecture", None)
    indices: dict[str, dict[int, np.ndarray]] = {"W": {}, "b": {}}
    for key, value in entries.items():
        match = _ARRAY_NAME.fullmatch(key)
        if match is None:
            raise invalid("path", func, "an archive of arrays W1, b1, W2, ... (and optionally architecture)",
                          f"{shown} with an entry {key!r}", raw=True)
        indices[match.group(1)][int(match.group(2))] = to_numpy(value, name=f"path: {key}", func=func)
    n_layers = max(indices["W"], default=0)
    missing = [f"W{l}" for l in range(1, n_layers + 1) if l not in indices["W"]] if n_layers else ["W1"]
    if missing:
        raise invalid("path", func, "an archive with arrays W1, ..., WL (and optional biases b1, ..., bL)",
                      f"{shown} without {', '.join(missing)}", raw=True)
    extra = [f"b{l}" for l in sorted(indices["b"]) if l > n_layers]
    if extra:
        raise invalid("path", func, f"biases only for the {n_layers} layers W1, ..., W{n_layers}",
                      f"{shown} with {', '.join(extra)}", raw=True)
    layers = [(indices["W"][l], indices["b"].get(l)) for l in range(1, n_layers + 1)]
    if description is None:
        return _network_from_layers(layers, activation, name="path", func=func, shown=shown)
    arch = _architecture_from_entry(description, shown=shown)
    if activation is not None:
        wanted = _hidden_activations(activation, arch.n_layers - 1, func=func)
        if wanted != arch.activations:
            specs = ", ".join(a.spec for a in arch.activations) or "none"
            raise invalid("activation", func, f"None or the activations stored in {shown} ({specs})",
                          ", ".join(a.spec for a in wanted) or "none", raw=True)
    return arch, as_params(arch, layers, name="path", func=func).numpy()


def _architecture_from_entry(entry: np.ndarray, *, shown: str) -> Architecture:
    func = "load_params"
    expected = "an archive whose architecture entry is a 0-d string written by save_params"
    if entry.ndim != 0 or entry.dtype.kind != "U":
        raise invalid("path", func, expected, f"{shown} with an architecture entry of shape {entry.shape}",
                      raw=True)
    try:
        return Architecture.from_dict(json.loads(str(entry.item())))
    except (ValueError, KeyError, TypeError, InvalidInputError) as err:
        raise invalid("path", func, expected, f"{shown} ({type(err).__name__}: {err})", raw=True) from None


def _hidden_activations(activation: ActivationSpec | None, n_hidden: int, *, func: str) -> tuple[
        PiecewiseLinear, ...]:
    """One activation per hidden layer from ``None`` (relu), one activation, or a sequence of them."""
    if activation is None:
        return (relu,) * n_hidden
    if isinstance(activation, (str, PiecewiseLinear)):
        return (parse_activation(activation),) * n_hidden
    acts = tuple(parse_activation(a) for a in activation)
    if len(acts) != n_hidden:
        raise invalid("activation", func, f"one activation or {n_hidden} (one per hidden layer)",
                      f"{len(acts)} activations", raw=True)
    return acts


def _network_from_layers(
    layers: Layers, activation: ActivationSpec | None, *, name: str, func: str, shown: str
) -> tuple[Architecture, Params]:
    """Infer the architecture from ``(W, b)`` float64 arrays (all with or all without a batch axis)."""
    shapes = "W_l of shape (d_l, d_{l-1}) and b_l of shape (d_l,), all with or all without a batch axis"
    if not layers:
        raise invalid(name, func, "parameters with at least a first layer W1", f"{shown} without W1",
                      raw=True)
    first = layers[0][0]
    ndim = first.ndim
    if ndim not in (2, 3) or 0 in first.shape:
        raise invalid(name, func, shapes, f"{shown} with W1 of shape {first.shape}", raw=True)
    widths, flags = [first.shape[-1]], []
    for l, (w, b) in enumerate(layers, start=1):
        fits = (w.ndim == ndim and 0 not in w.shape and w.shape[-1] == widths[-1]
                and w.shape[:-2] == first.shape[:-2])
        if not fits:
            before = f" after W{l - 1} of shape {layers[l - 2][0].shape}" if l > 1 else ""
            raise invalid(name, func, shapes, f"{shown} with W{l} of shape {w.shape}{before}", raw=True)
        if b is not None and b.shape != w.shape[:-1]:
            raise invalid(name, func, shapes,
                          f"{shown} with b{l} of shape {b.shape} for W{l} of shape {w.shape}", raw=True)
        widths.append(w.shape[-2])
        flags.append(b is not None)
    acts = _hidden_activations(activation, len(layers) - 1, func=func)
    arch = Architecture(tuple(widths), acts, tuple(flags))
    return arch, as_params(arch, layers, name=name, func=func).numpy()
