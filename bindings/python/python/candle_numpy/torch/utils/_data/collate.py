"""Samples -> batches: ``default_collate``, ``default_convert`` and the ``collate`` they share,
with torch's rules (``torch.utils.data._utils.collate``).

==============================  ============================================================
element of the batch            collated to
==============================  ============================================================
tensor                          one tensor, stacked on a new first axis (``stack``)
NumPy array                     the same (one ``numpy.stack`` copy, which the tensor then
                                shares); str/object arrays: TypeError
NumPy scalar                    ``as_tensor`` of the list (NumPy's dtype)
``float`` / ``int``             a float64 / int64 tensor (``bool``: uint8, candle's bool)
``str`` / ``bytes``             the list, unchanged
Mapping                         the same mapping type of collated values
namedtuple                      the same namedtuple of collated fields
tuple                           a *list* of collated fields (torch's backwards-compat rule)
other Sequence                  the same sequence type; ragged -> RuntimeError
==============================  ============================================================

Dtypes of one batch promote as torch's ``stack`` does (int64 + float32 -> float32).
"""

import collections.abc
import copy
import re

import numpy as np

from .... import _native

_STR_OR_OBJECT = re.compile(r"[SaUO]")

COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _check_shapes(shapes):
    first = shapes[0]
    for i, s in enumerate(shapes):
        if tuple(s) != tuple(first):
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 "
                f"and {list(s)} at entry {i}"
            )


def stack(tensors):
    """``torch.stack(tensors, 0)`` with torch's shape error: one copy, dtypes promoted as
    torch's, autograd recorded.

    Args:
        tensors: a non-empty sequence of tensors of one shape, on one device.

    Returns:
        A tensor of shape ``(len(tensors), *shape)``.

    Raises:
        RuntimeError: the shapes differ (torch's message).
    """
    _check_shapes([t.shape for t in tensors])
    return _native.stack(list(tensors), 0)


def _collate_tensor(batch, collate_fn_map=None):
    return stack(batch)


def _collate_numpy_array(batch, collate_fn_map=None):
    elem = batch[0]
    if _STR_OR_OBJECT.search(elem.dtype.str) is not None:
        raise TypeError(COLLATE_ERROR.format(elem.dtype))
    # each array shared (or copied, when it cannot be), then one stack with torch's promotion
    return stack(batch)


def _collate_numpy_scalar(batch, collate_fn_map=None):
    return _native.as_tensor(np.asarray(batch))


def _collate_float(batch, collate_fn_map=None):
    return _native.tensor(batch, dtype="float64")


def _collate_int(batch, collate_fn_map=None):
    return _native.tensor(batch)


def _collate_str(batch, collate_fn_map=None):
    return batch


# checked by exact type first, then by isinstance in this order (so bool lands on int, and a
# NumPy float64, a subclass of float, on the NumPy scalars)
default_collate_fn_map = {
    _native.Tensor: _collate_tensor,
    np.ndarray: _collate_numpy_array,
    (np.bool_, np.number, np.object_): _collate_numpy_scalar,
    float: _collate_float,
    int: _collate_int,
    str: _collate_str,
    bytes: _collate_str,
}


def collate(batch, *, collate_fn_map=None):
    """Collate ``batch`` by the type of its first element (``torch.utils.data._utils.collate.
    collate``).

    Args:
        batch: a non-empty list of samples of one structure.
        collate_fn_map: ``{type or tuple of types: fn(batch, *, collate_fn_map)}`` for the
            leaves; containers (Mapping, namedtuple, Sequence) are walked here.

    Returns:
        The batch in the structure of one sample (see the module table).

    Raises:
        RuntimeError: sequences of different lengths, or tensors of different shapes.
        TypeError: an element no rule covers.

    Example:
        >>> collate([(1, 2.0), (3, 4.0)], collate_fn_map=default_collate_fn_map)[1].dtype
        'float64'
    """
    elem = batch[0]
    elem_type = type(elem)

    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        fields = {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
        return same_mapping(elem, fields)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(list(s), collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence) and not isinstance(elem, (str, bytes)):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [collate(list(s), collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields  # backwards compatibility: tuples come back as lists
        return same_sequence(elem, fields)
    raise TypeError(COLLATE_ERROR.format(elem_type))


def same_mapping(template, fields):
    """``fields`` in ``template``'s mapping type where that type can be rebuilt, else a dict."""
    try:
        if isinstance(template, collections.abc.MutableMapping):
            clone = copy.copy(template)
            clone.update(fields)
            return clone
        return type(template)(fields)
    except TypeError:
        return dict(fields)


def same_sequence(template, fields):
    """``fields`` in ``template``'s sequence type where that type can be rebuilt, else a list."""
    try:
        if isinstance(template, collections.abc.MutableSequence):
            clone = copy.copy(template)
            for i, f in enumerate(fields):
                clone[i] = f
            return clone
        return type(template)(fields)
    except TypeError:
        return list(fields)


def default_collate(batch):
    """Stack a list of samples into a batch (``torch.utils.data.default_collate``): the
    DataLoader's ``collate_fn`` when batching is on.

    Args:
        batch: a non-empty list of samples of one structure.

    Returns:
        The batch in the structure of one sample: tensors, NumPy arrays and numbers become
        tensors with a new first axis, strings stay a list, dicts/namedtuples/lists keep their
        type, tuples become lists (see the module table).

    Raises:
        RuntimeError: samples of different lengths or tensors of different shapes.
        TypeError: an element that is none of the above.

    Example:
        >>> b = default_collate([{"x": np.zeros(3), "y": 1}, {"x": np.ones(3), "y": 0}])
        >>> b["x"].shape, b["y"].tolist()
        ((2, 3), [1, 0])
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data):
    """Convert NumPy arrays inside one sample to tensors, keeping the structure
    (``torch.utils.data.default_convert``): the DataLoader's ``collate_fn`` when
    ``batch_size=None``.

    Args:
        data: one sample: a tensor, NumPy array or scalar, Mapping, namedtuple, Sequence, or
            anything else (returned unchanged).

    Returns:
        ``data`` with every NumPy array and scalar (not str/object arrays) as a tensor; tuples
        come back as lists, as in torch.

    Example:
        >>> default_convert((np.arange(2), "a"))
        [tensor([0 1], dtype=int64), 'a']
    """
    if isinstance(data, _native.Tensor):
        return data
    elem_type = type(data)
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "bytes_", "string_"):
        if isinstance(data, np.ndarray) and _STR_OR_OBJECT.search(data.dtype.str) is not None:
            return data
        return _native.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return same_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # backwards compatibility
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return same_sequence(data, [default_convert(d) for d in data])
    return data
