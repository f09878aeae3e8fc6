"""Torch's intra-op thread count reaches the threads that call the model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration  # a fresh interpreter, so no OpenMP pool exists before it

pytest.importorskip("torch")

# torch.set_num_threads(1) in the calling thread (as a setup_fn would do in a copy), then a model
# whose calls use intra-op parallelism. Counted while a call runs: the threads of the process
# beyond those before the benchmark. raybench's worker thread is one and the copy's telemetry
# sampler another; an OpenMP pool sized by the worker thread's own default would add a third.
SCRIPT = textwrap.dedent("""
    import os, torch, raybench
    torch.set_num_threads(1)

    class MatMul(torch.nn.Module):
        def forward(self, x):
            return x @ x

    seen = []
    before = len(os.listdir("/proc/self/task"))
    raybench.torch.benchmark(MatMul, torch.ones(256, 256), batch_sizes=1, n_models=1, workers_per_model=1,
                             duration=0.3, device_type="cpu", multiprocess=False, verbosity=0,
                             postprocess_fn=lambda y: seen.append(len(os.listdir("/proc/self/task"))))
    print(max(seen) - before)
""")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenMP's default pool is one thread on one CPU")
def test_set_num_threads_in_the_calling_thread_holds_in_the_worker_thread(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "2"  # worker and sampler, and no OpenMP thread beside them
