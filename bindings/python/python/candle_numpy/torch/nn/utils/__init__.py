"""``cn.torch.nn.utils``: gradient clipping as torch's, and state dicts saved as safetensors.

``clip_grad_norm_`` and ``clip_grad_value_`` are torch's (same signatures, defaults and
errors). ``save_state_dict`` / ``load_state_dict`` replace ``torch.save`` / ``torch.load`` for
weights: the file is a plain ``.safetensors`` file (no pickle, so loading runs no code), which
the ``safetensors`` package and ``cn.load_safetensors`` read too.

Example:
    >>> import candle_numpy as cn
    >>> nn = cn.torch.nn
    >>> model = nn.Linear(3, 2)
    >>> nn.utils.save_state_dict(model, "model.safetensors")
    >>> model.load_state_dict(nn.utils.load_state_dict("model.safetensors"))
"""

import json as _json
import math as _math
from collections import OrderedDict as _OrderedDict

import numpy as _np

from .... import _native

__all__ = ["clip_grad_norm_", "clip_grad_value_", "load_state_dict", "save_state_dict"]

# The safetensors header lists tensors sorted by dtype and name; the state dict's own order
# travels in the metadata under this key so that loading gives the keys back in order.
_KEY_ORDER = "candle_numpy.state_dict_keys"


def _grads(parameters):
    if isinstance(parameters, _native.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients in place so that their total norm is at most ``max_norm``
    (``torch.nn.utils.clip_grad_norm_``).

    The total norm is the ``norm_type``-norm of all the gradients taken together, as if
    concatenated into one vector (``inf`` for the largest absolute value). When it exceeds
    ``max_norm``, every gradient is multiplied by ``max_norm / (total + 1e-6)``.

    Args:
        parameters: a tensor or an iterable of tensors; those whose ``.grad`` is ``None`` are
            skipped.
        max_norm: the largest total norm allowed.
        norm_type: the p of the p-norm (``float("inf")`` or "inf" for the max norm).
        error_if_nonfinite: raise when the total norm is NaN or infinite, instead of scaling
            by it.
        foreach: accepted for torch's signature; ignored.

    Returns:
        The total norm before clipping, a 0-d float32 tensor (0 when no gradient exists).
        It is computed in float64 and rounded once, so it can differ from torch's (which sums
        in the gradients' dtype) in the last float32 bit.

    Raises:
        RuntimeError: ``error_if_nonfinite`` and the total norm is NaN or infinite.

    Example:
        >>> w = cn.torch.tensor([3.0, 4.0], requires_grad=True)
        >>> (w * w).sum().backward()  # grad [6, 8], norm 10
        >>> float(nn.utils.clip_grad_norm_(w, max_norm=5.0))
        10.0
        >>> w.grad.tolist()  # doctest: +ELLIPSIS
        [2.99999..., 3.99999...]
    """
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return _native.tensor(_np.float32(0.0))
    arrays = [_np.asarray(g.detach().numpy(force=True), dtype=_np.float64) for g in grads]
    if norm_type == _math.inf:
        total = max((float(_np.abs(a).max()) if a.size else 0.0) for a in arrays)
    else:
        norms = _np.array([_np.linalg.norm(a.ravel(), ord=norm_type) if a.size else 0.0 for a in arrays])
        total = float(_np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not _math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
            "anyway, set `error_if_nonfinite=False`"
        )
    coef = max_norm / (total + 1e-6)
    if not coef < 1.0 and not _math.isnan(coef):
        return _native.tensor(_np.float32(total))
    from ... import no_grad

    with no_grad():
        for g in grads:
            g.mul_(coef)
    return _native.tensor(_np.float32(total))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient in place to ``[-clip_value, clip_value]``
    (``torch.nn.utils.clip_grad_value_``). Gradients that are ``None`` are skipped; ``foreach``
    is accepted for torch's signature and ignored. Returns ``None``."""
    clip_value = float(clip_value)
    from ... import no_grad

    with no_grad():
        for g in _grads(parameters):
            g.copy_(g.clamp(min=-clip_value, max=clip_value))


def save_state_dict(module_or_state_dict, path, metadata=None):
    """Save a module's ``state_dict()`` (or a state dict) as a ``.safetensors`` file, the
    pickle-free counterpart of ``torch.save(model.state_dict(), path)``.

    Args:
        module_or_state_dict: a ``cn.torch.nn.Module``, or a mapping of name -> tensor or
            NumPy array.
        path: the file to write (str or os.PathLike).
        metadata: optional str -> str pairs stored in the header's ``__metadata__``; the key
            ``"candle_numpy.state_dict_keys"`` is used to keep the keys' order.

    Raises:
        TypeError: not a module or mapping, a name is not a str, a value is not a tensor or array.
        ValueError: ``metadata`` uses the reserved key.
        OSError: the file cannot be written.

    Example:
        >>> nn.utils.save_state_dict(nn.Linear(3, 2), "linear.safetensors")
    """
    if hasattr(module_or_state_dict, "state_dict") and callable(module_or_state_dict.state_dict):
        state = module_or_state_dict.state_dict()
    elif hasattr(module_or_state_dict, "items"):
        state = module_or_state_dict
    else:
        raise TypeError(
            f"save_state_dict takes a cn.torch.nn.Module or a state dict, got {type(module_or_state_dict).__name__}"
        )
    tensors = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"state dict keys must be str, got {name!r}")
        if isinstance(value, _native.Tensor):
            value = value.detach()
        elif not isinstance(value, _np.ndarray):
            raise TypeError(f"state dict value {name!r} is a {type(value).__name__}; a Tensor or NumPy array is required")
        tensors[name] = value
    meta = dict(metadata or {})
    if _KEY_ORDER in meta:
        raise ValueError(f"metadata key {_KEY_ORDER!r} is reserved (it records the order of the keys)")
    meta[_KEY_ORDER] = _json.dumps(list(tensors))
    _native.save_safetensors(path, tensors, meta)


def load_state_dict(path, device="cpu"):
    """Load a state dict that ``save_state_dict`` (or any safetensors writer) saved, the
    counterpart of ``torch.load(path)``; pass it to ``module.load_state_dict``.

    Args:
        path: the ``.safetensors`` file (str or os.PathLike).
        device: "cpu" (default), "cuda" or "cuda:N".

    Returns:
        An ``OrderedDict`` of name -> tensor, in the order saved (file order for files from other
        writers). The tensors are read-only views of the memory-mapped file where they can be
        (``module.load_state_dict`` copies them into the parameters); ``.clone()`` one to write
        to it.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not a valid safetensors file.
    """
    tensors = _native.load_safetensors(path, device=device)
    order = _native.safetensors_metadata(path).get(_KEY_ORDER)
    keys = list(tensors)
    if order is not None:
        try:
            saved = _json.loads(order)
        except ValueError:
            saved = None
        if isinstance(saved, list) and sorted(saved) == sorted(keys):
            keys = saved
    return _OrderedDict((k, tensors[k]) for k in keys)
