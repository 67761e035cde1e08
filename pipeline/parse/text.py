"""From a raw docstring to the pair's `summary`, and the checks the paper applies to it.

Pure functions, no Beam. The contract (design.md section 3, the paper's recipe):

    summary = summarize(docstring)

is the first sentence of the *cleaned* docstring, where cleaning removes URLs, HTML tags and
documentation tags (Javadoc/JSDoc/PHPDoc/YARD/Doxygen ``@tags``, reST ``:fields:``, Google,
NumPy and reST sections, C# XML doc elements other than ``<summary>``), repairs Unicode with
ftfy and collapses whitespace. Inline markup keeps its visible text (``{@link Foo}`` -> ``Foo``,
``:class:`~a.Foo``` -> ``Foo``, ````x```` -> ``x``, ``[text](url)`` -> ``text``).

The *first sentence* is the text of the first paragraph up to the first ``.``, ``!`` or ``?``
followed by whitespace or the end of the paragraph, where a period that closes a known
abbreviation (``e.g.``, ``i.e.``, ``etc.``, ``vs.``, ...) does not count; periods inside tokens
(``os.path``, ``1.2.3``) are never followed by whitespace and so never count either. Without a
terminator the whole first paragraph is the sentence.

Token counting for the paper's 3..256 rule (`count_tokens`) is whitespace splitting of the
summary, with each CJK character a token of its own: ``"Return the user's id."`` has 4 tokens. It is tokenizer-independent, so the filter
does not change when the model's tokenizer does.

English detection (`EnglishDetector`) uses py3langid, whose model ships inside its wheel. See
its docstring for how identifiers are handled and for the decision rule.
"""
from __future__ import annotations

import functools
import html
import re
import threading
import unicodedata

import ftfy

# --------------------------------------------------------------------------- cleaning rules

_URL_RE = re.compile(r"<?\b(?:(?:https?|ftp|file)://|www\.)[^\s<>\"'`|]+>?", re.IGNORECASE)
# (link texts stop at the next "[" too: a line of "![![![..." is then linear, not quadratic)
_MD_LINK_RE = re.compile(r"!?\[([^\[\]\n]*)\]\([^)\s]*\)")   # [text](url) -> text (url may be gone already)
_MD_IMAGE_RE = re.compile(r"!\[[^\[\]\n]*\]\([^()\n]*\)")
# KDoc / rustdoc / Markdown reference links: [label][Target] and [label][] -> label; a bare
# [name] or [Type.member] (after backticks are gone: [`Vec`] -> [Vec]) -> name. The bare form
# needs an identifier or path (a.b, A::b, A#b) inside and no word, bracket or "(" right before it,
# so indexing (x[0]), generics (list[int]), [1]-style citations, "[a, b]" lists and optional
# arguments in signatures (f([options]), [args...]) are left alone.
_REF_LINK_RE = re.compile(r"(?<![\w\])])\[([^\[\]\n]+)\]\[[^\[\]\s]*\]")
_BARE_LINK_RE = re.compile(r"(?<![\w\]\[(])\[([A-Za-z_]\w*(?:(?:\.|::|#)\w+)*(?:\(\))?)\](?![\[(:\w])")

# C# XML documentation: <summary> holds the description; the other top-level elements
# (<param>, <returns>, <remarks>, <example>, <exception>, ...) are dropped with their content.
_CS_SUMMARY_RE = re.compile(r"<summary\b[^<>]*>(.*?)(?:</summary\s*>|$)", re.IGNORECASE | re.DOTALL)
# Elements are matched by `_sub_elements` (an opener, then the nearest closer of its name), not by
# one lazy DOTALL regex: `<pre>.*?</pre>` retries from every `<pre>` that has no closer after it,
# quadratic in the docstring (a 48 KB docstring of "<pre> " took 3 s), and this text is untrusted.
# Attribute runs are [^<>]* for the same reason: they stop at the next tag instead of the end.
_CS_DROP_OPEN_RE = re.compile(
    r"<(param|typeparam|returns|exception|example|seealso|permission|value|remarks|inheritdoc|include)\b"
    r"[^<>]*?(/?)>",
    re.IGNORECASE,
)
# <see cref="T:System.String"/>, <paramref name="x"/>, <see langword="null"/> -> the referenced name.
_CS_REF_RE = re.compile(r"<(?:see|seealso|paramref|typeparamref)\b([^<>]*?)/>", re.IGNORECASE)
_CS_REF_ATTR_RE = re.compile(r"\b(?:cref|name|langword|href)\s*=\s*\"(?:[A-Z]:)?([^\"]*)\"", re.IGNORECASE)
_CS_SEE_OPEN_RE = re.compile(r"<(see)\b[^<>]*()>", re.IGNORECASE)

# Elements whose content is code or invisible: dropped with their content.
_HTML_DROP_OPEN_RE = re.compile(r"<(pre|script|style)\b[^<>]*()>", re.IGNORECASE)
_HTML_COMMENT_OPEN_RE = re.compile(r"<(!--)()")
_HTML_BREAK_RE = re.compile(r"</?(?:p|div|ul|ol|dl|table|h[1-6]|blockquote)\b[^<>]*>", re.IGNORECASE)
_HTML_LINE_RE = re.compile(r"<(?:br|li|dt|dd|tr)\b[^<>]*>", re.IGNORECASE)
# Only known tag names (or any tag with attributes) are removed, so that generic types in prose,
# e.g. "a List<String> of names", survive.
_HTML_TAGS = (
    "a|abbr|b|big|blockquote|br|caption|center|cite|code|col|dd|del|dfn|div|dl|dt|em|font|h[1-6]|hr|i|img|"
    "ins|kbd|li|mark|ol|p|pre|q|s|samp|small|span|strike|strong|sub|sup|table|tbody|td|tfoot|th|thead|tr|tt|"
    "u|ul|var|summary|para|c|list|item|term|description|listheader|see|seealso|paramref|typeparamref|"
    "param|typeparam|returns|remarks|example|exception|value|inheritdoc|note"
)
_HTML_TAG_RE = re.compile(
    rf"</?(?:{_HTML_TAGS})(?:\s[^<>]*)?/?>|<[A-Za-z][\w:-]*\s+[\w:-]+\s*=\s*[\"'][^<>]*>",
    re.IGNORECASE,
)

# Inline tags: {@link Foo#bar label} -> label, {@link Foo} -> Foo, {@code x} -> x, {@inheritDoc} -> "".
_INLINE_TAG_RE = re.compile(r"\{@(\w+)(?!\w)\s*([^{}]*)\}")
# reST / Sphinx inline roles: :class:`~pkg.Foo` -> Foo, :meth:`title <target>` -> title.
_ROLE_RE = re.compile(r"(?<![\w:-]):(?:[\w-]+:)*[\w-]+:`([^`]*)`")
_DOUBLE_BACKTICK_RE = re.compile(r"``([^`]*)``")
_BACKTICK_RE = re.compile(r"`([^`\n]*)`")
_RDOC_LINK_RE = re.compile(r"\{([^{}\n]+)\}\[[^\]\s]*\]|\b(\w+)\[(?:https?:|rdoc-ref:|#|mailto:)[^\]\s]*\]")  # {text}[url], word[url]
_RDOC_CODE_RE = re.compile(r"(?<![\w+])\+([\w.:#?!]+)\+(?![\w+])")  # RDoc +code+

# A documentation tag starting a line: @param, @return, \param, \returns, ... Everything from the
# first one onwards is tag sections, except the "description" tags whose text is the description.
_DESC_TAG_RE = re.compile(r"^[@\\](?:brief|short|summary|description|desc|abstract|details)\b[:\s]*", re.IGNORECASE)
_BLOCK_TAG_RE = re.compile(r"^[@\\][A-Za-z][\w-]*\b")
# reST field lists (:param x:, :returns:, :rtype:, :raises ValueError:) and RDoc directives (:nodoc:).
_FIELD_RE = re.compile(r"^:[A-Za-z][\w-]*(?:\s[^:`\n]*)?:(?:\s|$)")
# Google / Napoleon / RDoc / Markdown section headers.
_SECTION_NAMES = (
    "args|arguments|parameters|params|param|other parameters|keyword args|keyword arguments|kwargs|"
    "returns|return|return value|return values|yields|yield|raises|raise|throws|exceptions|"
    "examples?|usage|notes?|warnings?|warns|see also|references|todo|attributes|methods|"
    "options|callbacks?|type parameters|deprecated|since|version|authors?|license|copyright"
)
_SECTION_RE = re.compile(rf"^(?:#+\s*|=+\s*)?(?:{_SECTION_NAMES})\s*:?\s*$", re.IGNORECASE)
# Sections written with their content on the same line: "Args: x (int): ...", "Returns: the id".
_INLINE_SECTION_RE = re.compile(
    r"^(?:args|arguments|parameters|params|keyword args|kwargs|returns|return|yields|raises|throws)\s*:\s+\S",
    re.IGNORECASE,
)
# RDoc's directive; Ruby's C sources write it without the leading colon, often with a signature after it
_CALL_SEQ_RE = re.compile(r"^:?call-seq:")
_UNDERLINE_RE = re.compile(r"^([-=~^\"'`#*+])\1{2,}\s*$")
_HEADING_RE = re.compile(r"^(?:#{1,6}|={1,6})\s+\S")       # Markdown "## Title", RDoc "== Title"
_DOCTEST_RE = re.compile(r"^(?:>>>|\.\.\.\s|\$ |In \[\d+\]:)")
_FENCE_RE = re.compile(r"^(?:```|~~~)")
_DIRECTIVE_RE = re.compile(r"^\.\.\s+[\w:-]+::")                # reST directive: .. note::, .. code-block::

_WS_RE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")


@functools.lru_cache(maxsize=None)
def _closer(name: str) -> re.Pattern:
    if name == "!--":
        return re.compile("-->")
    return re.compile(rf"</{re.escape(name)}\s*>", re.IGNORECASE)


def _sub_elements(text: str, opener: re.Pattern, keep_inner: bool = False, between: str = "") -> str:
    """`text` with every element replaced by its inner text (`keep_inner`) or by `between`.

    An element is an `opener` match (group 1: the name, group 2: "/" when self-closing, which
    makes the opener an element by itself) up to the nearest closer of that name after it, as
    the lazy regex `<name ...>.*?</name>` would match; an opener with no closer after it is left
    as it is. Linear in len(text): each closer search either succeeds, and the scan moves past
    it, or fails once per name (no later opener of that name can be closed either)."""
    out = []
    last = pos = 0
    unclosed = set()
    while (m := opener.search(text, pos)) is not None:
        name = m.group(1).lower()
        pos = m.end()
        if m.group(2):
            out += (text[last:m.start()], between)
            last = pos
            continue
        if name in unclosed:
            continue
        close = _closer(name).search(text, pos)
        if close is None:
            unclosed.add(name)
            continue
        out += (text[last:m.start()], text[pos:close.start()] if keep_inner else between)
        last = pos = close.end()
    out.append(text[last:])
    return "".join(out)


def _cs_ref_name(match: re.Match) -> str:
    attr = _CS_REF_ATTR_RE.search(match.group(1))
    return attr.group(1) if attr else match.group(0)


def _strip_leading_stars(lines: list[str]) -> list[str]:
    """Drop ` * ` gutters if every non-empty line has one (robustness: extractors remove them)."""
    body = [ln for ln in lines if ln.strip()]
    if body and all(ln.lstrip().startswith("*") for ln in body):
        return [re.sub(r"^\s*\*+ ?", "", ln) for ln in lines]
    return lines


def _url_residue(match: re.Match) -> str:
    """Remove a URL but give back trailing punctuation that belongs to the prose ("(see http://x)")."""
    url = match.group(0)
    tail = ""
    while url and url[-1] in ".,;:!?)]>'\"":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break  # balanced: part of the URL, e.g. .../Foo_(bar)
        if url[-1] == ">" and url.startswith("<"):
            break
        tail = url[-1] + tail
        url = url[:-1]
    return tail


# a {@link} reference: a token without spaces, then its member's (parameter, list) if any
_LINK_TARGET_RE = re.compile(r"[^\s(]*(?:\([^()]*\))?")


def _inline_tag(match: re.Match) -> str:
    tag, arg = match.group(1).lower(), match.group(2).strip()
    if tag in ("inheritdoc", "docroot"):
        return ""
    if tag in ("link", "linkplain", "linkcode", "see", "tutorial"):
        if "|" in arg:                       # JSDoc {@link url|text}
            return arg.split("|", 1)[1].strip()
        # the reference is one token, but a member's parameter list may hold spaces:
        # {@link Foo#bar(int, String) the label}
        target = _LINK_TARGET_RE.match(arg).group(0)
        label = arg[len(target):].strip()
        if label:                            # {@link Foo#bar the label}
            return label
        return target.lstrip("#").replace("#", ".")
    return arg                               # {@code x}, {@literal x}, {@value X}


def _role_text(match: re.Match) -> str:
    text = match.group(1)
    labelled = re.match(r"^(.*?)\s*<[^<>]*>$", text)
    if labelled and labelled.group(1):
        return labelled.group(1)
    text = text.lstrip("!")
    if text.startswith("~"):                 # Sphinx: ~a.b.Foo displays as Foo
        text = text[1:].rsplit(".", 1)[-1]
    return text


def _cut_sections(text: str) -> str:
    """Keep the description: drop tag/field/section blocks, doctests, code fences and directives."""
    lines = _strip_leading_stars(text.split("\n"))
    kept: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            kept.append("")
            i += 1
            continue
        if in_fence:
            i += 1
            continue
        if _CALL_SEQ_RE.match(line):
            # RDoc ":call-seq:" is followed by indented signatures up to a blank line (the first may
            # share its line); the description comes after it.
            i += 1
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        desc = _DESC_TAG_RE.match(line)
        if desc:
            kept.append(line[desc.end():])
            i += 1
            continue
        if (
            _BLOCK_TAG_RE.match(line)
            or _FIELD_RE.match(line)
            or _SECTION_RE.match(line)
            or _INLINE_SECTION_RE.match(line)
            or _DOCTEST_RE.match(line)
        ):
            break
        if line and _UNDERLINE_RE.match(nxt) and not _UNDERLINE_RE.match(line):
            # NumPy / reST section "Parameters\n----------": a heading ends the description
            # (a heading before any text is a title: skip it and go on).
            if any(k.strip() for k in kept):
                break
            i += 2
            continue
        if _UNDERLINE_RE.match(line):
            kept.append("")
            i += 1
            continue
        if _DIRECTIVE_RE.match(line):
            break
        if _HEADING_RE.match(line):
            if any(k.strip() for k in kept):
                break
            i += 1
            continue
        if line.endswith("::") and any(k.strip() for k in kept + [line]):
            # reST literal block follows: keep the sentence ("Example::" -> "Example:"), stop.
            kept.append(raw.rstrip()[:-1])
            break
        kept.append(raw)
        i += 1
    return "\n".join(kept)


def clean_docstring(docstring: str | None) -> str:
    """The description part of `docstring`, markup removed; paragraphs separated by one blank line.

    Idempotent on its own output. Returns "" when nothing descriptive is left.
    """
    if not docstring:
        return ""
    text = ftfy.fix_text(docstring, unescape_html=False)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # C# XML docs: prefer the <summary> element's inner text when there is one.
    summary = _CS_SUMMARY_RE.search(text)
    if summary:
        text = summary.group(1)
    text = _sub_elements(text, _CS_DROP_OPEN_RE)
    text = _CS_REF_RE.sub(_cs_ref_name, text)
    text = _sub_elements(text, _CS_SEE_OPEN_RE, keep_inner=True)
    text = _sub_elements(text, _HTML_COMMENT_OPEN_RE)
    text = _sub_elements(text, _HTML_DROP_OPEN_RE, between="\n\n")
    text = _HTML_BREAK_RE.sub("\n\n", text)
    text = _HTML_LINE_RE.sub("\n", text)
    text = _HTML_TAG_RE.sub("", text)
    text = html.unescape(text)
    text = _INLINE_TAG_RE.sub(_inline_tag, text)
    text = _RDOC_LINK_RE.sub(lambda m: m.group(1) or m.group(2), text)
    text = _MD_IMAGE_RE.sub("", text)
    text = _MD_LINK_RE.sub(lambda m: m.group(1), text)
    text = _REF_LINK_RE.sub(lambda m: m.group(1), text)
    text = _URL_RE.sub(_url_residue, text)
    text = _cut_sections(text)
    text = _ROLE_RE.sub(_role_text, text)
    text = _DOUBLE_BACKTICK_RE.sub(lambda m: m.group(1), text)
    text = _BACKTICK_RE.sub(lambda m: m.group(1), text)
    text = _RDOC_CODE_RE.sub(lambda m: m.group(1), text)
    text = _BARE_LINK_RE.sub(lambda m: m.group(1), text)
    # Empty brackets left behind by removed URLs/links, e.g. "see ()" or "(<>)".
    # Calls such as "flush()" keep their parentheses (they are attached to a name).
    text = re.sub(r"(?<![\w\])>])(?:\(\s*\)|\[\s*\]|<\s*>)", "", text)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        para = _WS_RE.sub(" ", " ".join(ln.strip() for ln in block.split("\n"))).strip()
        para = re.sub(r"\s+([,.;:!?)\]])(?=\s|$|[,.;:])", r"\1", para)   # "see ." after URL removal
        if para and re.search(r"\w", para):
            paragraphs.append(para)
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------- first sentence

_ABBREVIATIONS = frozenset(
    "e.g i.e eg ie etc vs cf al approx ca resp incl esp viz fig figs eq eqs no nos sec ref refs mr mrs ms dr st"
    " jr sr vol pp ed eds ex min max e.t.c w.r.t a.k.a".split()
)
_TERMINATOR_RE = re.compile(r"(?<![.!?])[.!?]+(?=[\"')\]]*(?:\s|$))")


def first_sentence(text: str) -> str:
    """The first sentence of the first paragraph of `text` (already cleaned), or that paragraph."""
    paragraph = text.strip().split("\n\n", 1)[0].strip()
    for match in _TERMINATOR_RE.finditer(paragraph):
        end = match.end()
        if paragraph[match.start()] == ".":
            # the word before the period; a window, not the whole prefix, so a paragraph of many
            # abbreviations ("e.g. e.g. ...") stays linear (no abbreviation is near 32 characters)
            word = re.split(r"[\s(\[\"']", paragraph[max(0, match.start() - 32): match.start()])[-1].lower()
            if word in _ABBREVIATIONS:
                continue
        elif paragraph[match.start() - 1:match.start()].isalnum() or paragraph[match.start() - 1:match.start()] == "_":
            # `empty?` / `save!` glued to a word and followed by a lower-case word is a method name
            # ("Used by the what_type? method."), not the end of a question
            rest = paragraph[end:end + 8].lstrip("\"')] \t\n")  # past a closing quote: `the "empty?" method`
            if rest[:1].islower():
                continue
        # Include closing quotes/brackets right after the terminator.
        while end < len(paragraph) and paragraph[end] in "\"')]":
            end += 1
        return paragraph[:end].strip()
    return paragraph


def summarize(docstring: str | None) -> str:
    """The pair's `summary`: first sentence of the cleaned docstring ("" when none is left)."""
    return first_sentence(clean_docstring(docstring))


# Scripts written without spaces between words: each character counts as one token.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


def count_tokens(text: str) -> int:
    """Tokens for the paper's length rule: whitespace-separated words of `text`, where every
    Chinese/Japanese/Korean character counts as a token of its own (those scripts do not separate
    words with spaces, so a whole sentence would otherwise count as one token)."""
    return len(_TOKEN_RE.findall(text))


# --------------------------------------------------------------------------- English detection

# Languages the detector chooses among. py3langid knows ~100 labels, several of which (Nigerian
# Pidgin, Latin, Haitian, ...) soak up probability from short technical English; restricting the
# set to languages that actually occur in source-code comments makes short summaries far more
# stable (measured in docs/pairs.md). A summary in a language outside the set is still assigned
# to its nearest listed language, which is not English, so it is still rejected.
DETECTION_LANGUAGES = (
    "en", "zh", "ja", "ko", "ru", "uk", "bg", "de", "fr", "es", "pt", "it", "nl", "pl", "cs", "sk",
    "tr", "vi", "id", "sv", "da", "no", "fi", "hu", "ro", "el", "he", "ar", "fa", "th", "hi", "ca",
)

DEFAULT_ENGLISH_MIN_PROB = 0.015

# A word that looks like code rather than prose: contains _ . :: -> ( ) digits, or inner capitals.
_CODE_TOKEN_RE = re.compile(
    r"[_\d]|::|->|=>|[()\[\]{}<>=/\\#$%^&*|~@]|\w\.\w|[a-z][A-Z]|^[A-Z]{2,}s?$"
)
_WORD_STRIP = "\"'`,.;:!?()[]{}"


def prose_words(text: str) -> list[str]:
    """The words of `text` that look like natural language (identifiers and symbols removed)."""
    words = []
    for token in text.split():
        word = token.strip(_WORD_STRIP)
        if word and not _CODE_TOKEN_RE.search(word) and any(ch.isalpha() for ch in word):
            words.append(word)
    return words


def _is_ascii_latin(text: str) -> bool:
    return all(ord(ch) < 0x250 for ch in text)


class EnglishDetector:
    """Decides whether a summary is English, rejecting only when confidently non-English.

    Rule, for a summary s:
      1. w = prose_words(s): identifier-like tokens (snake_case, camelCase, dotted names, calls,
         numbers, ALLCAPS acronyms) are removed, because they are neither English nor anything else
         and dominate short technical sentences ("Returns the `userId` of a `FooBar`").
      2. If w has fewer than `min_words` words *and* is written in Latin script, the text is too
         short to judge: keep it. (A non-Latin script such as CJK or Cyrillic is reliable even in a
         single word, so such text is always judged.)
      3. Otherwise p = P(en | w) from py3langid restricted to `DETECTION_LANGUAGES`, with its
         length-calibrated softmax (norm_probs=True). The summary is English iff p >= `min_prob`.

    `min_prob` (default 0.015) is deliberately low: the summary is rejected only when the detector is
    confident it is another language. Measured on the stack-sample corpus (docs/pairs.md): the
    least English-looking real English summaries ("Test uint enum.", "Debug log message.") score
    about 0.024, while three-word Spanish/German/French/Italian sentences score below 0.01 and
    longer non-English sentences below 0.001; 0.015 sits between the two on a log scale.
    The model (about 2 s to load) is loaded once per process, lazily and thread-safely; instances
    pickle without it (Beam ships them to workers).
    """

    _lock = threading.Lock()
    _identifier = None

    def __init__(self, min_prob: float = DEFAULT_ENGLISH_MIN_PROB, min_words: int = 3):
        if not 0.0 <= min_prob <= 1.0:
            raise ValueError(f"min_prob must be within [0, 1], got {min_prob}")
        self.min_prob = float(min_prob)
        self.min_words = int(min_words)

    @classmethod
    def _model(cls):
        if cls._identifier is None:
            with cls._lock:
                if cls._identifier is None:
                    from py3langid.langid import MODEL_FILE, LanguageIdentifier

                    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                    ident.set_languages(list(DETECTION_LANGUAGES))
                    cls._identifier = ident
        return cls._identifier

    def english_probability(self, text: str) -> tuple[float, str]:
        """(P(en), most likely language) of `text`'s prose words; (1.0, "en") if there are none."""
        words = prose_words(unicodedata.normalize("NFC", text))
        if not words:
            return 1.0, "en"
        ranked = self._model().rank(" ".join(words))
        probs = dict(ranked)
        return float(probs.get("en", 0.0)), ranked[0][0]

    def verdict(self, text: str) -> str | None:
        """None when `text` counts as English, else the detected language code (e.g. "zh")."""
        words = prose_words(unicodedata.normalize("NFC", text))
        if len(words) < self.min_words and _is_ascii_latin(" ".join(words)):
            return None
        if not words:
            return None
        prob, top = self.english_probability(text)
        if prob >= self.min_prob:
            return None
        return top if top != "en" else "und"
