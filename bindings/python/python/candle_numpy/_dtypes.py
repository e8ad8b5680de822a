"""dtype names shared by the torch- and tf-style facades (``cn.torch.float32``, ``cn.tf.int32``).

Each name is the NumPy-style string the core accepts, so ``dtype=cn.torch.float16`` and
``dtype="float16"`` mean the same thing.
"""

NAMES = {
    "uint8": "uint8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint32": "uint32",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float32": "float32",
    "float64": "float64",
    "float8_e4m3fn": "float8_e4m3fn",
}

# the aliases each framework also spells
TORCH_ALIASES = {"half": "float16", "float": "float32", "double": "float64", "short": "int16",
                 "int": "int32", "long": "int64", "float8_e4m3fn": "float8_e4m3fn"}
TF_ALIASES = {"half": "float16", "double": "float64"}


def is_python_data(value) -> bool:
    """Python scalars and (nested) lists/tuples: the inputs whose dtype each framework infers."""
    return isinstance(value, (bool, int, float, list, tuple))
