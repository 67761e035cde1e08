"""Hand-written nasty-case fixtures, one per language (tests/fixtures/parse/<lang>/): names,
line ranges, docstrings, hard positives, syntax errors, non-ASCII offsets, bounds."""
from __future__ import annotations

import dataclasses

import re
from pathlib import Path

import pytest

from pipeline.parse.extract import Extractor, FileExtraction, Function

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "parse"

# (qualified name, start_line, end_line, docstring or None)
EXPECTED = {
    "python": [
        ("Foo.method", 6, 17, "Method doc.\n\nMore."),
        ("Foo.method.inner", 13, 14, None),
        ("square", 19, 19, None),
        ("top", 21, 26, "Top\ndoc"),
        ("fetch", 29, 34, "Fetch \\d raw docstring."),
        ("fetch._inner", 32, 33, None),
    ],
    "java": [
        ("Foo.add", 7, 21, "Adds numbers.\n\n@param a first"),
        ("Foo.add.r", 15, 15, None),
        ("Foo.add", 23, 26, "Adds with a long."),          # overload
        ("Foo.Foo", 28, 30, "Orphan doc."),                # Javadoc across a blank line (javadoc tool)
        ("Foo.helper", 33, 33, None),                      # a // comment is not Javadoc
        ("Foo.Inner.run", 38, 41, "Inner method."),
    ],
    "javascript": [
        ("add", 2, 11, "Adds two numbers.\n@param {number} a"),   # export + multi-line signature
        ("add.inner", 8, 8, None),
        ("noDoc", 15, 15, None),                                   # doc separated by a blank line
        ("twice", 17, 17, None),
        ("Counter.inc", 20, 21, "Increments."),
        ("Counter.make", 22, 22, None),
        ("handler", 24, 24, None),
    ],
    "typescript": [
        ("over", 5, 8, "Impl doc."),          # overload signatures have no body: only the implementation
        ("Repo.save", 11, 17, "Saves it."),
        ("Repo.save.cb", 15, 15, None),
        ("ident", 19, 19, None),
        ("NS.inNs", 20, 20, None),
    ],
    "go": [
        ("List.Push", 4, 8, "Push appends v to the list.\nIt never fails."),
        ("NoDoc", 12, 12, None),
        ("Sum", 14, 27, "Sum adds the numbers,\nwith a multi-line signature."),
        ("Sum.add", 20, 22, None),
        ("Stack.Len", 29, 30, "Block doc é."),
        ("Directive", 33, 33, None),          # //go: directives are not docs
    ],
    "ruby": [
        ("Outer.Widget.build", 5, 12, "Builds a widget.\nSecond line."),
        ("Outer.Widget.build.helper", 8, 8, None),
        ("Outer.Widget.create", 16, 18, None),
        ("Outer.Widget.to_s", 20, 20, None),
        ("square", 24, 24, None),
    ],
    "php": [
        ("Repo.find", 8, 20, "Finds one.\n@param int $id"),
        ("Repo.find.cb", 15, 15, None),
        ("Repo.load", 24, 24, None),
        ("helper", 27, 30, None),
        ("helper.f", 28, 28, None),
    ],
    "c": [
        ("add", 6, 17, "Adds two points."),
        ("count", 19, 21, "Counts items.\nTwo lines."),
        ("nodoc", 25, 25, None),
    ],
    "c-sharp": [
        ("Box.Get", 7, 19, '<summary>\nGets the value.\n</summary>\n<param name="key">The key.</param>'),
        ("Box.Get.twice", 15, 15, None),
        ("Box.Get.Local", 16, 16, None),
        ("Box.Size", 23, 23, None),
        ("Box.Box", 25, 25, None),
    ],
    "rust": [
        ("Stack.push", 8, 14, "Pushes a value.\n\nReturns nothing."),   # /// run + #[inline]
        ("Stack.pop", 16, 23, "Pops."),
        ("Stack.pop.check", 18, 18, None),
        ("Named.name", 26, 26, None),
        ("util.helper", 30, 34, None),
    ],
}

_STRINGS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')


def _fixture(lang: str) -> str:
    (path,) = sorted((FIXTURES / lang).iterdir())
    return path.read_text(encoding="utf-8")


class _Extracted(dict):
    """lang -> (fixture text, its extraction), extracted on first use, so that a language whose
    grammar is not installed fails its own tests only (`pytest -k python` still runs)."""

    def __missing__(self, lang: str) -> tuple[str, FileExtraction]:
        content = _fixture(lang)
        self[lang] = (content, Extractor(lang).extract(content))
        return self[lang]


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[str, FileExtraction]]:
    return _Extracted()


@pytest.mark.parametrize("lang", sorted(EXPECTED))
def test_names_lines_docstrings(results, lang):
    _, res = results[lang]
    assert res.error is None
    got = [(f.name, f.start_line, f.end_line, f.docstring) for f in res.functions]
    assert got == EXPECTED[lang]


@pytest.mark.parametrize("lang", sorted(EXPECTED))
def test_syntax_error_is_recorded_and_clean_functions_survive(results, lang):
    content, res = results[lang]
    assert "broken" in content.lower() or "Bad(" in content
    assert res.syntax_errors >= 1
    assert all("broken" not in f.name.lower() and "Bad" not in f.name for f in res.functions)
    assert len(res.functions) == len(EXPECTED[lang])


@pytest.mark.parametrize("lang", sorted(EXPECTED))
def test_code_hard_has_no_signature_and_no_return(results, lang):
    content, res = results[lang]
    lines = content.split("\n")
    for fn in res.functions:
        body = fn.code_hard
        assert not re.search(r"\breturn\b", _STRINGS.sub('""', body)), (fn.name, body)
        # the line holding the function's own name (its signature) is gone
        simple = fn.name.rsplit(".", 1)[-1]
        sig = next(l for l in fn.code.split("\n") if re.search(rf"\b{re.escape(simple)}\b", l))
        assert sig.strip() not in [l.strip() for l in body.split("\n")], (fn.name, sig, body)
        # code is the function's own source lines (documentation excepted)
        src = "\n".join(lines[fn.start_line - 1: fn.end_line])
        assert all(l.strip() in src for l in fn.code.split("\n")), fn.name
        if fn.docstring:
            first_doc_line = fn.docstring.split("\n")[0]
            assert first_doc_line not in fn.code and first_doc_line not in body


def test_python_code_and_code_hard_exact(results):
    _, res = results["python"]
    fn = next(f for f in res.functions if f.name == "Foo.method")
    assert fn.code == (
        "@decorator\n"
        "def method(self, a, b=2, *args, **kw):\n"
        "    x = a + b  # comment x\n"
        "    def inner(y):\n"
        "        return y * x\n"
        "    self.attr = inner(x)\n"
        '    print("a string with x", f"{x}")\n'
        "    return self.attr"
    )
    assert fn.code_hard == (
        "x = a + b  # comment x\n"
        "def inner(y):\n"
        "    pass\n"  # the nested function's only statement was its return: `pass` keeps it a body
        "self.attr = inner(x)\n"
        'print("a string with x", f"{x}")'
    )
    assert fn.body_lines == 6


def test_brace_body_and_expression_body(results):
    _, res = results["java"]
    add = next(f for f in res.functions if f.name == "Foo.add")
    assert add.code_hard.split("\n") == [
        "Runnable r = () -> {  };",
        'String s = "count é";',
        "if (a > 0) {",
        "}",
    ]
    _, res = results["javascript"]
    twice = next(f for f in res.functions if f.name == "twice")
    assert twice.code_hard == "v * 2" and twice.body_lines == 1


@pytest.mark.parametrize("lang", sorted(EXPECTED))
def test_identifier_spans_are_consistent(results, lang):
    content, res = results[lang]
    ids = res.identifiers
    assert ids, lang
    assert ids == sorted(ids, key=lambda d: d["start"])
    kind_of = {}
    last_end = -1
    for span in ids:
        assert span["kind"] in ("class", "function", "variable")
        assert span["start"] >= last_end
        last_end = span["end"]
        text = content[span["start"]:span["end"]]
        assert re.fullmatch(r"[@$]{0,2}[^\W\d][\w$]*[?!]?", text), (lang, text)
        assert kind_of.setdefault(text, span["kind"]) == span["kind"], text  # one role per name
        line = content[content.rfind("\n", 0, span["start"]) + 1: span["start"]]
        assert "//" not in line and not line.lstrip().startswith(("#", "*", "/*")), (lang, text, line)


def test_python_identifier_roles_and_exclusions(results):
    content, res = results["python"]
    spans = {(content[s["start"]:s["end"]], s["kind"]) for s in res.identifiers}
    assert ("Foo", "class") in spans and ("method", "function") in spans
    assert ("self", "variable") in spans and ("attr", "variable") in spans   # self, attributes: yes
    assert ("inner", "function") in spans and ("square", "function") in spans
    names = {n for n, _ in spans}
    assert "print" not in names and "os" not in names and "decorator" not in names  # not defined here
    # the x inside "# comment x", the string and the f-string are never marked
    comment_x = content.index("# comment x") + len("# comment ")
    string_x = content.index('"a string with x"') + len('"a string with ')
    fstring_x = content.index('f"{x}"') + 3
    starts = {s["start"] for s in res.identifiers}
    assert not {comment_x, string_x, fstring_x} & starts
    assert sum(1 for s in res.identifiers if content[s["start"]:s["end"]] == "x") == 3  # x = ..., y * x, inner(x)


def test_offsets_are_str_indices_after_non_ascii():
    content = 's = "ééé 日本"; value = s + "ü"\ndef fün(arg):\n    """Dök."""\n    return arg + value\n'
    res = Extractor("python").extract(content)
    got = [(content[s["start"]:s["end"]], s["kind"]) for s in res.identifiers]
    assert got == [("s", "variable"), ("value", "variable"), ("s", "variable"), ("fün", "function"),
                   ("arg", "variable"), ("arg", "variable"), ("value", "variable")]
    (fn,) = res.functions
    assert (fn.name, fn.docstring, fn.code_hard) == ("fün", "Dök.", "")
    # the tree path (@reference captures, used by the rust spec) converts bytes to chars too
    rs = 'fn main() { let s = "日本"; let n = s.len(); }\n'
    res = Extractor("rust").extract(rs)
    assert [rs[s["start"]:s["end"]] for s in res.identifiers] == ["main", "s", "n", "s"]


def test_parse_timeout_is_reported_and_parser_reusable():
    ex = Extractor("python", max_parse_ms=1e-6)
    big = "def f(x):\n    return [x + i for i in range(10)]\n" * 20000
    assert ex.extract(big).error == "parse_timeout"
    ok = Extractor("python").extract(big[:200])
    assert ok.error is None and ok.functions
    ex.max_parse_ms = None
    assert ex.extract("def g():\n    '''Doc.'''\n    pass\n").functions[0].docstring == "Doc."


def test_parse_budget_counts_work_not_wall_time(monkeypatch):
    """Whether a file is rejected as parse_timeout depends on the file only (deterministic output on any
    machine or load): the budget counts tree-sitter progress checks, and a slow clock changes nothing."""
    import time as time_module

    import tree_sitter

    from pipeline.languages import registry
    from pipeline.parse import ts_utils

    code = "def f(x):\n    return [x + i for i in range(10)]\n" * 400
    parser = tree_sitter.Parser(registry.get("python").ts_language())
    work = ts_utils.parse_work(parser, code.encode())
    assert work == ts_utils.parse_work(parser, code.encode()) > 10
    fits = work / ts_utils.PROGRESS_CHECKS_PER_MS  # a budget of exactly the file's work
    too_small = (work - 1.5) / ts_utils.PROGRESS_CHECKS_PER_MS  # ceil() gives work - 1 checks
    assert Extractor("python", max_parse_ms=too_small).extract(code).error == "parse_timeout"
    # a machine so loaded that every clock read jumps a minute: the same file still fits its budget
    clock = iter(range(0, 10**9, 60))
    monkeypatch.setattr(time_module, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setattr(time_module, "monotonic", lambda: float(next(clock)))
    res = Extractor("python", max_parse_ms=fits).extract(code)
    assert res.error is None and len(res.functions) == 400


def test_depth_bound_and_deep_trees_do_not_recurse():
    nested = "".join("    " * i + f"def f{i}():\n" for i in range(40)) + "    " * 40 + "pass\n"
    assert Extractor("python", max_depth=16).extract(nested).error == "max_depth_exceeded"
    assert len(Extractor("python", max_depth=64).extract(nested).functions) == 40
    deep = "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n"  # far beyond Python's recursion limit
    res = Extractor("python").extract(deep)
    assert res.error is None and [deep[s["start"]:s["end"]] for s in res.identifiers] == ["x"]


def test_garbage_is_rejected_by_error_ratio():
    junk = "".join("{}[]()<>!@#$%^&*;:"[(i * 7) % 18] for i in range(3000))
    res = Extractor("java").extract(junk)
    assert res.error == "syntax_error_ratio>0.5" and res.functions == [] and res.identifiers == []


def test_function_is_lazy_but_complete():
    (fn,) = Extractor("go").extract("package p\n\n// Doc.\nfunc F(a int) int {\n\tb := a\n\treturn b\n}\n").functions
    assert isinstance(fn, Function)
    assert fn.to_dict() == {"name": "F", "start_line": 3, "end_line": 7, "docstring": "Doc.",
                            "code": "func F(a int) int {\n\tb := a\n\treturn b\n}",
                            "code_hard": "b := a", "body_lines": 2}


def _documented(lang: str, src: str) -> dict[str, Function]:
    return {f.name: f for f in Extractor(lang).extract(src).functions if f.docstring}


def test_comment_on_the_last_line_is_code_and_goes_with_a_removed_return():
    fns = _documented("python", 'class A:\n    def f(self):\n        """Doc."""\n        x = 1\n'
                                '        return x  # type: ignore[return-value]\n'
                                '    def g(self):\n        """Doc é."""\n        handle = None  # break cycles é\n'
                                '        # a comment on its own line after the body is not part of it\n')
    assert fns["A.f"].code == "def f(self):\n    x = 1\n    return x  # type: ignore[return-value]"
    assert fns["A.f"].code_hard == "x = 1"
    assert fns["A.g"].code == "def g(self):\n    handle = None  # break cycles é"
    assert fns["A.g"].code_hard == "handle = None  # break cycles é"
    assert (fns["A.g"].start_line, fns["A.g"].end_line) == (6, 8)


def test_text_before_a_function_on_its_first_line():
    # a plain comment there is source; a doc comment there is documentation; the block dedents either way
    fns = _documented("java", "class A {\n    /** Doc. */\n    /*package*/ static int f(int a,\n"
                              "                             int b) {\n        int c = a + b;\n        return c;\n    }\n"
                              "    /** Doc two. */ int g(int a) {\n        int c = a;\n        return c;\n    }\n}\n")
    assert fns["A.f"].code == ("/*package*/ static int f(int a,\n                         int b) {\n"
                               "    int c = a + b;\n    return c;\n}")
    assert fns["A.g"].code == "int g(int a) {\n    int c = a;\n    return c;\n}"
    assert fns["A.g"].docstring == "Doc two."


@pytest.mark.parametrize("lang,src,hard", [
    ("c", "/** Doc. */\nint f(int a) {\n  if (a)\n    return 1;\n  else\n    return 2;\n  while (a) return 3;  // why\n  foo();\n}\n",
     "if (a)\n  ;\nelse\n  ;\nwhile (a) ;  // why\nfoo();"),
    ("java", "class A {\n  /** Doc. */\n  int f(int a) {\n    for (int x : y) return x;\n    b();\n    return 0;\n  }\n}\n",
     "for (int x : y) ;\nb();"),
    ("c-sharp", "class A {\n  /// <summary>Doc.</summary>\n  int F(int a) {\n    foreach (var x in y) return x;\n    B();\n  }\n}\n",
     "foreach (var x in y) ;\nB();"),
    ("php", "<?php\n/** Doc. */\nfunction f($a) {\n  if ($a) return 1;\n  elseif ($b) return 2;\n  b();\n}\n",
     "if ($a) ;\nelseif ($b) ;\nb();"),
    ("typescript", "/** Doc. */\nfunction f(a: number) {\n  if (a) return 1;\n  b();\n  return 2;\n}\n", "if (a) ;\nb();"),
    ("java", "class A {\n  /** Doc. */\n  int f(int a) {\n    if (a > 0) // done;\n      return 1;\n    b();\n  }\n}\n",
     "if (a > 0) // done;\n  ;\nb();"),
    ("ruby", "# Doc.\ndef f(x)\n  return 1 if x\n  y = 2\n  return y unless x # why\n  z = 3\nend\n", "y = 2\nz = 3"),
    ("ruby", "# Doc.\ndef f(x)\n  return 1 if x unless y\n  y = 2\n  return y while x until z # why\nend\n", "y = 2"),
])
def test_a_return_that_is_a_whole_statement_body_leaves_an_empty_one(lang, src, hard):
    """Removing `return 1;` from `if (a) return 1;` would hand the if the next statement as its
    body; its `;` stays. Ruby's `return x if c` goes as a whole (not leaving ` if c`)."""
    (fn,) = Extractor(lang).extract(src).functions
    assert fn.code_hard == hard


def test_a_return_alone_in_a_python_block_leaves_pass():
    """A Python block whose only statement is a return would be left with no body at all (`if a:`
    followed by the next statement at the if's own level); `pass` stands in. The function's own
    body is no such block: a body of only a return leaves code_hard empty (an empty_hard_positive)."""
    src = ('def f(a, b):\n    """Doc."""\n    if a: return 1\n    elif b:\n        # why\n'
           '        return 2  # note\n    else:\n        x = 3\n        return x\n'
           '    for y in a:\n\n        return y\n    def g(): return 5\n    z = {"a": 1}\n    return z\n'
           'def h():\n    """Doc."""\n    return 1\n')
    fns = _documented("python", src)
    assert fns["f"].code_hard == ("if a: pass\nelif b:\n    # why\n    pass  # note\nelse:\n    x = 3\n"
                                  "for y in a:\n\n    pass\ndef g(): pass\nz = {\"a\": 1}")
    assert fns["h"].code_hard == ""


def test_a_bare_return_without_semicolon_leaves_an_empty_statement():
    # JavaScript without semicolons: removing `return 1` outright made `b()` the if's body
    src = "/** Doc. */\nfunction f(a) {\n  if (a) return 1\n  b()\n  if (c)\n    return\n  d()\n  return 2\n}\n"
    (fn,) = Extractor("javascript").extract(src).functions
    assert fn.code_hard == "if (a) ;\nb()\nif (c)\n  ;\nd()"


@pytest.mark.parametrize("returns,error", [
    ({"sole_statement_parent_types": ["block", "suite"]}, "sole_statement_parent_types names no node type of the grammar: suite"),
    ({"sole_statement_parent_types": ["block"], "placeholder": " "}, "placeholder must be a non-empty string"),
])
def test_return_stand_in_settings_are_checked_against_the_grammar(monkeypatch, returns, error):
    from pipeline.languages import registry

    spec = registry.get("python")
    settings = dict(spec.settings, returns=returns)
    monkeypatch.setattr(registry, "get", lambda key: dataclasses.replace(spec, settings=settings))
    with pytest.raises(ValueError, match=error):
        Extractor("python")


@pytest.mark.parametrize("sigil", ["$$", "a", 5])
def test_a_sigil_is_one_punctuation_character(monkeypatch, sigil):
    from pipeline.languages import registry

    spec = registry.get("php")
    settings = dict(spec.settings, identifiers=dict(spec.settings["identifiers"], sigil=sigil))
    monkeypatch.setattr(registry, "get", lambda key: dataclasses.replace(spec, settings=settings))
    with pytest.raises(ValueError, match="sigil must be one punctuation character"):
        Extractor("php")


def test_rdoc_doc_marker_keeps_a_ruby_doc_across_a_blank_line():
    """RubyGems and RDoc write `##` over the doc and a blank line before the method; that doc
    documents it (2,106 methods of the sample's Ruby lost theirs). A plain comment block followed
    by a blank line stays detached, and so does a `##` block with code between it and the method."""
    src = ("class A\n  ##\n  # Returns the full name.\n  #\n  # More.\n\n  def full_name\n    x = 1\n  end\n\n"
           "  # A section note.\n\n  def other\n    1\n  end\n\n  ##\n  # Stale.\n  X = 1\n\n  def third\n    2\n  end\n"
           "  # the method below:\n  ##\n  # Not opened by the marker.\n\n  def fourth\n    3\n  end\nend\n")
    fns = {f.name: f for f in Extractor("ruby").extract(src).functions}
    assert fns["A.full_name"].docstring == "Returns the full name.\n\nMore."
    assert fns["A.full_name"].start_line == 2
    assert fns["A.full_name"].code == "def full_name\n  x = 1\nend"
    assert fns["A.other"].docstring is None
    assert fns["A.third"].docstring is None
    assert fns["A.fourth"].docstring is None


def test_a_bare_return_parent_the_grammar_lacks_is_a_spec_error(monkeypatch):
    from pipeline.languages import registry

    spec = registry.get("c")
    settings = dict(spec.settings, returns={"bare_parent_types": ["if_statement", "when_statement"]})
    monkeypatch.setattr(registry, "get", lambda key: dataclasses.replace(spec, settings=settings))
    with pytest.raises(ValueError, match="bare_parent_types names no node type of the grammar: when_statement"):
        Extractor("c")


def test_reserved_words_are_never_marked_even_when_they_look_defined():
    # PHP's $class defines the name `class`, a C macro misparse defines `if`: without the spec's
    # reserved list every keyword of that spelling was marked as a name to deobfuscate. PHP's variables keep their sigil, so `$class` and `$list` are still marked
    php = ("<?php\nclass A {\n  function f(string $class, $list) {\n    $new = new Foo();\n"
           "    list($a) = $list;\n    return $class;\n  }\n}\n")
    marked = [php[d["start"] - 1:d["end"]] for d in Extractor("php").extract(php).identifiers]
    assert marked == [" A", " f", "$class", "$list", "$new", "$list", "$class"]
    c = "int if(int a) { return a; }\nint g(int b) { if (b) return b; return 0; }\n"
    marked = {c[d["start"]:d["end"]] for d in Extractor("c").extract(c).identifiers}
    assert marked == {"a", "g", "b"}


def test_marker_rules_above_a_line_doc_are_decoration():
    # RDoc's `##` opener and `###`/`//////` banners are delimiters, not doc text
    ruby = "##\n# Iterate over each node.\n#\n# More.\ndef each\n  a = 1\n  b = 2\nend\n"
    fn = Extractor("ruby").extract(ruby).functions[0]
    assert fn.docstring == "Iterate over each node.\n\nMore."
    assert (fn.start_line, fn.code.splitlines()[0]) == (1, "def each")
    go = "package p\n\n//////////\n// Sum adds.\n//////////\nfunc Sum(a int) int {\n\tb := a\n\treturn b\n}\n"
    fn = Extractor("go").extract(go).functions[0]
    assert (fn.docstring, fn.start_line) == ("Sum adds.", 3)


def test_ruby_class_self_block_is_no_scope():
    names = [f.name for f in Extractor("ruby").extract(
        "class Tempfile\n  class << self\n    def open(*args)\n      x = 1\n    end\n  end\n"
        "  class << @obj\n    def two\n      a = 1\n    end\n  end\nend\n").functions]
    assert names == ["Tempfile.open", "Tempfile.@obj.two"]


def test_code_hard_first_line_dedents_against_its_own_line():
    """A body that starts on the signature's line (`-> { a();`, `=> a +`) reads as it is indented
    against that line, not at the column where the body happens to start."""
    java = ("class A {\n"
            "    void f() {\n"
            "        Runnable r = () -> { a();\n"
            "            b(); };\n"
            "    }\n"
            "}\n")
    fns = {f.name: f for f in Extractor("java").extract(java).functions}
    assert fns["A.f.r"].code_hard == "a();\n    b();"
    js = "const g = (a) => a +\n    1;\n"
    fns = {f.name: f for f in Extractor("javascript").extract(js).functions}
    assert fns["g"].code_hard == "a +\n    1"


def test_escaped_surrogates_in_a_docstring_become_writable_text():
    """A lone surrogate from a literal's escapes cannot be encoded as UTF-8 (Beam and Parquet
    fail on it mid-job): a pair's escapes give its character, a lone one U+FFFD."""
    src = ('def f(a, b):\n'
           '    """Return the value \\udcff of both \\ud83d\\ude00 inputs."""\n'
           '    c = a + b\n'
           '    return c\n')
    (fn,) = Extractor("python").extract(src).functions
    assert fn.docstring == "Return the value \ufffd of both \U0001F600 inputs."
    fn.docstring.encode("utf-8")


def test_lone_cr_line_ends_read_as_line_breaks():
    lf = ('class A:\n'
          '    def f(self, x):\n'
          '        """Double it."""\n'
          '        y = x * 2\n'
          '        return y\n')
    cr = lf.replace("\n", "\r")
    ex = Extractor("python")
    want, got = ex.extract(lf), ex.extract(cr)
    assert got.error is None and got.syntax_errors == 0
    assert got.functions == want.functions and got.functions[0].docstring == "Double it."
    # offsets index the original text: the same names sit at the same places
    assert got.identifiers == want.identifiers
    assert [cr[i["start"]:i["end"]] for i in got.identifiers] == [lf[i["start"]:i["end"]] for i in want.identifiers]


@pytest.mark.parametrize("lang,src", [
    ("go", "package p\n\n// IsNaN reports whether f is NaN.\nfunc IsNaN(f float64) bool {\n\t// only NaNs satisfy f != f\n\treturn f != f\n}\n"),
    ("python", "def f(x):\n    '''Doc here.'''\n    # only a comment\n    return x\n"),
    ("java", "class A {\n  /** Doc. */\n  boolean ok() {\n    /* always */\n    return true;\n  }\n}\n"),
])
def test_code_hard_of_comments_alone_is_empty(lang, src):
    """Comments alone are no hard positive: code_hard is "", so the pair is an empty_hard_positive
    reject (89 pairs of the sample had a code_hard of nothing but comments)."""
    (fn,) = Extractor(lang).extract(src).functions
    assert fn.code_hard == "" and fn.body_lines >= 2
    kept = Extractor(lang).extract(src.replace("return", "int y = 1;\n    return" if lang == "java" else
                                               ("y := 1\n\treturn" if lang == "go" else "y = 1\n    return"), 1))
    assert kept.functions[0].code_hard.splitlines()[-1].strip() in ("int y = 1;", "y := 1", "y = 1")
