"""The README's examples run as written."""

import re
from pathlib import Path

import cellscape

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no Python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "Cell(" in capsys.readouterr().out


def test_public_api_is_importable():
    for name in cellscape.__all__:
        assert hasattr(cellscape, name), name
