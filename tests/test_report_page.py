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


def _synthetic_out(out: Path, n_pairs: int = 300) -> Path:
    """A schema-valid output folder with known numbers, built without the pipeline."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import FILES_SCHEMA, PAIRS_SCHEMA, REJECTED_SCHEMA, validate

    for sub in ("files", "pairs", "rejected"):
        (out / sub).mkdir(parents=True)
    files = [{"id": f"f{i}", "lang": "python", "repo": "r", "path": f"m{i}.py", "licenses": ["MIT"],
              "content": "x = 1\n", "size": 6, "identifiers": [], "cluster_id": f"f{i}",
              "cluster_size": 1 + (i % 3 == 0) + 5 * (i == 0), "split": "train"} for i in range(40)]
    pairs = [{"id": f"f{i % 40}:{i}", "file_id": f"f{i % 40}", "lang": ("python", "java")[i % 2], "repo": "r",
              "path": f"m{i}.py", "split": "train", "name": f"fn{i}", "start_line": 1, "end_line": 5,
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
      width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight})"""


def _require_chromium() -> str:
    binary = _chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return binary


def render(page: Path, profile: Path) -> tuple[list[str], dict, bytes]:
    """Load `page` in headless Chromium: (console errors and exceptions, layout info, full-page PNG)."""
    browser = Browser(_require_chromium(), profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
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
