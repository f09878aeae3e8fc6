"""Faults on the session's local Ray: a copy that dies, a model call that never returns, Ctrl-C.

Each fault must cost only its own config: the run returns, what was measured before the fault
is kept, and the next config runs on fresh copies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow.compute as pc

import raybench
from raybench import _runner


def _claim(marker: str) -> bool:
    """Create ``marker``; True for the one caller (of any process) that created it."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class DyingModel:
    """Sleeps 1 ms a call; ~0.8 s after its first call the process exits, unless ``marker``
    exists. It creates ``marker`` first, so only the first copy that gets there dies."""

    marker = ""

    def __init__(self) -> None:
        self._first: float | None = None

    def __call__(self, *inputs: object) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = now
        time.sleep(0.001)
        if now - self._first >= 0.8 and _claim(self.marker):
            os._exit(1)


class HangingModel:
    """Sleeps 1 ms a call; after 200 calls one call sleeps 10 minutes, unless ``marker``
    exists (created first, so only the first copy that gets there hangs)."""

    marker = ""

    def __init__(self) -> None:
        self._calls = 0

    def __call__(self, *inputs: object) -> None:
        self._calls += 1
        time.sleep(0.001)
        if self._calls > 200 and _claim(self.marker):
            time.sleep(600)


def test_a_copy_that_dies_fails_its_config_keeps_its_timers_and_the_next_config_runs(ray_session, tmp_path):
    DyingModel.marker = str(tmp_path / "died")
    results = raybench.cpu.benchmark(DyingModel, 1, n_models=[1], workers_per_model=[1, 2], duration=2,
                                     verbosity=0, return_timers=True)
    died, after = raybench.get_reports(results)
    assert died["status"] == "error"
    assert died["error"].startswith("copy 0 died: "), died["error"]
    assert died["total_infs"] > 0  # the batches it flushed before dying
    assert results.timers.filter(pc.equal(results.timers["config_id"], 0)).num_rows == died["total_infs"]
    assert after["status"] == "finished", after
    assert after["total_infs"] > 0


def test_a_copy_that_dies_keeps_the_outcomes_of_the_copies_that_did_not(ray_session, tmp_path):
    DyingModel.marker = str(tmp_path / "died")
    results = raybench.cpu.benchmark(DyingModel, 1, n_models=[2], workers_per_model=[1], duration=2,
                                     verbosity=0, return_timers=True)
    _, result = results[0]
    assert result["status"] == "error"
    assert len(result["copies"]) == 1  # the survivor's outcome; the dead copy has none
    assert result["copies"][0]["n_infs"] > 0


def test_a_model_call_that_never_returns_times_out_and_the_next_config_runs(ray_session, tmp_path, monkeypatch):
    monkeypatch.setattr(_runner, "GRACE_S", 2.0)
    HangingModel.marker = str(tmp_path / "hung")
    t0 = time.monotonic()
    results = raybench.cpu.benchmark(HangingModel, 1, n_models=[1], workers_per_model=[1, 2], duration=1,
                                     verbosity=0, return_timers=True)
    elapsed = time.monotonic() - t0
    hung, after = raybench.get_reports(results)
    assert hung["status"] == "timeout"
    assert hung["error"] == "copy 0 did not answer within 3.1 s"
    assert after["status"] == "finished", after
    assert after["total_infs"] > 0
    assert elapsed < 15, elapsed  # duration + grace for the hung config, not 10 minutes


DRIVER = textwrap.dedent("""
    import json, sys
    import ray
    import raybench
    from raybench.testing import SimulatedDevice

    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    print("started", flush=True)
    reports = raybench.cpu.benchmark(SimulatedDevice, 1, batch_sizes=[1], n_models=[1],
                                     workers_per_model=[1, 2, 1], duration=2, verbosity=1)
    print(json.dumps({"n": len(reports), "statuses": [r["status"] for r in reports]}), flush=True)
""")


def test_ctrl_c_returns_the_configs_that_finished_and_exits(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        for line in proc.stderr:  # the runner logs each config's end at verbosity 1
            if "config 1 finished" in line:
                break
            assert time.monotonic() < deadline, "config 1 never finished"
        time.sleep(0.5)  # well inside config 2's measurement
        proc.send_signal(signal.SIGINT)
        interrupted_at = time.monotonic()
        out, err = proc.communicate(timeout=30)
        exit_s = time.monotonic() - interrupted_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert exit_s < 15, exit_s  # no waiting out the interrupted config's duration + grace
    assert json.loads(out.strip().splitlines()[-1]) == {"n": 1, "statuses": ["finished"]}
