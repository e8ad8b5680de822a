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


ROOT = EXAMPLES.parents[1]


def test_digits_cnn_reaches_97_percent_in_both_facades_and_in_rust(tmp_path):
    """The real-data example: scikit-learn's digits, the same CNN in cn.tf.keras and cn.torch,
    each >= 97% test accuracy; then the Rust example on the split the script exports, which
    gives Keras's numbers exactly (same seed, same engine). The script runs in its own process:
    scikit-learn's modules would otherwise stay in this one and make every later test's
    gc.collect() (conftest's leak check) 15x slower (measured: 55 ms against 4)."""
    import re
    import subprocess
    import sys

    script = subprocess.run([sys.executable, str(EXAMPLES / "digits_cnn.py"), "--export", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert script.returncode == 0, script.stderr
    out = script.stdout
    acc = dict(re.findall(r"^(cn\.\S+): test accuracy ([0-9.]+)", out, re.M))
    assert set(acc) == {"cn.tf.keras", "cn.torch"}, out
    assert min(float(v) for v in acc.values()) >= 0.97, out
    assert "both >= 97%: True" in out
    binary = next((p for p in (ROOT / "target" / kind / "examples" / "digits_cnn" for kind in ("debug", "release"))
                   if p.exists()), None)
    if binary is None:
        pytest.skip("the Rust example is not built: cargo build --example digits_cnn")
    rust = subprocess.run([str(binary), str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert rust.returncode == 0, rust.stderr
    rust_acc = float(re.search(r"^test accuracy ([0-9.]+)", rust.stdout, re.M).group(1))
    assert rust_acc == pytest.approx(float(acc["cn.tf.keras"]), abs=1e-4), rust.stdout
    assert "reloaded checkpoint: test accuracy" in rust.stdout
