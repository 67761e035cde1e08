"""A tenth language (rust) added as a spec folder only: proves that languages are data."""
from __future__ import annotations

import re
from pathlib import Path

from pipeline.languages import registry
from pipeline.parse.extract import Extractor

REPO = Path(__file__).resolve().parents[1]


def test_rust_is_registered_from_its_spec_folder_only():
    spec = registry.get("rust")
    assert spec.folder.endswith("specs/rust")
    assert registry.language_for_path("src/lib.rs") == "rust"
    assert registry.canonical_key("Rust") == "rust"
    assert {"functions", "scopes", "returns", "identifiers"} <= set(spec.queries)
    # no pipeline code names the language: the spec folder is the whole change
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "pipeline").rglob("*.py")
                 if re.search(r"\brust\b", p.read_text(encoding="utf-8"), re.IGNORECASE)]
    assert offenders == []


def test_rust_extraction_end_to_end():
    src = (
        "/// Adds one.\n"
        "///\n"
        "/// Saturates.\n"
        "#[inline]\n"
        "#[must_use]\n"
        "pub fn inc(x: u8) -> u8 {\n"
        "    if x == u8::MAX {\n"
        "        return x;\n"
        "    }\n"
        "    x + 1\n"
        "}\n"
        "\n"
        "struct Point { x: i32 }\n"
        "impl Point {\n"
        "    /** Block doc. */\n"
        "    fn norm(&self) -> i32 { let sq = |v: i32| v * v; sq(self.x) }\n"
        "}\n"
    )
    res = Extractor("rust").extract(src)
    assert res.error is None
    got = [(f.name, f.start_line, f.end_line, f.docstring) for f in res.functions]
    assert got == [("inc", 1, 11, "Adds one.\n\nSaturates."),
                   ("Point.norm", 15, 16, "Block doc."),
                   ("Point.norm.sq", 16, 16, None)]
    inc = res.functions[0]
    assert inc.code.startswith("#[inline]\n#[must_use]\npub fn inc")
    assert inc.code_hard == "if x == u8::MAX {\n}\nx + 1"
    assert inc.body_lines == 4
    kinds = {(src[s["start"]:s["end"]], s["kind"]) for s in res.identifiers}
    assert {("inc", "function"), ("x", "variable"), ("Point", "class"), ("self", "variable"),
            ("norm", "function"), ("sq", "function"), ("v", "variable")} <= kinds
    assert "u8" not in {k for k, _ in kinds}  # a type the file does not define
