"""``benchmark``: validate the call, connect to Ray, plan the sweep, run it, return reports.

The data path of one call: the options (``raybench.core.options``) and inputs
(``raybench.core.inputs``) are validated; Ray is connected (``connect``); the sweep is planned
against the cluster (``plan``, ``cluster``); the runner (``sweep``) has the copies measure and the
collector gather their Arrow batches (``raybench.engine``); the reports come back
(``raybench.report``).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable
from typing import Any

from raybench.backends.base import ModelSpec, describe_model
from raybench.backends.model_index import read_index_json
from raybench.backends.plain import device_id_passing
from raybench.core.checks import check_callable
from raybench.core.errors import ConfigError
from raybench.core.inputs import DatasetInput, dataset_batch_size, dataset_input, normalise_inputs
from raybench.core.log import logger, set_verbosity
from raybench.core.options import Options
from raybench.core.search import DEFAULT_MAX_WORKERS
from raybench.core.slo import constraints_of, field_quantile
from raybench.core.schema import RunConfig
from raybench.engine.buffers import check_budget
from raybench.engine.hotloop import Stages
from raybench.engine.loops import LoopPlan
from raybench.report.capacity import capacity_reports
from raybench.report.metadata import run_metadata
from raybench.report.results import Results
from raybench.report.telemetry_table import telemetry_table
from raybench.run import cluster
from raybench.run.connect import check_ray_init_kwargs, connect_ray
from raybench.run.instance import instance_type
from raybench.run.plan import ModelVariant, expand_sweep, index_variants, plain_variants
from raybench.run.search import concurrency_bases, search_plan
from raybench.run.sweep import SweepResult, SweepRunner

#: How each entry point names its model argument, for error messages.
_MODEL_ARGUMENT = {"callable": "load_fn", "class": "model_class", "tensorflow": "model_filename",
                   "mxnet": "model_filename", "llm": "model"}


def run_benchmark(framework: str, model: Any, model_filename: str | None, inputs: Any,
                  **kwargs: Any) -> list[dict[str, Any]] | Results:
    """The shared body of every ``benchmark`` entry point (see :func:`benchmark`)."""
    options = Options.from_kwargs(kwargs)
    set_verbosity(options.reporting.verbosity)
    passing = _check_model(framework, model, model_filename)
    variants, input_sets, described_name, from_index = _variants(framework, model, model_filename, inputs, options)
    open_loop = options.load.arrival != "closed" or options.search.mode == "rate"
    plan = LoopPlan.choose(dataset=isinstance(input_sets[0], DatasetInput), open_loop=open_loop,
                           stages=Stages(options.hooks.preprocess_fn, options.hooks.postprocess_fn))
    stage_columns = len(plan.buffer_columns)  # what each copy's buffers will hold
    for workers in options.axes.workers_per_model or ():
        check_budget(workers, stage_columns)  # before Ray starts: the copies could not allocate them
    placement = options.placement
    if placement.multiprocess:
        check_ray_init_kwargs(placement.ray_init_kwargs)
        _check_picklable({_MODEL_ARGUMENT.get(framework, "model"): model, **options.hooks.named()})
        connect_ray(placement.address, placement.ray_init_kwargs, options.reporting.verbosity)
        nodes = cluster.alive_nodes()
    else:
        nodes = cluster.local_node()
    device = cluster.resolve_device_type(placement.device_type, nodes)
    if not placement.multiprocess and device != "cpu":
        raise ConfigError("multiprocess=False runs copies in this process, on the CPU only "
                          f"(got device_type {placement.device_type!r})")
    requests = {v.pipeline_size: cluster.copy_request(device, v.pipeline_size) for v in variants}
    most = {p: cluster.max_copies(request, nodes) for p, request in requests.items()}
    configs = expand_sweep(options, variants, model_name=options.reporting.model_name or described_name,
                           device_type=device, max_copies=most)
    if device == "cpu":
        configs = _share_cpus(configs, requests, nodes, placement.multiprocess)
    for workers in sorted({c.workers_per_model for c in configs}):  # the defaults too ([1, p - 1])
        check_budget(workers, stage_columns)
    if from_index:
        specs = {v.model_filename: ModelSpec(framework, v.model_filename, v.model_filename, device) for v in variants}
    else:
        specs = {variants[0].model_filename: ModelSpec(framework, model, model_filename, device, passing)}
    logger.info("benchmarking %s: %d configs of %.1f s on %s", variants[0].model_filename, len(configs),
                options.measure.duration_s, device)
    runner_args = (specs, _share(input_sets, placement.multiprocess), requests, nodes, options)
    if options.search.mode is None:
        sweep = SweepRunner(configs, *runner_args).run()
    else:
        sweep = _search(configs, runner_args, options, stage_columns)
    if not options.reporting.return_timers:
        if options.search.mode is not None:
            return capacity_reports(sweep.reports, options.reporting.cost_per_hour, options.search.tolerance)
        return sweep.reports
    return _results(sweep, options, device, nodes)


def _search(configs: list[RunConfig], runner_args: tuple[Any, ...], options: Options, stage_columns: int) -> SweepResult:
    """Run a capacity search for each config (a concurrency search: each without its workers
    axis, up to the most ``workers_per_model`` given, else ``DEFAULT_MAX_WORKERS``)."""
    rule = options.search
    bases = concurrency_bases(configs) if rule.mode == "concurrency" else configs
    max_workers = max(options.axes.workers_per_model or (DEFAULT_MAX_WORKERS,))
    if rule.mode == "concurrency":
        check_budget(max_workers, stage_columns)
    limits = ", ".join(f"{k} <= {v:g} ms" for k, v in constraints_of(options.reporting.slo).items())
    logger.info("searching each config's capacity (%s) at %s: at most %d loads, each a probe of %.1f s (and a "
                "repeat 2-10 x longer when within noise)", rule.mode, limits, rule.max_steps, options.measure.duration_s)
    tail = min(1 - field_quantile(field) for field in constraints_of(options.reporting.slo))
    return SweepRunner(bases, *runner_args).run(search_plan(bases, rule, max_workers=max_workers, tail=tail))


def _share_cpus(configs: list[RunConfig], requests: dict[int, cluster.CopyRequest],
                nodes: list[cluster.NodeResources], multiprocess: bool) -> list[RunConfig]:
    """CPU copies beyond the cluster's CPUs: run them on shared cores, as asked.

    Each pipeline size's copies (one pool, reused by its configs) ask Ray for a fraction of a
    CPU when its largest ``n_models`` exceeds the whole CPUs (:func:`cluster.shared_cpu_request`);
    ``requests`` is updated in place. A warning says once that the copies share cores, and each
    config records ``cpus_per_copy``: the CPUs each copy has to itself, ``min(1, CPUs / n_models)``.
    """
    cpus = sum(node.resources.get("CPU", 0.0) for node in nodes)
    for pipeline_size in sorted({c.pipeline_size for c in configs}):
        most = max(c.n_models for c in configs if c.pipeline_size == pipeline_size)
        if multiprocess:
            requests[pipeline_size] = cluster.shared_cpu_request(most, nodes)
    sharing = sorted({c.n_models for c in configs if c.n_models > cpus})
    if sharing:
        logger.warning("n_models=%s is more than the %g CPUs: the copies share cores (each config's cpus_per_copy "
                       "says how much of a CPU each copy has), so their throughput shows CPU contention",
                       "/".join(str(n) for n in sharing), cpus)
    return [dataclasses.replace(c, cpus_per_copy=round(min(1.0, cpus / c.n_models), 4) if cpus else None)
            for c in configs]


def _variants(framework: str, model: Any, model_filename: str | None, inputs: Any,
              options: Options) -> tuple[list[ModelVariant], list[Any], str, bool]:
    """What runs: the model variants, the input sets, the model's name, and whether the model is
    a model index (one artifact per variant)."""
    index_file = _index_file(framework, model)
    dataset = dataset_input(inputs, options.load.loop_dataset, options.hooks.dataset_loader_fn)
    pipelines = options.axes.pipeline_sizes or (1,)
    described_filename, described_name = describe_model(model if framework not in ("callable", "llm") else model_filename)
    if options.axes.batch_sizes is None and index_file is None:
        logger.warning("batch_sizes not given: assuming batch size 1 (throughput counts one sample per call)")
    if dataset is not None:
        if index_file is not None:
            raise ConfigError("inputs must be fixed input sets with a model index, not a dataset")
        sizes = dataset_batch_size(None if options.axes.batch_sizes is None else list(options.axes.batch_sizes))
        return plain_variants(sizes, pipelines, described_filename), \
            [dataset], described_name, False
    if index_file is not None:
        variants, input_sets, index_name = index_variants(index_file, inputs, options)
        return variants, input_sets, index_name, True
    input_sets, sizes = normalise_inputs(inputs, options.axes.batch_sizes)
    return plain_variants(sizes, pipelines, described_filename), list(input_sets), described_name, False


def _results(sweep: SweepResult, options: Options, device: str, nodes: list[cluster.NodeResources]) -> Results:
    """The sweep as a :class:`Results`, with the run's metadata."""
    metadata = run_metadata(
        started_ns=min((o.start_ns for o in sweep.outcomes if o.start_ns is not None), default=None),
        cost_per_hour=options.reporting.cost_per_hour, slo=options.reporting.slo, instance_type=instance_type(),
        search=dataclasses.asdict(options.search) if options.search.mode is not None else None,
        device_type=device,
        n_nodes=len(nodes), cluster=[{"node_id": n.node_id, "resources": n.resources} for n in nodes],
        interrupted=sweep.interrupted,
    )
    hardware = next((c.device_info for o in sweep.outcomes for c in o.copies if c.device_info), None)
    if hardware is not None:
        metadata["neuron_hardware"] = hardware  # neuron-monitor's neuron_hardware_info
    return Results(sweep.configs, sweep.outcomes, sweep.timers, metadata, telemetry_table(sweep.outcomes))


def _check_model(framework: str, model: Any, model_filename: str | None) -> str | None:
    """Refuse a model argument the copies could not build; for a ``load_fn``, return how it takes
    the device id (:func:`~raybench.backends.plain.device_id_passing`)."""
    if framework == "callable":
        check_callable("load_fn", model)
        return device_id_passing(model)
    if framework == "llm":  # raybench.llm checked its directory
        return None
    if isinstance(model, (str, os.PathLike)):
        if framework == "class":
            raise ConfigError(f"model_class must be a class (got the path {os.fspath(model)!r})")
        if not os.path.exists(model):
            raise ConfigError(f"model_filename must name an existing file (got {os.fspath(model)!r})")
        return None
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
    return None


def _index_file(framework: str, model: Any) -> str | None:
    """The model index file, when ``model`` names one: a ``.json`` file holding
    ``model_configs`` (an MXNet ``-symbol.json`` is a model, not an index)."""
    if framework not in ("torch", "tensorflow", "mxnet") or not isinstance(model, (str, os.PathLike)):
        return None
    path = os.fspath(model)
    if not path.endswith(".json") or not os.path.isfile(path):
        return None
    try:
        return path if read_index_json(path) is not None else None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model_filename names a .json file that is neither a model index nor readable "
                          f"JSON (got {path!r}: {exc})") from None


def _check_picklable(named: dict[str, Any]) -> None:
    """Refuse, before any copy starts, a model or hook that cannot be sent to the copies (a lock,
    an open file, a closure over one): Ray would fail deep inside ``.remote()``.

    Raises:
        ConfigError: names the argument and what could not be pickled.
    """
    from ray import cloudpickle  # Ray is heavy to import, and only copies on Ray need pickling

    for name, value in named.items():
        if value is None or isinstance(value, (str, os.PathLike)):
            continue
        try:
            cloudpickle.dumps(value)
        except Exception as exc:  # noqa: BLE001 - whatever pickling raises is the reason
            raise ConfigError(f"{name} cannot be sent to the copies: {type(exc).__name__}: {exc}") from None


def _share(input_sets: list[Any], multiprocess: bool) -> Any:
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


def benchmark(load_fn: Callable[..., Any], model_filename: str, inputs: Any, **kwargs: Any) -> list[dict[str, Any]] | Results:
    """Benchmark any model: each copy calls ``load_fn(model_filename, device_id=...)`` (or
    ``load_fn(model_filename)``) to get a callable.

    Args:
        load_fn: Builds the model inside each copy; returns a callable ``model(*inputs)``. It may
            take NeuronPerf's ``device_id`` (see :func:`~raybench.backends.base.device_id_of`:
            under Ray it names the copy; the copy's own device is index 0 inside it).
        model_filename: Passed to ``load_fn``; names the model in reports.
        inputs: One input; a tuple is one multi-input call ``model(*inputs)``; a list holds one
            input (or tuple) per entry of ``batch_sizes``.
        batch_sizes: Samples per call for each input set (default [1], with a warning).
        duration: Seconds of measurement per config (default 60), after load and warmup.
        n_models: Copies to run, an int, ``"max"`` or a list (default [1, MAX]; MAX is how many
            copies fit on the cluster: NeuronCores / pipeline size, GPUs, or whole CPUs). More
            CPU copies than CPUs share cores (with a warning; see ``cpus_per_copy``).
        workers_per_model: Concurrent callers per copy (default [1, 2]; [1, p-1] for p > 1).
        pipeline_sizes: NeuronCores per copy (default [1]).
        performance_levels: 0-3: filters a model index (accepted, unused, for a plain model).
        cast_modes: A string or a list, swept and recorded as each config's ``cast_mode``; it
            filters a model index's entries that record one, else each mode loads its own copies
            for ``env_setup_fn``/``setup_fn`` to apply (the Neuron SDK casts at compile time).
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
            3.2 GB; 4.4 GB when kept); a config that reaches it stops early and says so.
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
        load_timeout: Seconds a copy may take to load its model (default 300; status "timeout").
        warmup_timeout: Seconds a config's warmup may take (default 60), plus ``warmup`` when it
            is a time; past it (a first call that never returns) the config fails with status
            "timeout".
        streaming, count_tokens, count_input_tokens, slo, search, search_tolerance, max_steps:
            Streaming models, SLOs and capacity searches (see the README): a call returning an
            iterator streams tokens; ``slo`` gives ``goodput`` and ``slo_ok``; ``search="rate"``
            finds each config's highest rate that meets ``slo`` (``"concurrency"``: workers).

    Returns:
        One report dict per config (a search: per config, its capacity report), or a
        :class:`~raybench.Results` with ``return_timers`` (a search: every probe).

    Raises:
        ConfigError: a bad argument; the message names it, the rule and the value.
        ClusterError: a config needs more NeuronCores or GPUs than the cluster can place.
    """
    return run_benchmark("callable", load_fn, model_filename, inputs, **kwargs)
