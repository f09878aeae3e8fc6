"""What ``inputs`` stands for: NeuronPerf's fixed input sets (one per batch size), or a dataset.

Both are plain data the driver builds once and ships to every copy: a list of input sets (each a
tuple of model arguments), or a :class:`DatasetInput` wrapping the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from raybench.core.checks import positive_ints
from raybench.core.errors import ConfigError


def _refuse(msg: str) -> NoReturn:
    raise ConfigError(msg)


def normalise_inputs(inputs: object, batch_sizes: object) -> tuple[list[tuple[object, ...]], tuple[int, ...]]:
    """Turn NeuronPerf's ``inputs``/``batch_sizes`` conventions into input sets and batch sizes.

    One value is one input; a tuple is a multi-input call ``model(*inputs)``; a list holds one
    input (or tuple) per batch size. ``batch_sizes`` defaults to ``[1]`` for a single input set.

    Returns:
        ``(input_sets, batch_sizes)`` of equal length; each input set is a tuple of arguments.

    Raises:
        ConfigError: missing inputs, or a list of inputs whose length differs from batch_sizes.
    """
    if inputs is None:
        _refuse("inputs must be given: one input, a tuple of inputs, or a list with one per batch size (got None)")
    sets = list(inputs) if isinstance(inputs, list) else [inputs]
    if not sets:
        _refuse("inputs must not be an empty list (got [])")
    input_sets = [x if isinstance(x, tuple) else (x,) for x in sets]
    if batch_sizes is None:
        if len(input_sets) > 1:
            _refuse(f"batch_sizes is required when inputs holds several input sets (got {len(input_sets)} input sets)")
        sizes: tuple[int, ...] = (1,)
    else:
        sizes = positive_ints("batch_sizes", batch_sizes)  # type: ignore[assignment]
    if len(input_sets) == 1 and len(sizes) > 1:
        _refuse(
            f"inputs has 1 input set but batch_sizes has {len(sizes)} entries; "
            "give a list of inputs with one input set per batch size"
        )
    if len(input_sets) != len(sizes):
        entries = "entry" if len(sizes) == 1 else "entries"
        _refuse(
            f"inputs has {len(input_sets)} input sets but batch_sizes has {len(sizes)} {entries}; "
            "give one input set per batch size"
        )
    return input_sets, sizes


@dataclass(frozen=True)
class DatasetInput:
    """The ``inputs`` of a dataset benchmark, as shipped to every copy.

    Attributes:
        source: A map-style dataset (``len`` + ``[i]``), an iterable dataset, or whatever
            ``loader_fn`` accepts.
        loop: Cycle through the data until ``duration`` (True) or run it once per copy.
        loader_fn: NeuronPerf's ``dataset_loader_fn(source, workers_per_model)``, called in each
            copy; it returns the iterable the items come from.
    """

    source: Any
    loop: bool = False
    loader_fn: Callable[[Any, int], Iterable[Any]] | None = None


def is_map_style(source: Any) -> bool:
    """A dataset read by index (``len`` and ``[i]``); a torch IterableDataset is not one."""
    if any(cls.__name__ == "IterableDataset" for cls in type(source).__mro__):
        return False
    return hasattr(source, "__len__") and hasattr(source, "__getitem__")


def looks_like_dataset(inputs: Any) -> bool:
    """True for inputs that are a dataset without being declared one: a torch ``Dataset`` or
    ``DataLoader``, or any iterable that is not a list, tuple, mapping, string or array.

    Lists and tuples keep NeuronPerf's meaning (one input set per batch size, multi-input);
    ``loop_dataset=`` or ``dataset_loader_fn=`` declare them a dataset.
    """
    if type(inputs).__module__.startswith("torch.utils.data"):
        return True
    if isinstance(inputs, (list, tuple, dict, str, bytes)) or hasattr(inputs, "shape"):
        return False
    return hasattr(inputs, "__iter__") or is_map_style(inputs)


def dataset_input(inputs: Any, loop_dataset: bool | None, loader_fn: Any) -> DatasetInput | None:
    """The dataset ``inputs`` stands for, or None for NeuronPerf's fixed input sets.

    Raises:
        ConfigError: the data cannot be shipped to copies.
    """
    if loop_dataset is None and loader_fn is None and not looks_like_dataset(inputs):
        return None
    if loader_fn is None:
        if iter_is_self(inputs):
            msg = (f"inputs must be a dataset every copy can read from the start: a sequence, a torch Dataset "
                   f"or an iterable, not a one-shot iterator or generator (got {type(inputs).__name__}); "
                   "or give dataset_loader_fn")
            _refuse(msg)
        if is_map_style(inputs) and len(inputs) == 0:
            _refuse("inputs must not be an empty dataset (got 0 items)")
    return DatasetInput(inputs, bool(loop_dataset), loader_fn)


def iter_is_self(value: Any) -> bool:
    """True for iterators and generators: consumed once, and not shippable to copies."""
    try:
        return iter(value) is value
    except TypeError:
        return False


def dataset_batch_size(batch_sizes: Any) -> tuple[int, ...]:
    """A dataset's one batch size (one item is one call of that many samples)."""
    if batch_sizes is None:
        return (1,)
    sizes = positive_ints("batch_sizes", batch_sizes)
    if len(sizes) != 1:
        msg = f"batch_sizes must be one size with a dataset: how many samples one item holds (got {batch_sizes!r})"
        _refuse(msg)
    return sizes  # type: ignore[return-value]


