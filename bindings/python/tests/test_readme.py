"""The README's Python snippets run as written (so they stay true)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[3] / "README.md"


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has Python examples"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    assert "negative stride" in capsys.readouterr().out
