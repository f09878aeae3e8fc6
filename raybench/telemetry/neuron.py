"""The Neuron telemetry source: one ``neuron-monitor`` per node, its JSON stream read into samples.

:class:`NeuronMonitor` writes a configuration (:func:`~raybench.telemetry.neuron_json.monitor_config`)
to a temporary file, starts ``neuron-monitor -c FILE``, and reads the one-report-per-line stdout
in a daemon thread, far from any timed call. The caller takes what has been parsed with
:meth:`NeuronMonitor.drain`. The metrics and their units are listed in
:mod:`raybench.telemetry.neuron_json`.

Telemetry must never cost the benchmark its run: a missing binary means no Neuron series and no
error; a child that prints something that is not a report, reports an error of its own, or exits
before :meth:`~NeuronMonitor.stop` gets one warning on the ``raybench`` logger, and whatever parsed
stays.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from raybench.core.log import logger
from raybench.telemetry import Sample
from raybench.telemetry.neuron_json import hardware_info, monitor_config, parse_report, reported_errors

__all__ = ["BINARY", "NeuronMonitor", "available"]

#: The executable's name; ``aws-neuron-tools`` installs it (and its companion scripts) into
#: :data:`INSTALL_DIR`, which is not always on PATH, so that directory is searched after PATH.
BINARY = "neuron-monitor"
INSTALL_DIR = "/opt/aws/neuron/bin"
#: How long stop() lets the child exit after SIGTERM before it is killed, and the reader drain.
STOP_TIMEOUT_S = 5.0
#: Samples held between drains; beyond it the oldest go (with one warning), so a caller that
#: never drains cannot grow the process without bound.
MAX_SAMPLES = 1_000_000
#: How much of the child's stderr an early-exit warning quotes.
STDERR_TAIL_BYTES = 400


def _argv_prefix(command: Sequence[str] | None) -> list[str] | None:
    """The command to run, resolved to an executable on this machine, or None if there is none."""
    if command is not None:
        if not command:
            return None
        found = shutil.which(command[0])
        return [found, *command[1:]] if found else None
    search = os.pathsep.join(p for p in (os.environ.get("PATH", os.defpath), INSTALL_DIR) if p)
    found = shutil.which(BINARY, path=search)
    return [found] if found else None


def available(command: Sequence[str] | None = None) -> bool:
    """Whether ``neuron-monitor`` (or ``command``'s executable) can be run here."""
    return _argv_prefix(command) is not None


class NeuronMonitor:
    """Runs one neuron-monitor and keeps the samples its reports hold.

    Args:
        interval_s: Seconds between reports (the configuration's ``period``).
        command: The argv to run instead of ``neuron-monitor``; ``-c CONFIG`` is appended. Tests
            pass the stand-in, ``[sys.executable, "-m", "raybench.testing_neuron_monitor"]``.
        pid_to_copy: Maps a runtime's PID to its copy, for runtimes without raybench's tag.
        tag_to_copy: Maps a ``NEURON_PROCESS_TAG`` to a copy; when None, tags made by
            :func:`~raybench.telemetry.neuron_json.process_tag` are read back.
        clock: Wall clock in ns stamping each report as it arrives (a report has no time of its own).

    Use ``with NeuronMonitor(0.5) as monitor:`` or ``start()`` ... ``stop()``. Nothing here raises
    into the caller once constructed; problems are logged once each.
    """

    def __init__(self, interval_s: float, *, command: Sequence[str] | None = None,
                 pid_to_copy: Mapping[int, int] | None = None, tag_to_copy: Mapping[str, int] | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self._config = monitor_config(interval_s)  # validates interval_s
        self._command = command
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: collections.deque[Sample] = collections.deque(maxlen=MAX_SAMPLES)
        self._pid_to_copy = dict(pid_to_copy) if pid_to_copy is not None else None
        self._tag_to_copy = dict(tag_to_copy) if tag_to_copy is not None else None
        self._hardware: dict[str, Any] | None = None
        self._warned: set[str] = set()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._stderr: IO[bytes] | None = None
        self._config_path: str | None = None
        self._started = self._stopping = False

    def __enter__(self) -> NeuronMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def hardware_info(self) -> dict[str, Any] | None:
        """The latest report's ``neuron_hardware_info`` (device count, cores per device, ...), or None."""
        with self._lock:
            return dict(self._hardware) if self._hardware is not None else None

    @property
    def pid(self) -> int | None:
        """The child's PID while one was started, else None."""
        return self._proc.pid if self._proc is not None else None

    def map_copies(self, *, pid_to_copy: Mapping[int, int] | None = None,
                   tag_to_copy: Mapping[str, int] | None = None) -> None:
        """Replace the runtime-to-copy maps, for copies spawned after start(); later reports use them."""
        with self._lock:
            self._pid_to_copy = dict(pid_to_copy) if pid_to_copy is not None else None
            self._tag_to_copy = dict(tag_to_copy) if tag_to_copy is not None else None

    def start(self) -> None:
        """Start the child and its reader; does nothing without a binary, or if started or stopped before."""
        if self._started or self._stopping:
            return
        self._started = True
        argv = _argv_prefix(self._command)
        if argv is None:
            logger.debug("telemetry: %s not found; no NeuronCore series", BINARY)
            return
        fd, self._config_path = tempfile.mkstemp(prefix="raybench-neuron-monitor-", suffix=".json")
        with os.fdopen(fd, "w") as config:
            json.dump(self._config, config)
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: nobody has to keep reading it
        try:
            self._proc = subprocess.Popen([*argv, "-c", self._config_path], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1)
        except OSError as error:
            self._warn_once("spawn", "telemetry: could not start %s (%s); no NeuronCore series", argv[0], error)
            self._cleanup_files()
            return
        self._reader = threading.Thread(target=self._read, name="raybench-neuron-monitor", daemon=True)
        self._reader.start()

    def drain(self) -> list[Sample]:
        """The samples parsed since the last drain, oldest first; thread-safe."""
        with self._lock:
            out = list(self._samples)
            self._samples.clear()
        return out

    def stop(self) -> None:
        """Terminate the child, reap it, join the reader and remove the config file; idempotent."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=STOP_TIMEOUT_S)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        if self._config_path is not None:
            try:
                os.unlink(self._config_path)
            except OSError:
                pass
            self._config_path = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        """Log ``message`` at warning level the first time ``key`` comes up: a report every
        interval must not turn one problem into a warning per line."""
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(message, *args)

    def _read(self) -> None:
        """The reader thread: one report per line until the child's stdout closes."""
        proc = self._proc
        if proc is None or proc.stdout is None:  # start() sets both before the thread runs
            return
        try:
            for line in proc.stdout:
                if line.strip():
                    self._handle(line, self._clock())
        except (OSError, ValueError):  # the pipe closed under us while stopping
            pass
        if not self._stopping:
            code = proc.wait()
            self._warn_once("exit", "telemetry: %s exited early (code %s); NeuronCore series end here%s",
                            BINARY, code, self._stderr_tail())

    def _handle(self, line: str, time_ns: int) -> None:
        """Parse one line; anything wrong with it is logged once and the line dropped."""
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self._warn_once("garbage", "telemetry: %s printed a line that is not a JSON report: %.80r",
                            BINARY, line.strip())
            return
        with self._lock:
            tag_to_copy, pid_to_copy = self._tag_to_copy, self._pid_to_copy
        try:
            samples = parse_report(doc, time_ns, tag_to_copy=tag_to_copy, pid_to_copy=pid_to_copy)
            hardware = hardware_info(doc)
            errors = reported_errors(doc)
        except Exception as error:  # a report shaped unlike the guide's; never into the benchmark
            self._warn_once("parse", "telemetry: could not read a %s report (%s: %s)", BINARY,
                            type(error).__name__, error)
            return
        if errors:
            self._warn_once("reported", "telemetry: %s reports an error: %s", BINARY, "; ".join(errors))
        with self._lock:
            dropped = len(self._samples) + len(samples) - MAX_SAMPLES
            self._samples.extend(samples)
            if hardware is not None:
                self._hardware = hardware
        if dropped > 0:
            self._warn_once("overflow", "telemetry: more than %d Neuron samples undrained; dropping the oldest",
                            MAX_SAMPLES)

    def _stderr_tail(self) -> str:
        """The end of the child's stderr, as ``": ..."``, or ``""`` if it wrote none."""
        stderr = self._stderr
        if stderr is None:
            return ""
        try:
            size = stderr.seek(0, os.SEEK_END)
            stderr.seek(max(0, size - STDERR_TAIL_BYTES))
            tail = stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        return f": {tail}" if tail else ""
