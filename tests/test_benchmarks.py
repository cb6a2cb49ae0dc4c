"""Smoke test: the benchmark harness runs end to end (quick sizes; timings are not checked)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmarks_run_and_agree(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    payload = json.loads(out.read_text())
    text = json.dumps(payload)
    assert "batched_gradients" in text and "torch" in text


def test_quick_teacher_table_runs(tmp_path):
    out = tmp_path / "table.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.teacher_table", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    payload = json.loads(out.read_text())
    assert [row["k"] for row in payload["rows"]] == [6, 7]
    assert all(row["network_steps"] > 0 and row["loop_steps_per_s"] > 0 for row in payload["rows"])
