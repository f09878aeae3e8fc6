"""The public namespace: NeuronPerf's names are there, and __all__ tells the truth."""

from __future__ import annotations

import raybench

NEURONPERF_NAMES = {"benchmark", "set_verbosity", "cpu", "torch", "DummyModel", "CSV_COLS", "PRINT_COLS",
                    "get_reports", "print_reports", "write_csv", "write_json", "timestamp_convert", "Timer"}


def test_all_matches_the_public_namespace():
    public = {name for name in vars(raybench) if not name.startswith("_")} | {"__version__"}
    # The rooms are attributes once imported, but not the API: the public names come from them.
    submodules_only_imported = {"cli", "core", "backends", "engine", "report", "run", "telemetry",
                                "testing_neuron_monitor"} & public  # the stand-in, once a test imported it
    assert set(raybench.__all__) == public - submodules_only_imported
    assert sorted(raybench.__all__) == raybench.__all__


def test_neuronperf_top_level_names_exist():
    assert NEURONPERF_NAMES <= set(raybench.__all__)


def test_set_verbosity_rejects_other_levels():
    import pytest

    with pytest.raises(raybench.ConfigError, match=r"^verbosity must be 0, 1 or 2 \(got 3\)$"):
        raybench.set_verbosity(3)
