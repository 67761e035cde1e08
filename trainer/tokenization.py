"""Byte-level BPE tokenizer for code, trained by streaming `files.content` from Parquet shards.

Design (design.md section 4):

* Byte-level BPE (`tokenizers`): every byte sequence is encodable, there is no unknown token.
* Pre-tokenization keeps each identifier (`[letter or _][letters, digits, _]*`, with at most one leading
  space) in ONE pre-token, so BPE merges never cross an identifier boundary. Deobfuscation relies on
  this: the tokens overlapping an identifier span are exactly that identifier's sub-tokens (plus, at
  most, the single leading space glued to the first one), never a neighbouring `(` or `.`.
  Digits are split one by one (as StarCoder does) and runs of punctuation stay together.
* Special tokens, in this id order: `<pad>` (0), `</s>` (1, end of sequence), `<mask>` (2), `<unk>` (3,
  unused by byte-level BPE, kept because some tools expect one). Pretraining also accepts other
  tokenizer folders (e.g. a BERT or RoBERTa model's, with `--init`): `special_ids` takes the pad, mask and
  end-of-document tokens from what the folder declares (`declared_special_tokens`).
* The post-processor appends `</s>` to every encoded sequence, so callers cannot forget it (CodeSage's
  users lost quality when they did); `add_special_tokens=False` gives the raw ids.
* Saved with `save_tokenizer` as a Hugging Face fast-tokenizer folder (`tokenizer.json` +
  `tokenizer_config.json`) that `transformers.AutoTokenizer.from_pretrained` loads without remote code.

Offsets (`encode(...).offsets`) are Python `str` character indices into the input, the same unit as
the `identifiers` spans of the data contract.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

PAD, EOS, MASK, UNK = "<pad>", "</s>", "<mask>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, MASK, UNK)

# One identifier per pre-token (optional single leading space); single digits; punctuation runs;
# whitespace runs, leaving the last space of a run to the next word (the GPT-2 trick).
PRETOKENIZE_PATTERN = (
    r" ?[\p{L}_][\p{L}\p{N}_]*"
    r"|\p{N}"
    r"| ?[^\s\p{L}\p{N}_]+"
    r"|\s+(?!\S)"
    r"|\s+"
)


def build_untrained():
    """An empty tokenizer with the model, pre-tokenizer, decoder and post-processor configured."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def _set_post_processor(tok) -> None:
    from tokenizers import processors

    eos_id = tok.token_to_id(EOS)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"$A {EOS}", pair=f"$A {EOS} $B:1 {EOS}:1", special_tokens=[(EOS, eos_id)]
            ),
        ]
    )


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    *,
    min_frequency: int = 2,
    length: int | None = None,
    show_progress: bool = False,
):
    """Train byte-level BPE on an iterator of texts; returns a `tokenizers.Tokenizer`.

    The iterator is consumed once, in order; `tokenizers` keeps only word counts, never the texts.
    `vocab_size` includes the 256 byte symbols and the special tokens.
    """
    from tokenizers import pre_tokenizers, trainers

    tok = build_untrained()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=length)
    for i, special in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(special) == i, "special tokens must keep ids 0..3"
    _set_post_processor(tok)
    return tok


def save_tokenizer(tok, out_dir: str | Path, model_max_length: int = 1024) -> Path:
    """Write `tok` as a Hugging Face fast-tokenizer folder; returns the folder."""
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        mask_token=MASK,
        unk_token=UNK,
        model_max_length=model_max_length,
        padding_side="right",
    )
    hf.save_pretrained(str(out))
    return out


def load_tokenizer(path: str | Path):
    """The raw `tokenizers.Tokenizer` of a saved folder (fast path for data loading)."""
    from tokenizers import Tokenizer

    from trainer.errors import UserError

    p = Path(path)
    file = p / "tokenizer.json" if p.is_dir() else p
    if not file.is_file():
        raise UserError(f"no tokenizer.json in {path}; train one with `python -m trainer tokenizer` or pass a model folder")
    return Tokenizer.from_file(str(file))


# What pretraining needs from a tokenizer, and the keys a Hugging Face tokenizer folder declares them
# under (tokenizer_config.json, then special_tokens_map.json); the end-of-document token is the eos
# token, else the sep token (BERT's [SEP]). Undeclared ones fall back to our names.
SPECIAL_KEYS = {"pad": ("pad_token",), "eos": ("eos_token", "sep_token"), "mask": ("mask_token",)}
OUR_SPECIAL = {"pad": PAD, "eos": EOS, "mask": MASK}
# Files of a Hugging Face tokenizer folder (a model folder also holds weights and a config: never copied
# with the tokenizer, or an export would take them for its own).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
                   "chat_template.jinja", "chat_template.json")


def _token_content(value) -> str | None:
    if isinstance(value, dict):  # a serialized AddedToken
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def declared_special_tokens(path: str | Path | None) -> dict[str, str]:
    """The pad, eos (end of document) and mask token strings of the tokenizer at `path`.

    For a folder, each comes from `tokenizer_config.json`, else `special_tokens_map.json` (keys
    `SPECIAL_KEYS`: pad_token; eos_token, else sep_token; mask_token); what neither declares (or any
    name, when `path` is None or a tokenizer.json file) is ours: `<pad>`, `</s>`, `<mask>`. Our own
    tokenizer folders declare exactly those, so they resolve as before.
    """
    declared: list[dict] = []
    folder = Path(path) if path is not None else None
    if folder is not None and folder.is_dir():
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            f = folder / name
            if f.is_file():
                try:
                    data = json.loads(f.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    data = None
                if isinstance(data, dict):
                    declared.append(data)
    out = {}
    for role, keys in SPECIAL_KEYS.items():
        found = None
        for key in keys:  # eos before sep in every file
            for data in declared:
                found = found or _token_content(data.get(key))
        out[role] = found or OUR_SPECIAL[role]
    return out


def special_ids(tok, path: str | Path | None = None) -> dict[str, int]:
    """Ids of the pad, eos (end of document) and mask tokens of a `tokenizers.Tokenizer`, named as
    the tokenizer folder `path` declares them (`declared_special_tokens`; ours when `path` is None).
    Raises UserError naming the token when the vocabulary lacks it."""
    from trainer.errors import UserError

    out = {}
    for name, token in declared_special_tokens(path).items():
        i = tok.token_to_id(token)
        if i is None:
            where = f"the tokenizer {path}" if path is not None else "the tokenizer"
            raise UserError(
                f"{where} has no {name} token ({token!r} is not in its vocabulary and its tokenizer_config.json declares "
                f"no other); pretraining needs pad, mask and end-of-document tokens: train one with `python -m trainer tokenizer`"
            )
        out[name] = i
    return out


def copy_tokenizer_files(src: str | Path, dst: str | Path) -> list[str]:
    """Copy the tokenizer files (`TOKENIZER_FILES`) of folder `src` into `dst` (created); returns
    their names. Weights, model configs and other files of a model folder stay behind."""
    import shutil

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    names = [n for n in TOKENIZER_FILES if (src / n).is_file()]
    for n in names:
        shutil.copy2(src / n, dst / n)
    return names


def tokenizer_vocab_size(tok) -> int:
    return tok.get_vocab_size(with_added_tokens=True)


def write_training_info(out_dir: str | Path, info: dict) -> None:
    (Path(out_dir) / "training_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def iter_contents(
    shards: list[Path], split: str | None, *, max_docs: int | None = None, max_chars: int | None = None, batch_rows: int = 256
) -> Iterator[str]:
    """Stream `content` of the rows of `split` (all rows when None) from shards, batch by batch."""
    from trainer.data import open_shard

    seen = 0
    for shard in shards:
        pf = open_shard(shard, needs=("content",) + (("split",) if split else ()))
        columns = ["content"] + (["split"] if split else [])
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            contents = batch.column(0).to_pylist()
            splits = batch.column(1).to_pylist() if split else None
            for i, text in enumerate(contents):
                if text is None or (splits is not None and splits[i] != split):
                    continue
                yield text[:max_chars] if max_chars else text
                seen += 1
                if max_docs is not None and seen >= max_docs:
                    return
