"""Near-dedup parameters: one frozen, picklable dataclass, its command-line flags and validation."""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from pipeline.errors import UserError
from pipeline.option_values import option_values

from .lsh import optimal_params


@dataclasses.dataclass(frozen=True)
class NearDedupParams:
    """Every near-dedup knob. Defaults follow BigCode's near-dedup of The Stack.

    ngram            shingle size in code tokens (5)
    num_perm         MinHash permutations (256)
    threshold        target Jaccard similarity; chooses (b, r) with datasketch's rule (0.7)
    bands, rows      override (b, r); giving one derives the other as num_perm // given
    fp_weight, fn_weight   weights of the false positive/negative areas in datasketch's rule
    seed             MinHash seed (datasketch's `seed`, 1)
    verify           verify candidate edges by exact Jaccard of the shingle sets (True)
    verify_threshold Jaccard an edge must reach to be kept (None = threshold)
    cc_max_rounds    unrolled large-star/small-star rounds; the job fails if not converged (12)
    mega_cluster_size  clusters with more input files are counted, reported and NOT deduplicated (10000)
    enabled          False = near dedup is skipped (--no-near-dedup)
    """

    ngram: int = 5
    num_perm: int = 256
    threshold: float = 0.7
    bands: int | None = None
    rows: int | None = None
    fp_weight: float = 0.5
    fn_weight: float = 0.5
    seed: int = 1
    verify: bool = True
    verify_threshold: float | None = None
    cc_max_rounds: int = 12
    mega_cluster_size: int = 10000
    enabled: bool = True

    def __post_init__(self):
        if self.ngram < 1:
            raise UserError(f"--ngram must be >= 1, got {self.ngram}.")
        if self.num_perm < 2:
            raise UserError(f"--num-perm must be >= 2, got {self.num_perm}.")
        if not 0.0 < self.threshold < 1.0:
            raise UserError(f"--dedup-threshold must be strictly between 0 and 1, got {self.threshold}.")
        if self.verify_threshold is not None and not 0.0 < self.verify_threshold <= 1.0:
            raise UserError(f"--verify-threshold must be in (0, 1], got {self.verify_threshold}.")
        if self.fp_weight < 0 or self.fn_weight < 0 or self.fp_weight + self.fn_weight <= 0:
            raise UserError("--fp-weight and --fn-weight must be non-negative and not both zero.")
        if self.cc_max_rounds < 1:
            raise UserError(f"--cc-max-rounds must be >= 1, got {self.cc_max_rounds}.")
        if self.mega_cluster_size < 2:
            raise UserError(f"--mega-cluster-size must be >= 2, got {self.mega_cluster_size}.")
        for name in ("bands", "rows"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"--{name} must be >= 1, got {value}.")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise UserError(
                f"--bands {self.bands} x --rows {self.rows} = {self.bands * self.rows} exceeds --num-perm "
                f"{self.num_perm}; lower one of them or raise --num-perm."
            )
        for name in ("bands", "rows"):
            value = getattr(self, name)
            if value is not None and value > self.num_perm:
                raise UserError(f"--{name} {value} exceeds --num-perm {self.num_perm}.")

    def band_params(self) -> tuple[int, int]:
        """(b, r): the overrides when given, else datasketch's optimum for the threshold."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        if self.bands is not None:
            return self.bands, self.num_perm // self.bands
        if self.rows is not None:
            return self.num_perm // self.rows, self.rows
        return optimal_params(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)

    def effective_verify_threshold(self) -> float:
        return self.threshold if self.verify_threshold is None else self.verify_threshold


_DEFAULTS = NearDedupParams()


def add_dedup_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the dedup flags (dash style; dests with underscores) to an argparse / Beam options parser."""
    g = parser.add_argument_group("deduplication") if hasattr(parser, "add_argument_group") else parser
    d = _DEFAULTS
    g.add_argument("--ngram", dest="ngram", type=int, default=d.ngram, help="shingle size in code tokens (default %(default)s)")
    g.add_argument("--num-perm", dest="num_perm", type=int, default=d.num_perm, help="MinHash permutations (default %(default)s)")
    g.add_argument("--dedup-threshold", dest="dedup_threshold", type=float, default=d.threshold,
                   help="near-duplicate Jaccard threshold; picks LSH (b, r) (default %(default)s)")
    g.add_argument("--bands", dest="bands", type=int, default=None, help="override the number of LSH bands b")
    g.add_argument("--rows", dest="rows", type=int, default=None, help="override the rows per band r")
    g.add_argument("--fp-weight", dest="fp_weight", type=float, default=d.fp_weight,
                   help="false-positive weight in the (b, r) choice (default %(default)s)")
    g.add_argument("--fn-weight", dest="fn_weight", type=float, default=d.fn_weight,
                   help="false-negative weight in the (b, r) choice (default %(default)s)")
    g.add_argument("--minhash-seed", dest="minhash_seed", type=int, default=d.seed, help="MinHash seed (default %(default)s)")
    g.add_argument("--no-verify", dest="no_verify", action="store_true", default=False,
                   help="do not verify LSH candidate edges by exact Jaccard (faster, more false removals)")
    g.add_argument("--verify-threshold", dest="verify_threshold", type=float, default=None,
                   help="exact Jaccard an edge needs to survive verification (default: --dedup-threshold)")
    g.add_argument("--cc-max-rounds", dest="cc_max_rounds", type=int, default=d.cc_max_rounds,
                   help="connected-components rounds unrolled on the engine (default %(default)s)")
    g.add_argument("--mega-cluster-size", dest="mega_cluster_size", type=int, default=d.mega_cluster_size,
                   help="clusters larger than this are reported and kept whole, not deduplicated (default %(default)s)")
    g.add_argument("--no-near-dedup", dest="no_near_dedup", action="store_true", default=False,
                   help="skip near-duplicate removal")


def params_from_options(opts: Any) -> NearDedupParams:
    """NearDedupParams from Beam PipelineOptions (any view) or an argparse Namespace."""
    values = option_values(opts)

    def get(name, default):
        value = values.get(name)
        return default if value is None else value

    d = _DEFAULTS
    return NearDedupParams(
        ngram=int(get("ngram", d.ngram)),
        num_perm=int(get("num_perm", d.num_perm)),
        threshold=float(get("dedup_threshold", d.threshold)),
        bands=values.get("bands"),
        rows=values.get("rows"),
        fp_weight=float(get("fp_weight", d.fp_weight)),
        fn_weight=float(get("fn_weight", d.fn_weight)),
        seed=int(get("minhash_seed", d.seed)),
        verify=not bool(values.get("no_verify")),
        verify_threshold=values.get("verify_threshold"),
        cc_max_rounds=int(get("cc_max_rounds", d.cc_max_rounds)),
        mega_cluster_size=int(get("mega_cluster_size", d.mega_cluster_size)),
        enabled=not bool(values.get("no_near_dedup")),
    )
