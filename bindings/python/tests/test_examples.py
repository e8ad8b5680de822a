"""The Python examples under examples/python run as shipped."""

import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


@pytest.mark.parametrize("name, expect", [
    ("dataloader.py", "(32, 10) (32,)"),
    ("tf_data.py", "batches: 4"),
    ("showcase.py", "Done."),
    ("train_keras.py", "after 50 epochs"),
    ("train_torch.py", "accuracy 0.9"),
    ("distances.py", "cdist of 512695 and 512804: 109.0"),
])
def test_example_runs(name, expect, capsys):
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    assert expect in capsys.readouterr().out
