"""raybench.write_html: one self-contained page from real runs, read back with the standard
library's HTML parser, and opened in a real headless Chromium when one is installed."""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser

import numpy as np
import pytest

import raybench
from raybench.core.errors import ConfigError
from raybench.report.html import render_html

HOSTILE = "<script>alert('pwned')</script>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Seconds Chromium may take to render a page before the test gives up on it.
BROWSER_TIMEOUT_S = 120


class PickyDevice:
    """Takes 5 ms a call, and refuses batches of two (an error with markup in it)."""

    def __call__(self, x):
        if len(x) == 2:
            raise RuntimeError("batch of 2 <b>refused</b> & dropped")
        time.sleep(0.005)
        return x


class ShortStream:
    """First chunk after 20 ms, then five chunks 4 ms apart."""

    def __call__(self, x):
        time.sleep(0.02)
        yield "t"
        for _ in range(5):
            time.sleep(0.004)
            yield "t"


class Page(HTMLParser):
    """What the tests look at: each table's rows of cell texts (by id), the images' sources,
    the tags used, and the text of every element with an id."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[dict[str, str]] = []
        self.tags: set[str] = set()
        self.texts: dict[str, str] = {}
        self._table: str | None = None
        self._open: list[str] = []  # ids of the open elements that have one
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.tags.add(tag)
        if tag == "table":
            self._table = attributes.get("id", f"table{len(self.tables)}")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attributes)
        if "id" in attributes and tag not in ("img",):
            self._open.append(attributes["id"])
            self.texts[attributes["id"]] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for ident in self._open:
            self.texts[ident] += data

    def rows(self, table_id: str) -> list[dict[str, str]]:
        """A table's body rows as dicts keyed by header."""
        header, *body = self.tables[table_id]
        return [dict(zip(header, row)) for row in body]


@pytest.fixture(scope="module")
def sweep(ray_session):
    """A real run on the session's Ray: n_models 1 and 2 at batch 1 (ok), both at batch 2 (fail)."""
    return raybench.cpu.benchmark(PickyDevice, [np.zeros(1), np.zeros(2)], batch_sizes=[1, 2], n_models=[1, 2],
                                  workers_per_model=[1], duration=1.0, return_timers=True, verbosity=0,
                                  model_name=HOSTILE)


@pytest.fixture(scope="module")
def page_path(sweep, tmp_path_factory) -> str:
    return raybench.write_html(sweep, tmp_path_factory.mktemp("html") / "run.html")


@pytest.fixture(scope="module")
def text(page_path) -> str:
    with open(page_path, encoding="utf-8") as file:
        return file.read()


@pytest.fixture(scope="module")
def page(text) -> Page:
    return Page(text)


def test_the_page_holds_reports_metadata_and_the_breakdown(page, sweep):
    assert {"reports", "metadata", "nodes", "copies"} <= set(page.tables)
    rows = page.rows("reports")
    assert len(rows) == 4
    assert {"throughput (samples/s)", "p50 (ms)", "p90 (ms)", "p99 (ms)", "p99.9 (ms)", "n_models", "workers per model",
            "batch size", "pipeline size", "model"} <= set(rows[0])
    assert len(page.rows("copies")) == sum(len(outcome.copies) for outcome in sweep.outcomes) >= 3
    metadata = {row[0]: row[1] for row in page.tables["metadata"]}
    assert metadata["host"] and metadata["raybench"] == raybench.__version__
    assert "started" in metadata and "host CPU load" in metadata


def test_reports_run_best_first_by_throughput_and_failed_configs_last(page, sweep):
    rows = page.rows("reports")
    throughputs = [float(row["throughput (samples/s)"].replace(",", "")) for row in rows[:2]]
    assert throughputs == sorted(throughputs, reverse=True)
    assert [row["status"] for row in rows] == ["finished", "finished", "error", "error"]
    assert [row["n_models"] for row in rows[:2]] == ["2", "1"]  # two copies of a 5 ms device serve more


def test_numbers_are_right_aligned(text):
    assert re.search(r'<th class="num" scope="col">throughput \(samples/s\)</th>', text)
    assert "th.num, td.num { text-align: right;" in text


def test_plots_are_embedded_png_data_uris(page):
    assert len(page.images) == 4
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(img["src"].split(",", 1)[1], validate=True)
        assert png.startswith(PNG_SIGNATURE)
        assert int(img["width"]) > 100 and int(img["height"]) > 100


def test_nothing_is_fetched_from_anywhere(text, page):
    assert not re.search(r"https?://", text)
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert "url(" not in text and "@import" not in text
    assert all(img["src"].startswith("data:") for img in page.images)


def test_a_hostile_model_name_is_shown_not_run(text, page):
    assert HOSTILE not in text
    assert html.escape(HOSTILE) in text
    assert "script" not in page.tags
    assert {row["model"] for row in page.rows("reports")} == {HOSTILE}  # the parser unescapes it back


def test_a_failing_config_is_warned_about_with_its_one_line_error(page, sweep):
    warnings = page.texts["warnings"]
    failed = [r for r in raybench.get_reports(sweep) if r["status"] != "finished"]
    assert len(failed) == 2
    for report in failed:
        assert f"Config #{report['config_id']} (n_models={report['n_models']}" in warnings
    assert warnings.count("RuntimeError: batch of 2 <b>refused</b> & dropped") == 2


def test_an_existing_file_is_refused_unless_overwrite(sweep, text, tmp_path):
    path = tmp_path / "run.html"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="already exists"):
        raybench.write_html(sweep, path)
    assert path.read_text(encoding="utf-8") == text
    assert raybench.write_html(sweep, path, overwrite=True, dpi=50) == os.fspath(path)
    assert path.read_text(encoding="utf-8") != text
    assert os.listdir(tmp_path) == ["run.html"]  # no temporary file left beside it


def test_without_matplotlib_the_page_still_writes_and_says_why(sweep, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # what an uninstalled package looks like to import
    path = raybench.write_html(sweep, tmp_path / "bare.html")
    page = Page(open(path, encoding="utf-8").read())
    assert not page.images
    assert "pip install 'raybench[plot]'" in page.texts["no-plots"]
    assert len(page.rows("reports")) == 4


def test_a_streaming_run_embeds_its_token_plots_too(tmp_path):
    results = raybench.cpu.benchmark(ShortStream, 1, batch_sizes=1, n_models=1, workers_per_model=[1, 2],
                                     duration=1, multiprocess=False, return_timers=True, verbosity=0)
    page = Page(open(raybench.write_html(results, tmp_path / "stream.html"), encoding="utf-8").read())
    assert len(page.images) == 6
    assert {"tokens/s", "TTFT p50 (ms)", "ITL p50 (ms)"} <= set(page.rows("reports")[0])


def test_a_capacity_search_shows_its_answer_and_its_plots(tmp_path):
    results = raybench.cpu.benchmark(raybench.testing.SimulatedDevice, np.zeros(1), batch_sizes=1, n_models=1,
                                     workers_per_model=1, duration=0.5, search="rate", max_steps=3,
                                     slo={"latency_ms_p99": 30}, multiprocess=False, return_timers=True, verbosity=0)
    page = Page(open(raybench.write_html(results, tmp_path / "search.html"), encoding="utf-8").read())
    (answer,) = page.rows("capacity")
    assert answer["capacity (req/s)"] != "–" or answer["note"]
    assert len(page.images) == 6
    assert len(page.rows("reports")) == len(results.configs)


def test_a_config_that_did_not_converge_is_warned_about(tmp_path):
    results = raybench.cpu.benchmark(raybench.testing.SimulatedDevice, np.zeros(1), batch_sizes=1, n_models=1,
                                     workers_per_model=1, duration=0.5, stability=1e-6, max_duration=1,
                                     stability_window=0.1, multiprocess=False, return_timers=True, verbosity=0)
    assert raybench.get_reports(results)[0]["converged"] is False
    page = Page(render_html(results))
    assert "did not converge" in page.texts["warnings"]
    assert page.rows("reports")[0]["converged"] == "no"


def test_bad_arguments_are_refused_naming_them(sweep, tmp_path):
    with pytest.raises(ConfigError, match=r"results must be a raybench Results .*\(got list\)"):
        raybench.write_html([], tmp_path / "x.html")
    with pytest.raises(ConfigError, match=r"dpi must be a positive number of dots per inch \(got 0\)"):
        raybench.write_html(sweep, tmp_path / "x.html", dpi=0)
    assert not os.path.exists(tmp_path / "x.html")


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on this machine (skip when there is none), its profile in ``tmp_path``."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not on PATH (scripts/test.sh installs Debian's chromium when run as root)")
    command = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=True)


def test_chromium_renders_a_page_that_is_not_blank(page_path, tmp_path):
    shot = tmp_path / "page.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars",
              f"file://{os.path.abspath(page_path)}")
    image_module = pytest.importorskip("PIL.Image")
    with image_module.open(shot) as picture:
        assert picture.size == (1280, 2000)
        pixels = np.asarray(picture.convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    assert len(colours) > 50  # text, table stripes, the warning box and the plots' lines
    assert (pixels.min(axis=1) < 128).mean() > 0.005  # some dark ink on the page


def test_chromium_decodes_every_embedded_image(page_path, tmp_path, page):
    """A copy of the page with a probe script writes each image's decoded size into the DOM."""
    with open(page_path, encoding="utf-8") as file:
        probe = file.read().replace("</body>", "<script>addEventListener('load', () => { for (const img of "
                                    "document.images) img.dataset.decoded = img.naturalWidth + 'x' + img.naturalHeight;"
                                    " document.body.dataset.probed = 'yes'; });</script></body>")
    probe_path = tmp_path / "probe.html"
    probe_path.write_text(probe, encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=10000", f"file://{probe_path}").stdout
    assert 'data-probed="yes"' in dom
    decoded = re.findall(r'data-decoded="(\d+)x(\d+)"', dom)
    assert len(decoded) == len(page.images) == 4
    sizes = {(img["width"], img["height"]) for img in page.images}
    assert set(decoded) == sizes and all(int(w) > 0 for w, _ in decoded)
