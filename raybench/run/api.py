"""``benchmark``: validate the call, connect to Ray, expand the sweep, run it, return reports."""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable
from typing import Any

from raybench.run import cluster as _devices
from raybench.backends.base import ModelSpec, describe_model
from raybench.engine.buffers import check_budget, n_stage_columns
from raybench.engine.collector import DEFAULT_MAX_TIMER_ROWS
from raybench.core.options import (
    DEFAULT_DURATION_S,
    ModelVariant,
    check_callable,
    check_number,
    expand_sweep,
    is_int,
    normalise_inputs,
    plain_variants,
    positive_ints,
    sweep_options,
)
from raybench.core.errors import ConfigError
from raybench.engine.feeds import dataset_batch_size, dataset_input
from raybench.run.instance import instance_type
from raybench.core.log import logger, set_verbosity
from raybench.core.files import read_json
from raybench.report.results import Results, run_metadata
from raybench.run.sweep import DEFAULT_LOAD_TIMEOUT_S, DEFAULT_WARMUP_TIMEOUT_S, SweepRunner


def connect_ray(address: str | None, ray_init_kwargs: dict[str, Any] | None, verbosity: int) -> bool:
    """Use the Ray that is already up, the one at ``address``/``RAY_ADDRESS``, or start one.

    The embedded Ray is started with ``address="local"`` — a plain ``ray.init()`` would join
    whatever cluster ``/tmp/ray/ray_current_cluster`` names, even a dead one — without the
    dashboard, bound to loopback. ``ray_init_kwargs`` override those defaults.

    Returns:
        True when this call started Ray.
    """
    import ray

    if ray.is_initialized():
        return False
    kwargs = dict(ray_init_kwargs or {})
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, **kwargs)
        return True
    defaults: dict[str, Any] = {
        "address": "local",
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": verbosity >= 2,
        "logging_level": "INFO" if verbosity >= 2 else "WARNING",
    }
    ray.init(**{**defaults, **kwargs})
    return True


def _check_ray_init_kwargs(kwargs: object) -> None:
    """``ray_init_kwargs`` must be a dict of ``ray.init`` keyword arguments.

    Names ``ray.init`` does not take are refused here, with a hint, rather than as Ray's own
    TypeError halfway into the call; names starting with ``_`` are Ray's private arguments and
    are passed through.
    """
    if kwargs is None:
        return
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise ConfigError(f"ray_init_kwargs must be a dict of ray.init keyword arguments (got {kwargs!r})")
    import ray

    known = [name for name in inspect.signature(ray.init).parameters if name not in ("args", "kwargs")]
    for key in kwargs:
        if key not in known and not key.startswith("_"):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"ray_init_kwargs must hold ray.init keyword arguments (got {key!r}{hint})")


def _check_model(framework: str, model: Any, model_filename: str | None) -> None:
    if framework == "callable":
        check_callable("load_fn", model)
        return
    if isinstance(model, (str, os.PathLike)):
        if framework == "class":
            raise ConfigError(f"model_class must be a class (got the path {os.fspath(model)!r})")
        if not os.path.exists(model):
            raise ConfigError(f"model_filename must name an existing file (got {os.fspath(model)!r})")
        return
    if framework in ("tensorflow", "mxnet"):
        raise ConfigError(f"model_filename must be a path to a saved model or a model index (got {model!r})")
    name = "model_class" if framework == "class" else "model"
    if not inspect.isclass(model):
        rule = "a class" if framework == "class" else "a TorchScript file name or an nn.Module class"
        raise ConfigError(f"{name} must be {rule} (got {model!r})")
    try:
        inspect.signature(model).bind()
    except TypeError as exc:
        msg = f"{name} must be constructible with no arguments ({model.__qualname__}: {exc})"
        raise ConfigError(msg) from None
    except ValueError:  # no signature (a builtin): let the copy try to construct it
        pass


def run_benchmark(
    framework: str,
    model: Any,
    model_filename: str | None,
    inputs: Any,
    *,
    batch_sizes: int | list[int] | None = None,
    duration: float = DEFAULT_DURATION_S,
    n_models: int | str | list[int | str] | None = None,
    workers_per_model: int | list[int] | None = None,
    pipeline_sizes: int | list[int] | None = None,
    performance_levels: int | list[int] | None = None,
    warmup: int = 1,
    preprocess_fn: Callable[..., Any] | None = None,
    postprocess_fn: Callable[[Any], Any] | None = None,
    env_setup_fn: Callable[..., Any] | None = None,
    setup_fn: Callable[..., Any] | None = None,
    return_timers: bool = False,
    verbosity: int = 1,
    multiprocess: bool = True,
    multiinterpreter: bool = False,
    stats_interval: float = 0.5,
    device_type: str = "auto",
    model_name: str | None = None,
    cost_per_hour: float | None = None,
    address: str | None = None,
    ray_init_kwargs: dict[str, Any] | None = None,
    max_timer_rows: int = DEFAULT_MAX_TIMER_ROWS,
    loop_dataset: bool | None = None,
    dataset_loader_fn: Callable[[Any, int], Any] | None = None,
    arrival: str = "closed",
    rate: float | None = None,
    rate_per: str = "copy",
    min_infs: int | None = None,
    stability: float | None = None,
    max_duration: float | None = None,
    stability_window: float = 1.0,
    load_timeout: float = DEFAULT_LOAD_TIMEOUT_S,
    warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT_S,
    **unknown: Any,
) -> list[dict[str, Any]] | Results:
    """The shared body of every ``benchmark`` entry point (see :func:`raybench.benchmark`)."""
    if unknown:
        _refuse_unknown(sorted(unknown))
    set_verbosity(verbosity)
    _check_model(framework, model, model_filename)
    for name, fn in (("preprocess_fn", preprocess_fn), ("postprocess_fn", postprocess_fn),
                     ("env_setup_fn", env_setup_fn), ("setup_fn", setup_fn),
                     ("dataset_loader_fn", dataset_loader_fn)):
        check_callable(name, fn)
    index_file = _index_file(framework, model)
    dataset = dataset_input(inputs, loop_dataset, dataset_loader_fn)
    if dataset is not None:
        if index_file is not None:
            raise ConfigError("inputs must be fixed input sets with a model index, not a dataset")
        input_sets, sizes = [dataset], dataset_batch_size(batch_sizes)
    elif index_file is not None:
        variants, input_sets, sizes, index_model_name = _index_variants(
            index_file, inputs, batch_sizes, pipeline_sizes, performance_levels
        )
        pipeline_sizes = sorted({v.pipeline_size for v in variants})
    else:
        input_sets, sizes = normalise_inputs(inputs, batch_sizes)
    options = sweep_options(
        batch_sizes=sizes, n_models=n_models, workers_per_model=workers_per_model,
        pipeline_sizes=pipeline_sizes, duration=duration, warmup=warmup, device_type=device_type,
        multiprocess=multiprocess, multiinterpreter=multiinterpreter, arrival=arrival, rate=rate,
        rate_per=rate_per, min_infs=min_infs, stability=stability, max_duration=max_duration,
        stability_window=stability_window,
    )
    _check_performance_levels(performance_levels)
    if not (is_int(max_timer_rows) and int(max_timer_rows) > 0):
        raise ConfigError(f"max_timer_rows must be a positive int (got {max_timer_rows!r})")
    if not isinstance(return_timers, bool):
        raise ConfigError(f"return_timers must be True or False (got {return_timers!r})")
    _check_ray_init_kwargs(ray_init_kwargs)
    stats_interval_s = check_number("stats_interval", stats_interval, minimum=0, inclusive=False, unit="seconds")
    load_timeout_s = check_number("load_timeout", load_timeout, minimum=0, inclusive=False, unit="seconds")
    warmup_timeout_s = check_number("warmup_timeout", warmup_timeout, minimum=0, inclusive=False, unit="seconds")
    if cost_per_hour is not None:
        check_number("cost_per_hour", cost_per_hour, minimum=0, inclusive=True)
    if batch_sizes is None and index_file is None:
        logger.warning("batch_sizes not given: assuming batch size 1 (throughput counts one sample per call)")
    described_filename, described_name = describe_model(model if framework != "callable" else model_filename)
    if index_file is not None:
        described_name = index_model_name
    else:
        variants = plain_variants(options, described_filename)

    stage_columns = n_stage_columns(dataset=dataset is not None, open_loop=options.arrival != "closed",
                                    preprocess=preprocess_fn is not None, postprocess=postprocess_fn is not None)
    for workers in options.workers_per_model or ():
        check_budget(workers, stage_columns)  # before Ray starts: the copies could not allocate them
    if multiprocess:
        _check_picklable({_MODEL_ARGUMENT.get(framework, "model"): model, "preprocess_fn": preprocess_fn,
                          "postprocess_fn": postprocess_fn, "env_setup_fn": env_setup_fn, "setup_fn": setup_fn,
                          "dataset_loader_fn": dataset_loader_fn})
        connect_ray(address, ray_init_kwargs, verbosity)
        nodes = _devices.alive_nodes()
    else:
        nodes = _devices.local_node()
    resolved = _devices.resolve_device_type(options.device_type, nodes)
    if not multiprocess and resolved != "cpu":
        raise ConfigError(f"multiprocess=False runs copies in this process, on the CPU only (got device_type {device_type!r})")
    requests = {p: _devices.copy_request(resolved, p) for p in options.pipeline_sizes}
    most = {p: _devices.max_copies(req, nodes) for p, req in requests.items()}
    configs = expand_sweep(
        options, variants, model_name=model_name or described_name, device_type=resolved, max_copies=most,
    )
    for workers in sorted({c.workers_per_model for c in configs}):  # the defaults too ([1, p - 1])
        check_budget(workers, stage_columns)
    if index_file is not None:
        specs = {v.model_filename: ModelSpec(framework, v.model_filename, v.model_filename, resolved) for v in variants}
    else:
        specs = {described_filename: ModelSpec(framework, model, model_filename, resolved)}
    copy_kwargs: dict[str, Any] = {
        "input_sets": _share(input_sets, multiprocess),
        "preprocess_fn": preprocess_fn,
        "postprocess_fn": postprocess_fn,
        "env_setup_fn": env_setup_fn,
        "setup_fn": setup_fn,
        "stats_interval_s": stats_interval_s,
    }
    logger.info("benchmarking %s: %d configs of %.1f s on %s", described_filename, len(configs), options.duration_s, resolved)
    sweep = SweepRunner(
        configs, specs, copy_kwargs, requests, nodes, multiprocess=options.multiprocess,
        keep_timers=return_timers, cost_per_hour=cost_per_hour, max_timer_rows=int(max_timer_rows),
        progress=verbosity >= 1, load_timeout_s=load_timeout_s, warmup_timeout_s=warmup_timeout_s,
    ).run()
    if not return_timers:
        return sweep.reports
    metadata = run_metadata(
        started_ns=min((o.start_ns for o in sweep.outcomes if o.start_ns is not None), default=None),
        cost_per_hour=cost_per_hour, instance_type=instance_type(), device_type=resolved,
        n_nodes=len(nodes), cluster=[{"node_id": n.node_id, "resources": n.resources} for n in nodes],
        interrupted=sweep.interrupted,
    )
    return Results(sweep.configs, sweep.outcomes, sweep.timers, metadata)


def _refuse_unknown(names: list[str]) -> None:
    """Name a misspelt keyword (and the argument it probably meant) instead of a TypeError
    about an internal function."""
    known = [p for p in inspect.signature(run_benchmark).parameters
             if p not in ("framework", "model", "model_filename", "inputs", "unknown")]
    name = names[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"benchmark got an unknown argument {name!r}{hint}")


def _index_file(framework: str, model: Any) -> str | None:
    """The model index file, when ``model`` names one: a ``.json`` file holding
    ``model_configs`` (an MXNet ``-symbol.json`` is a model, not an index)."""
    if framework not in ("torch", "tensorflow", "mxnet") or not isinstance(model, (str, os.PathLike)):
        return None
    path = os.fspath(model)
    if not path.endswith(".json") or not os.path.isfile(path):
        return None
    try:
        content = read_json(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model_filename names a .json file that is neither a model index nor readable "
                          f"JSON (got {path!r}: {exc})") from None
    return path if isinstance(content, dict) and "model_configs" in content else None


def _index_variants(
    index_file: str, inputs: Any, batch_sizes: Any, pipeline_sizes: Any, performance_levels: Any
) -> tuple[list[ModelVariant], list[tuple[Any, ...]], tuple[int, ...], str]:
    """Select the index's finished configs that match the arguments; pair inputs by batch size.

    ``batch_sizes``/``pipeline_sizes``/``performance_levels`` filter the index; without
    ``batch_sizes`` the index's own batch sizes are used (sorted), and ``inputs`` holds one input
    set per batch size in that order (or one input set when there is one batch size).

    Raises:
        ConfigError: nothing selected, or a selected artifact is missing.
    """
    from raybench.backends import model_index
    index = model_index.load(index_file)
    selected = model_index.filter(index, status="finished")
    wanted: dict[str, Any] = {}
    if batch_sizes is not None:
        wanted["batch_size"] = list(positive_ints("batch_sizes", batch_sizes))
    if pipeline_sizes is not None:
        wanted["pipeline_size"] = list(positive_ints("pipeline_sizes", pipeline_sizes))
    if performance_levels is not None:
        _check_performance_levels(performance_levels)
        wanted["performance_level"] = performance_levels
    selected = model_index.filter(selected, **wanted)
    entries = selected["model_configs"]
    if not entries:
        msg = (
            f"the model index {index_file!r} has no finished config with batch_sizes={batch_sizes!r}, "
            f"pipeline_sizes={pipeline_sizes!r}, performance_levels={performance_levels!r}"
        )
        raise ConfigError(msg)
    sizes = wanted.get("batch_size") or sorted({int(e["batch_size"]) for e in entries})
    input_sets, sizes = normalise_inputs(inputs, list(sizes))
    input_index = {size: i for i, size in enumerate(sizes)}
    variants = []
    for entry in entries:
        path = model_index.resolve_model_path(index_file, entry["filename"])
        if not os.path.exists(path):
            raise ConfigError(f"model_filename must name an existing file (got {path!r}, listed in {index_file!r})")
        variants.append(ModelVariant(path, int(entry["batch_size"]), input_index[int(entry["batch_size"])],
                                     int(entry["pipeline_size"]), entry.get("performance_level")))
    return variants, input_sets, tuple(sizes), str(index.get("model_name") or "model")


def _check_performance_levels(levels: object) -> None:
    """Accept NeuronPerf's ``performance_levels`` (0-3); only a model index has several."""
    values = levels if isinstance(levels, (list, tuple)) else [levels]
    if levels is not None and not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 3 for v in values):
        raise ConfigError(f"performance_levels must be an int from 0 to 3 or a list of them (got {levels!r})")


#: How each entry point names its model argument, for error messages.
_MODEL_ARGUMENT = {"callable": "load_fn", "class": "model_class", "tensorflow": "model_filename",
                   "mxnet": "model_filename"}


def _check_picklable(named: dict[str, Any]) -> None:
    """Refuse, before any copy starts, a model or hook that cannot be sent to the copies (a lock,
    an open file, a closure over one): Ray would fail deep inside ``.remote()``.

    Raises:
        ConfigError: names the argument and what could not be pickled.
    """
    from ray import cloudpickle

    for name, value in named.items():
        if value is None or isinstance(value, (str, os.PathLike)):
            continue
        try:
            cloudpickle.dumps(value)
        except Exception as exc:  # noqa: BLE001 - whatever pickling raises is the reason
            raise ConfigError(f"{name} cannot be sent to the copies: {type(exc).__name__}: {exc}") from None


def _share(input_sets: list[tuple[Any, ...]], multiprocess: bool) -> Any:
    """Put the inputs in Ray's object store once; every copy reads the same object.

    Raises:
        ConfigError: the inputs cannot be pickled (a lock, an open file...), before any copy starts.
    """
    if not multiprocess:
        return input_sets
    import ray

    try:
        return ray.put(input_sets)
    except Exception as exc:  # noqa: BLE001 - Ray's TypeError/PicklingError, whatever pickling raised
        cause = exc.__cause__ or exc  # Ray wraps the pickler's own error in a long message
        raise ConfigError(f"inputs cannot be sent to the copies: {type(cause).__name__}: {cause}") from None


def benchmark(load_fn: Callable[[str], Any], model_filename: str, inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark any model: each copy calls ``load_fn(model_filename)`` to get a callable.

    Args:
        load_fn: Builds the model inside each copy; returns a callable ``model(*inputs)``.
        model_filename: Passed to ``load_fn``; names the model in reports.
        inputs: One input; a tuple is one multi-input call ``model(*inputs)``; a list holds one
            input (or tuple) per entry of ``batch_sizes``.
        batch_sizes: Samples per call for each input set (default [1], with a warning).
        duration: Seconds of measurement per config (default 60), after load and warmup.
        n_models: Copies to run, an int, ``"max"`` or a list (default [1, MAX]; MAX is how many
            copies fit on the cluster: NeuronCores / pipeline size, GPUs, or CPUs).
        workers_per_model: Concurrent callers per copy (default [1, 2]; [1, p-1] for p > 1).
        pipeline_sizes: NeuronCores per copy (default [1]).
        performance_levels: Accepted for NeuronPerf compatibility (0-3).
        warmup: Before measuring, each worker warms up for this many inferences (default 1), or
            for a time given as a string: ``"2s"``, ``"500ms"``. Not in the results; the
            reports' ``warmup_*`` fields describe it.
        preprocess_fn: ``preprocess_fn(*inputs)`` returns the model's inputs; timed apart. With
            a dataset, ``preprocess_fn(item)`` turns one item into the model's input(s).
        postprocess_fn: ``postprocess_fn(outputs)``; timed apart.
        env_setup_fn: ``env_setup_fn(copy_id, config_dict)``, in each copy before loading.
        setup_fn: ``setup_fn(copy_id, config_dict, model)``, in each copy after loading.
        return_timers: Return a :class:`~raybench.Results` (raw timers) instead of reports.
        verbosity: 0 silent, 1 info (default), 2 debug and Ray's own logs.
        multiprocess: False runs the copies in this process (CPU only, no Ray).
        multiinterpreter: Accepted; a Ray actor is always a fresh interpreter.
        stats_interval: Seconds between CPU/memory samples (default 0.5).
        device_type: "auto" (default: neuron if the cluster has ``neuron_cores``, else gpu if it
            has GPUs, else cpu), "neuron", "gpu"/"cuda" or "cpu".
        model_name: Name for reports and default file names.
        cost_per_hour: Instance price, for ``cost_per_1m_inf``.
        address: A Ray cluster to use (else ``RAY_ADDRESS``, else an embedded local Ray).
        ray_init_kwargs: Extra ``ray.init`` arguments for the embedded Ray.
        max_timer_rows: Memory budget: raw timers a run may hold at once (default 200M, about
            3.2 GB while configs run, 4.4 GB when kept). A config that reaches it stops
            measuring early; its report's ``error`` says so and the rows recorded are exact.
        loop_dataset: ``inputs`` is a dataset: run it once per copy (False; ``duration`` is then
            an upper bound and the report says when the data ran out) or cycle through it until
            ``duration`` (True). A torch ``Dataset``/``DataLoader`` or any iterable that is not
            a list, tuple or array is a dataset anyway (run once, as NeuronPerf does); a list
            is a dataset only when ``loop_dataset`` or ``dataset_loader_fn`` says so.
        dataset_loader_fn: ``dataset_loader_fn(inputs, workers_per_model)`` returns the iterable
            of items, in each copy (NeuronPerf's). One item is one call of ``batch_sizes``
            samples; a copy's workers share its items, none is handed out twice.
        arrival: "closed" (default: each worker calls again as soon as its call returns), or
            open-loop load: "constant" (evenly spaced sends) or "poisson" (exponential gaps) at
            ``rate``. Latency then counts from each send's scheduled time.
        rate: Open-loop sends per second, per copy (or per config with ``rate_per="config"``).
        rate_per: "copy" (default) or "config" (the copies share ``rate``).
        min_infs: Keep measuring past ``duration`` until at least this many ok inferences.
        stability: End a config once its last three windows agree within this fraction (0.1 =
            10 %) on throughput and p50; ``duration`` is then not a minimum.
        max_duration: Bound for ``min_infs``/``stability`` (default 10 x ``duration``).
        stability_window: Seconds per stability window (default 1; at least 0.1, a fifth of the
            0.5 s interval at which copies ship their rows).
        load_timeout: Seconds a copy may take to load its model (default 300); past it the
            config fails with status "timeout". "still loading" is logged every 30 s.
        warmup_timeout: Seconds a config's warmup may take (default 60), plus ``warmup`` when it
            is a time; past it (a first call that never returns) the config fails with status
            "timeout".

    Returns:
        One report dict per config, or a :class:`~raybench.Results` with ``return_timers``.

    Raises:
        ConfigError: a bad argument; the message names it, the rule and the value.
        ClusterError: a config needs more cores/GPUs/CPUs than the cluster can place.
    """
    return run_benchmark("callable", load_fn, model_filename, inputs, **kwargs)
