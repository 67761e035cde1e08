"""The pipeline's report page renders in headless Chromium, without console errors, with every
section present and every plot area visibly non-blank.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on
fd 3, events and replies on fd 4, NUL-separated JSON), which gives us console messages,
exceptions, log entries and the layout boxes of the plots without a network port or a driver.
The page comes from a real pipeline run over a small source tree when the pipeline is
installed; its data (shards, manifest) is therefore the real contract.
"""
from __future__ import annotations

import base64
import io
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.report import SECTIONS, write_report

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
REPO = Path(__file__).resolve().parents[1]

# A tiny source tree: near-duplicates (a cluster), documented functions in two languages, and
# one file that the filters reject (a long line).
PY_TEMPLATE = '''"""Module {i}."""


def compute_total_{i}(items, scale):
    """Compute the scaled total of the given items for batch {i}.

    Args:
        items: numbers.
    """
    total = 0
    for value in items:
        total += value * scale
    if total < 0:
        total = -total
    return total


class Store{i}:
    def fetch_record(self, key, default=None):
        """Fetch the stored record for a key, or the default when it is missing."""
        value = self._data.get(key)
        if value is None:
            value = default
        return value
'''
JAVA_TEMPLATE = '''package demo;

public class Greeter{i} {{
    /**
     * Build a friendly greeting message for the given user name.
     * @param name the user
     */
    public String greet(String name) {{
        String message = "Hello, " + name;
        message = message.trim();
        return message;
    }}
}}
'''


def _chromium() -> str | None:
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    return shutil.which("chromium")


class Browser:
    """Minimal DevTools-protocol client over --remote-debugging-pipe."""

    def __init__(self, binary: str, profile: Path, width: int = 1200, height: int = 900):
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()
        # Chromium reads commands on fd 3 and writes on fd 4: dup our pipe ends there in the child.
        def preexec():
            # move both ends out of the way first: either may already sit on fd 3 or 4
            r, w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--window-size={width},{height}",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=preexec, close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from chromium")
            ready, _, _ = select.select([self._from_child_r], [], [], remaining)
            if ready:
                chunk = os.read(self._from_child_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe: " + self.proc.stderr.read().decode(errors="replace")[-2000:])
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events[i]
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child_w)
        os.close(self._from_child_r)


def _make_tree(root: Path) -> Path:
    tree = root / "toyproject"
    (tree / "pkg").mkdir(parents=True)
    (tree / "java").mkdir()
    for i in range(6):
        (tree / "pkg" / f"mod_{i}.py").write_text(PY_TEMPLATE.format(i=i))
    # near-duplicates of mod_0 (same code, small edits) form a cluster
    for j in range(3):
        (tree / "pkg" / f"copy_{j}.py").write_text(PY_TEMPLATE.format(i=0) + f"\n# copy {j}\n")
    for i in range(4):
        (tree / "java" / f"Greeter{i}.java").write_text(JAVA_TEMPLATE.format(i=i))
    (tree / "pkg" / "long_line.py").write_text("x = '" + "a" * 5000 + "'\n")
    return tree


@pytest.fixture(scope="module")
def pipeline_out(tmp_path_factory) -> Path:
    """A real pipeline output over a small source tree, with its report written."""
    root = tmp_path_factory.mktemp("report")
    tree = _make_tree(root)
    out = root / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(tree), "--output", str(out)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, f"pipeline failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    if not (out / "report.html").exists():  # the pipeline calls write_report itself; make sure
        write_report(out)
    return out


def _synthetic_out(out: Path, n_pairs: int = 300, manifest_extra: dict | None = None) -> Path:
    """A schema-valid output folder with known numbers, built without the pipeline.

    Splits: files 32 train / 4 valid / 4 test, pairs 270 train / 15 valid / 15 test (n_pairs=300).
    `manifest_extra` updates the manifest (top-level keys replaced)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import FILES_SCHEMA, PAIRS_SCHEMA, REJECTED_SCHEMA, validate

    for sub in ("files", "pairs", "rejected"):
        (out / sub).mkdir(parents=True)
    files = [{"id": f"f{i}", "lang": "python", "repo": "r", "path": f"m{i}.py", "licenses": ["MIT"],
              "content": "x = 1\n", "size": 6, "identifiers": [], "cluster_id": f"f{i}",
              "cluster_size": 1 + (i % 3 == 0) + 5 * (i == 0),
              "split": {1: "valid", 2: "test"}.get(i % 10, "train")} for i in range(40)]
    pairs = [{"id": f"f{i % 40}:{i}", "file_id": f"f{i % 40}", "lang": ("python", "java")[i % 2], "repo": "r",
              "path": f"m{i}.py", "split": {1: "valid", 2: "test"}.get(i % 20, "train"), "name": f"fn{i}",
              "start_line": 1, "end_line": 5,
              "docstring": "Doc " * (i % 17 + 1), "summary": f"Summary <script>alert({i})</script> & more",
              "code": "x = 1\n" * (i % 7 + 2), "code_hard": "if a < b:\n    pass\n" * (i % 5 + 1)}
             for i in range(n_pairs)]
    rejected = ([{"id": f"d{i}", "lang": "python", "path": "p", "stage": "near_dedup", "reason": "near_duplicate",
                  "kept_id": "f0"} for i in range(7)]
                + [{"id": f"l{i}", "lang": "java", "path": "p", "stage": "filter", "reason": "max_line_length>1000",
                    "kept_id": None} for i in range(3)])
    shards = []
    for table, rows, schema, n in (("files", files, FILES_SCHEMA, 2), ("pairs", pairs, PAIRS_SCHEMA, 3),
                                   ("rejected", rejected, REJECTED_SCHEMA, 1)):
        for k in range(n):
            part = validate(pa.Table.from_pylist(rows[k::n], schema=schema), table)
            rel = f"{table}/part-{k:05d}-of-{n:05d}.parquet"
            pq.write_table(part, out / rel, row_group_size=37)
            shards.append({"table": table, "path": rel, "rows": part.num_rows,
                           "bytes": (out / rel).stat().st_size, "sha256": "0" * 64})
    manifest = {"schema_version": 1, "options": {"input": ["synthetic"], "seed": 0},
                "counts": {"read": {"python": 50, "java": 3}, "filter_kept": {"python": 50, "java": 0}},
                "shards": shards, "lsh": {"b": 9, "r": 13, "threshold": 0.7, "num_perm": 256,
                        "s_curve": [{"s": s / 10, "p_candidate": 1 - (1 - (s / 10) ** 13) ** 9} for s in range(11)]}}
    manifest.update(manifest_extra or {})
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_report_numbers_and_escaping_on_known_data(tmp_path: Path):
    from pipeline.report import cluster_stats, length_samples, rejection_counts, sample_pairs

    out = _synthetic_out(tmp_path / "out")
    page = Path(write_report(out, examples_per_lang=4)).read_text(encoding="utf-8")
    rejected = sorted(str(p) for p in (out / "rejected").glob("*.parquet"))
    assert rejection_counts(rejected) == {("near_dedup", "near_duplicate"): 7, ("filter", "max_line_length>1000"): 3}
    hist, largest = cluster_stats(sorted(str(p) for p in (out / "files").glob("*.parquet")), top=3)
    assert hist == {1: 26, 2: 13, 7: 1} and [c["size"] for c in largest] == [7, 2, 2]
    assert largest[0]["cluster_id"] == "f0"
    pairs = sorted(str(p) for p in (out / "pairs").glob("*.parquet"))
    lengths = length_samples(pairs, max_rows=60)
    assert set(lengths) == {"docstring", "summary", "code", "code_hard"} and len(lengths["code"]) == 60
    chosen = sample_pairs(pairs, per_lang=4, seed=1)
    assert {k: len(v) for k, v in chosen.items()} == {"java": 4, "python": 4}
    assert chosen == sample_pairs(pairs, per_lang=4, seed=1)          # seeded
    assert chosen != sample_pairs(pairs, per_lang=4, seed=2)
    assert "<script>" not in page and "&lt;script&gt;alert(" in page  # user text is escaped
    assert "if a &lt; b:" in page
    assert "b=9 bands of r=13" in page


def test_cluster_sentence_splits_removed_files_by_stage(pipeline_out: Path):
    """Clusters count exact and near duplicates; the page used to say every removed member was in
    rejected/ with stage near_dedup."""
    import re

    manifest = json.loads((pipeline_out / "manifest.json").read_text())
    page = (pipeline_out / "report.html").read_text(encoding="utf-8")
    exact = sum(manifest["counts"].get("rejected.exact_dedup", {}).values())
    near = sum(manifest["counts"].get("rejected.near_dedup", {}).values())
    assert near > 0
    m = re.search(r"<code>rejected/</code>: ([\d,]+) with stage exact_dedup, identical after normalization, and "
                  r"([\d,]+) with stage near_dedup", page)
    assert m and (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))) == (exact, near)


def test_report_has_every_section_and_escapes(pipeline_out: Path):
    page = (pipeline_out / "report.html").read_text(encoding="utf-8")
    for key, title in SECTIONS:
        assert f'<section id="{key}">' in page, key
        assert f"<h2>{title}</h2>" in page, title
    # no external resources: every src is a data URI and nothing is fetched
    assert "http://" not in page.split("<body>")[0] and "<script" not in page
    for chunk in page.split('src="')[1:]:
        assert chunk.startswith("data:image/png;base64,")
    # both languages have example pairs, and code is escaped (Java's generics/strings would break HTML)
    assert 'id="examples-python"' in page and 'id="examples-java"' in page
    assert "&quot;Hello, &quot;" in page or "&#x27;" in page or "&quot;" in page


LAYOUT_JS = """
    JSON.stringify({
      headings: [...document.querySelectorAll('section > h2')].map(h => h.textContent),
      plots: [...document.querySelectorAll('img.plot')].map(img => {
         const r = img.getBoundingClientRect();
         return {id: img.id, ok: img.complete && img.naturalWidth > 0,
                 x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
      }),
      viewport: window.innerWidth,
      width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight})"""


def _require_chromium() -> str:
    binary = _chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return binary


def render(page: Path, profile: Path, width: int = 1200, mobile: bool = False) -> tuple[list[str], dict, bytes]:
    """Load `page` in headless Chromium: (console errors and exceptions, layout info, full-page PNG).

    `mobile`: emulate a phone screen `width` CSS pixels wide (viewport meta honoured)."""
    browser = Browser(_require_chromium(), profile, width=width)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        if mobile:  # a phone-sized viewport that honours <meta name="viewport"> (windows have a minimum width)
            browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                                 "mobile": True}, session=session)
        browser.send("Page.navigate", {"url": page.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired", timeout=60)
        layout = browser.send("Runtime.evaluate", {"returnByValue": True, "expression": LAYOUT_JS}, session=session)
        info = json.loads(layout["result"]["value"])
        shot = browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": info["width"], "height": info["height"], "scale": 1}},
            session=session, timeout=120)
    finally:
        browser.close()
    errors = []
    for ev in browser.events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(f'{details.get("text")} {details.get("exception", {}).get("description", "")}'.strip())
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f'{params["entry"].get("text")} {params["entry"].get("url", "")}'.strip())
    return errors, info, base64.b64decode(shot["data"])


def test_console_error_detection_can_fail(tmp_path: Path):
    """The checker itself: a page with a console error, an uncaught exception and a broken image."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><h1>x</h1><img src='missing.png'>"
                   "<script>console.error('boom'); throw new Error('uncaught one');</script></body></html>")
    errors, _, _ = render(bad, tmp_path / "profile")
    text = " ".join(str(e) for e in errors)
    assert "boom" in text and "uncaught one" in text and "missing.png" in text, errors


def test_report_renders_in_chromium_without_errors(pipeline_out: Path, tmp_path: Path):
    errors, info, png = render(pipeline_out / "report.html", tmp_path / "profile")
    assert not errors, f"console errors: {errors}"

    assert info["headings"] == [title for _, title in SECTIONS]
    expected_plots = {"plot-counts", "plot-rejections", "plot-clusters", "plot-lsh", "plot-lengths"}
    assert expected_plots <= {p["id"] for p in info["plots"]}
    (pipeline_out / "report-screenshot.png").write_bytes(png)
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    scale = image.shape[1] / info["width"]
    for plot in info["plots"]:
        assert plot["ok"], f"{plot['id']} did not load"
        assert plot["w"] > 200 and plot["h"] > 100, plot
        x0, y0 = int(plot["x"] * scale), int(plot["y"] * scale)
        x1, y1 = int((plot["x"] + plot["w"]) * scale), int((plot["y"] + plot["h"]) * scale)
        region = image[y0:y1, x0:x1]
        assert region.size, plot
        dark = float((region < 200).mean())
        # a drawn plot has axes, labels and marks: some dark pixels and real contrast, not a blank box
        assert region.std() > 20 and 0.01 < dark < 0.9, (plot["id"], region.std(), dark)
    # and the page outside the plots is not blank either (text rendered)
    assert image.std() > 10


# ---------------------------------------------------------------------------------------------
# presentation (browser audit): chart scales, order of the stage columns, wording, what was read
# and how it was split, explanations of the codes, narrow screens, number formats


def _section_html(page: str, key: str) -> str:
    start = page.index(f'<section id="{key}">')
    return page[start:page.index("</section>", start)]


def _rows(fragment: str) -> list[list[str]]:
    """The rows of the HTML tables in `fragment`, cells as plain text (tags such as <wbr> dropped)."""
    import html as _html
    import re

    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", fragment, flags=re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.S)
        rows.append([_html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
    return rows


@pytest.fixture
def captured_figures(monkeypatch):
    """The matplotlib figures the plot functions draw, laid out, instead of their PNGs."""
    import matplotlib.pyplot as plt

    from pipeline import report_plots

    figs = []

    def keep(fig):
        fig.tight_layout()
        fig.canvas.draw()
        figs.append(fig)
        return "data:image/png;base64,"

    monkeypatch.setattr(report_plots, "_to_data_uri", keep)
    yield figs
    for fig in figs:
        plt.close(fig)


def test_log_bar_charts_start_at_half_and_print_counts(captured_figures):
    """Log-scaled bars used to start wherever matplotlib's autoscale put the axis (a cluster count
    of 2 was a sliver, an all-ones chart spanned 10^-1..10^1) and carried no numbers."""
    from pipeline import report_plots

    report_plots.cluster_histogram({1: 1, 2: 1, 3: 1})
    report_plots.cluster_histogram({1: 1646, 2: 15, 24: 1})
    report_plots.rejection_bars([("pair_filter: body_lines<2", 2266), ("read: invalid_utf8", 2)])
    (ones,), (clusters,), (reasons,) = (f.axes for f in captured_figures)
    assert ones.get_ylim()[0] == pytest.approx(0.5) and ones.get_ylim()[1] > 1
    assert clusters.get_ylim()[0] == pytest.approx(0.5) and clusters.get_ylim()[1] > 1646
    assert reasons.get_xlim()[0] == pytest.approx(0.5) and reasons.get_xlim()[1] > 2266
    assert [t.get_text() for t in ones.texts] == ["1", "1", "1"]
    assert [t.get_text() for t in clusters.texts] == ["1,646", "15", "1"]
    assert [t.get_text() for t in reasons.texts] == ["2,266", "2"]
    # the labels fit inside the axes (headroom above / right of the longest bar)
    for ax in (ones, clusters, reasons):
        box = ax.get_window_extent()
        for text in ax.texts:
            label = text.get_window_extent()
            assert box.x0 - 1 <= label.x0 and label.x1 <= box.x1 + 1 and label.y1 <= box.y1 + 1, text.get_text()


def test_stage_chart_legend_is_outside_the_bars_with_headroom(captured_figures):
    """The legend sat inside the axes on the tallest bars, and the tallest bar touched the top."""
    from pipeline import report_plots

    counts = {"read": {"c": 3, "python": 1788}, "filter_kept": {"c": 3, "python": 1752},
              "near_dedup_kept": {"c": 3, "python": 1670}, "files": {"c": 3, "python": 1670},
              "pairs": {"python": 5849}}
    report_plots.stage_bars(counts, list(counts), ["c", "python"])
    (ax,) = [a for a in captured_figures[0].axes]
    legend = ax.get_legend().get_window_extent()
    box = ax.get_window_extent()
    assert not box.overlaps(legend), (box, legend)
    assert legend.x1 <= captured_figures[0].bbox.x1 + 1          # and it is not cut off by the figure
    tallest = max(bar.get_window_extent().y1 for bar in ax.patches)
    assert box.y1 - tallest > 10, "no headroom above the tallest bar"


def test_s_curve_keeps_the_end_markers_inside(captured_figures):
    from pipeline import report_plots

    report_plots.s_curve(25, 10, 0.7, [(0.0, 0.0), (1.0, 1.0)])
    (ax,) = captured_figures[0].axes
    (lo, hi), (bottom, top) = ax.get_xlim(), ax.get_ylim()
    assert lo < 0 and hi > 1.0 and bottom < 0 and top > 1.0


def test_stage_columns_put_written_files_before_pairs(tmp_path: Path):
    """`files` had no rank and came after `pairs` ("... near_dedup_kept, pairs, files")."""
    from pipeline.report import _stage_order

    stages = ["pairs", "files", "near_dedup_kept", "read", "exact_dedup_kept", "filter_kept"]
    assert _stage_order(stages) == ["read", "filter_kept", "exact_dedup_kept", "near_dedup_kept", "files", "pairs"]
    counts = {stage: {"python": 5} for stage in stages}
    counts["read_not_selected"] = {"go": 4}
    out = _synthetic_out(tmp_path / "out", manifest_extra={"counts": counts})
    page = Path(write_report(out)).read_text(encoding="utf-8")
    header = _rows(_section_html(page, "counts"))[0]
    # read_not_selected counts skipped rows, not rows remaining: it is with the inputs instead
    assert header == ["language", "read", "filter_kept", "exact_dedup_kept", "near_dedup_kept", "files", "pairs"]


def test_cluster_sentence_names_its_files_and_agrees_in_number(tmp_path: Path):
    """It said "N input files" for the files that passed the filters, and "1 clusters hold"."""
    counts = {"read": {"python": 6}, "filter_kept": {"python": 5}, "rejected.exact_dedup": {"python": 1}}
    clusters = {"size_histogram": {"1": 3, "2": 1}, "largest": [
        {"cluster_id": "f0", "lang": "python", "path": "m0.py", "size": 2}]}
    out = _synthetic_out(tmp_path / "out", manifest_extra={"counts": counts, "clusters": clusters})
    section = _section_html(Path(write_report(out)).read_text(encoding="utf-8"), "clusters")
    assert "4 clusters over the 5 files that passed the filters; 1 cluster holds more than one file" in section
    assert "input files" not in section and "1 clusters" not in section
    assert "<h2>Near-duplicate clusters</h2>" in section


def test_cluster_section_says_when_near_dedup_was_off(tmp_path: Path):
    """With --no-near-dedup the clusters are exact-duplicate groups; the page still called them
    near-duplicate clusters and counted near_dedup removals."""
    import re

    counts = {"read": {"python": 4}, "filter_kept": {"python": 4}, "rejected.exact_dedup": {"python": 1}}
    out = _synthetic_out(tmp_path / "out", manifest_extra={
        "counts": counts, "lsh": {"enabled": False},
        "clusters": {"size_histogram": {"1": 2, "2": 1}, "largest": [
            {"cluster_id": "f0", "lang": "python", "path": "m0.py", "size": 2}]}})
    page = Path(write_report(out)).read_text(encoding="utf-8")
    section = _section_html(page, "clusters")
    title = re.search(r"<h2>(.*?)</h2>", section).group(1)
    assert title == "Duplicate clusters (exact only: near dedup was off)"
    assert "<code>--no-near-dedup</code>" in section and "stage near_dedup" not in section
    assert "3 clusters over the 4 files that passed the filters; 1 cluster holds more than one file" in section
    assert f'href="#clusters">{title}</a>' in page


def test_cluster_histogram_names_exact_clusters_when_near_dedup_was_off(captured_figures):
    from pipeline import report_plots

    report_plots.cluster_histogram({1: 2, 2: 1}, "exact-duplicate")
    (ax,) = captured_figures[0].axes
    assert ax.get_title() == "Exact-duplicate cluster sizes" and "near" not in ax.get_xlabel()


def test_summary_shows_inputs_run_and_split(tmp_path: Path):
    """The page never said what was read (the manifest's inputs), how the run went (run block) or
    how files and pairs were split into train / valid / test."""
    counts = {"read": {"python": 50, "java": 3}, "rejected.read": {"python": 2}, "read_not_selected": {"go": 7},
              "filter_kept": {"python": 50, "java": 0}}
    out = _synthetic_out(tmp_path / "out", manifest_extra={
        "counts": counts,
        "inputs": {"parquet_files": 2, "parquet_row_groups": 3, "parquet_rows": 1234, "jsonl_files": 1,
                   "trees": ["/src/<tree>"]},
        "run": {"runner": "DirectRunner (in-process FnApiRunner)", "seconds": 76.036}})
    section = _section_html(Path(write_report(out)).read_text(encoding="utf-8"), "summary")
    assert "&lt;tree&gt;" in section and "<tree>" not in section      # escaped
    rows = _rows(section)
    assert ["Parquet files", "2 (3 row groups, 1,234 rows as their footers say)"] in rows
    assert ["JSONL files", "1"] in rows
    assert ["runner", "DirectRunner (in-process FnApiRunner)"] in rows and ["wall time", "76.0 s"] in rows
    header = next(r for r in rows if r[:3] == ["language", "read", "rejected at read"])
    assert header == ["language", "read", "rejected at read", "not selected (--languages)", "seen"]
    assert ["go", "0", "0", "7", "7"] in rows and ["python", "50", "2", "0", "52"] in rows
    assert ["total", "53", "2", "7", "62"] in rows
    # the split, from the shards' split column
    assert ["split", "files", "share", "pairs", "share"] in rows
    assert ["train", "32", "80.0%", "270", "90.0%"] in rows
    assert ["valid", "4", "10.0%", "15", "5.0%"] in rows and ["test", "4", "10.0%", "15", "5.0%"] in rows


def test_summary_split_prefers_the_manifest_when_it_has_one(tmp_path: Path):
    out = _synthetic_out(tmp_path / "out", manifest_extra={
        "splits": {"files": {"train": 7, "valid": 2, "test": 1}, "pairs": {"train": 9, "test": 1}}})
    rows = _rows(_section_html(Path(write_report(out)).read_text(encoding="utf-8"), "summary"))
    assert ["train", "7", "70.0%", "9", "90.0%"] in rows and ["valid", "2", "20.0%", "0", "0.0%"] in rows


def test_codes_are_explained(tmp_path: Path):
    """Reject reasons, count names and LSH fields were bare codes; the examples note said code_hard
    is the body without signature and return statements (its docstring is removed too)."""
    out = _synthetic_out(tmp_path / "out", manifest_extra={"lsh": {
        "enabled": True, "b": 9, "r": 13, "threshold": 0.7, "false_negative_area": 0.026021727000221366}})
    page = Path(write_report(out)).read_text(encoding="utf-8")
    rejections = _rows(_section_html(page, "rejections"))
    assert ["filter", "max_line_length>1000", "3", "a line longer than 1000 characters (--max-line-length)"] \
        in rejections
    assert any(r[:2] == ["near_dedup", "near_duplicate"] and "kept_id" in r[3] for r in rejections)
    assert "docs/pipeline.md" in _section_html(page, "rejections")
    counts = _rows(_section_html(page, "counts"))
    assert any(r[0] == "filter_kept" and "passed every file filter" in r[1] for r in counts)
    assert any(r[0] == "read" and "read successfully" in r[1] for r in counts)
    lsh = _rows(_section_html(page, "lsh"))
    assert any(r[0] == "false_negative_area" and "missed" in r[2] for r in lsh)
    note = _section_html(page, "examples").split("</p>")[0]
    assert "code_hard" in note and "docstring" in note and "signature" in note and "return statements" in note

    from pipeline.report import reason_meaning

    for reason, words in [("size<1", "smaller than 1 byte"), ("size>1000000", "larger than 1000000 bytes"),
                          ("body_lines<2", "shorter than 2 non-empty lines"),
                          ("empty_hard_positive", "code_hard"), ("summary_tokens<3", "shorter than 3 tokens"),
                          ("summary_not_english:fr", "\u201cfr\u201d"), ("auto_generated:do not edit", "do not edit"),
                          ("exact_duplicate", "identical"), ("near_duplicate jaccard>=0.70", "at least 0.70"),
                          ("near_duplicate minhash_lsh>=0.70 (unverified)", "not verified"),
                          ("duplicate_id", "same id"), ("max_line_length>1000", "longer than 1000"),
                          ("invalid_utf8", "UTF-8"), ("parse_timeout", "budget")]:
        assert words in reason_meaning(reason), reason
    assert reason_meaning("something_new") == ""


def test_length_table_uses_thousands_separators_throughout(monkeypatch):
    """The length table mixed "p95 1984" with "max 11,440"."""
    from pipeline import report

    monkeypatch.setattr(report, "length_samples", lambda paths, max_rows: {"code": np.arange(1000, 12001)})
    rows = _rows(report._lengths_section(["unused"], 10))
    assert rows[1] == ["code", "11,001", "1,550", "6,500", "11,450", "12,000"]


def test_lsh_table_formats_values_like_the_options_table(tmp_path: Path):
    """The LSH table printed Python's True and 17-digit floats."""
    out = _synthetic_out(tmp_path / "out", manifest_extra={"lsh": {
        "enabled": True, "b": 25, "r": 10, "threshold": 0.7, "verify": True,
        "false_negative_area": 0.026021727000221366, "false_positive_area": 0.03800524858390425}})
    lsh = _section_html(Path(write_report(out)).read_text(encoding="utf-8"), "lsh")
    values = {r[0]: r[1] for r in _rows(lsh)[1:]}
    assert values["verify"] == "true" and values["enabled"] == "true"
    assert values["false_negative_area"] == "0.02602" and values["false_positive_area"] == "0.03801"
    assert values["b"] == "25" and values["threshold"] == "0.7"


def test_title_names_the_output_folder(tmp_path: Path):
    out = _synthetic_out(tmp_path / "q&a-run")
    page = Path(write_report(out)).read_text(encoding="utf-8")
    assert "<title>Pipeline report: q&amp;a-run</title>" in page


def test_largest_clusters_say_how_many_and_show_the_repo(tmp_path: Path, pipeline_out: Path):
    """The table gave no total and no repo (paths alone are ambiguous across repositories)."""
    # computed from the files shards (no clusters block): sizes {1: 26, 2: 13, 7: 1}
    out = _synthetic_out(tmp_path / "out")
    section = _section_html(Path(write_report(out)).read_text(encoding="utf-8"), "clusters")
    assert "<h3>Largest clusters (top 14 of 14 clusters with more than one file)</h3>" in section
    rows = _rows(section)
    assert rows[0] == ["cluster (survivor id)", "language", "repo", "survivor path", "size"]
    assert rows[1] == ["f0", "python", "r", "m0.py", "7"]
    # from the manifest (whose largest clusters carry no repo): looked up in files/
    manifest = json.loads((pipeline_out / "manifest.json").read_text())
    page = (pipeline_out / "report.html").read_text(encoding="utf-8")
    rows = _rows(_section_html(page, "clusters"))
    dup = sum(v for k, v in manifest["clusters"]["size_histogram"].items() if int(k) > 1)
    shown = len(manifest["clusters"]["largest"])
    assert f"top {shown} of {dup} cluster" in page
    assert rows[0][2] == "repo" and {r[2] for r in rows[1:]} == {"toyproject"}


def test_page_is_offline_and_fits_a_narrow_screen_markup(pipeline_out: Path):
    page = (pipeline_out / "report.html").read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count("<table>") == page.count('<div style="overflow-x:auto"><table>') > 0
    css = page.split("<style>")[1].split("</style>")[0]
    assert "overflow-wrap: anywhere" in css and "tab-size: 4" in css
    assert "max-width: 100%; height: auto" in css
    assert 'class="l w"' in page                 # long-text cells (paths) may wrap
    assert "://" not in page.replace("data:image/png;base64,", "")  # nothing remote, not even a link


def test_report_fits_420px_without_sideways_scrolling(pipeline_out: Path, tmp_path: Path):
    """At 420 px the tables were cut off and the whole page scrolled sideways."""
    errors, info, png = render(pipeline_out / "report.html", tmp_path / "profile", width=420, mobile=True)
    (pipeline_out / "report-screenshot-420.png").write_bytes(png)
    assert not errors, errors
    assert info["viewport"] == 420 and info["width"] <= 420, info["width"]
    for plot in info["plots"]:
        assert plot["x"] >= 0 and plot["x"] + plot["w"] <= info["viewport"] + 0.5, plot


def test_every_reject_reason_the_pipeline_writes_has_a_meaning():
    """The reason glossary covers each reason string the readers, filters, dedup, parse and pair
    filter produce (they were listed from the code), and the read reasons say what the code does."""
    from pipeline.report import reason_meaning

    reasons = ["invalid_utf8", "invalid_utf8:path", "binary", "no_language", "unknown_language:.xyz",
               "invalid_field:licenses", "missing_content", "invalid_json", "not_a_json_object", "missing_field:content",
               "symlinked_directory", "symlink_outside_tree", "not_a_regular_file", "undecodable_path",
               "unreadable_directory:PermissionError", "unreadable:OSError", "unreadable_file:PermissionError",
               "corrupt_file:zlib.error", "truncated_compressed_file", "too_large_to_read>67108864",
               "corrupt_parquet_row_group: ArrowInvalid", "extract_failed:ValueError: x", "summary_failed:ValueError",
               "size<1", "exact_duplicate", "duplicate_id", "near_duplicate jaccard>=0.70", "parse_timeout",
               "body_lines<2", "empty_hard_positive", "summary_tokens<3", "summary_not_english:fr"]
    missing = [r for r in reasons if not reason_meaning(r)]
    assert missing == []
    assert "not valid JSON" in reason_meaning("invalid_json")
    assert "out of the tree" not in reason_meaning("not_a_regular_file")
    assert "rows_not_read" in reason_meaning("corrupt_parquet_row_group: ArrowInvalid")
