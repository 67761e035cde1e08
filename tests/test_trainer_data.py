"""Streaming data: rank/worker sharding, world-size-invariant global batches, exact resume, packing, errors."""
from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np
import pyarrow.parquet as pq
import pytest
from trainer_helpers import make_corpus, make_rows, write_shards

from trainer.data import PackedStream, batches, find_shards, plan_units
from trainer.errors import UserError
from trainer.masking import MaskingConfig
from trainer.packing import PAD_SEGMENT, best_fit_decreasing, build_sequence, packing_efficiency, split_long

CFG = MaskingConfig(mask_id=2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("data"), n_rows=320)


def _stream(corpus, streams, rank=0, world=1, positions=None, seq_len=128, infinite=True, split="train", offset=0):
    data, tok = corpus
    shards = find_shards(data)
    units = plan_units(shards, split, streams, unit_rows=16, needs=("content", "identifiers"))
    return PackedStream(shards, units, tok, CFG, seq_len=seq_len, streams=streams, rank=rank, world_size=world,
                        seed=1, window_units=3, split=split, positions=positions, infinite=infinite, start_offset=offset)


def _key(item):
    return np.asarray(item["input_ids"]).tobytes() + np.asarray(item["labels"]).tobytes()


def test_units_partition_the_split_across_ranks_and_workers(corpus):
    ds = _stream(corpus, streams=4, world=2)
    assert sum(u.rows for u in ds.units) == 240  # 3 of every 4 rows are train
    for epoch in (0, 1):
        seen = Counter()
        for rank in (0, 1):
            r = _stream(corpus, streams=4, rank=rank, world=2)
            for worker in (0, 1):
                for s in r.worker_streams(worker, 2):
                    seen.update(r.units_of(s, epoch))
        assert set(seen) == set(ds.units) and set(seen.values()) == {1}
    with pytest.raises(UserError, match="multiple"):
        ds.worker_streams(0, 3)


def test_one_epoch_reads_every_train_token_once(corpus):
    data, tok_dir = corpus
    from trainer.tokenization import load_tokenizer

    tok = load_tokenizer(tok_dir)
    table = pq.read_table(find_shards(data)[0].parent)
    expected = sum(len(tok.encode(c).ids) for c, s in zip(table["content"].to_pylist(), table["split"].to_pylist()) if s == "train")
    items = []
    for rank in (0, 1):
        items += list(_stream(corpus, streams=2, rank=rank, world=2, infinite=False))
    tokens = sum(int((it["segment_ids"] != PAD_SEGMENT).sum()) for it in items)
    assert tokens == expected
    eff = tokens / sum(it["segment_ids"].size for it in items)
    assert eff > 0.9


def test_global_batch_is_world_size_invariant(corpus):
    steps = 12  # past the first window, so epochs/windows differ between streams
    one = list(islice(batches(iter(_stream(corpus, streams=2)), 4), steps))
    ranks = [list(islice(batches(iter(_stream(corpus, streams=2, rank=r, world=2)), 2), steps)) for r in (0, 1)]
    for step in range(steps):
        a = Counter(_key(x) for x in _items(one[step]))
        b = Counter(_key(x) for r in ranks for x in _items(r[step]))
        assert a == b


def _items(batch):
    n = batch["input_ids"].shape[0]
    return [{"input_ids": batch["input_ids"][i].numpy(), "labels": batch["labels"][i].numpy()} for i in range(n)]


def test_resume_from_positions_is_exact(corpus):
    it = iter(_stream(corpus, streams=2))
    consumed = {}
    for _ in range(37):  # crosses window boundaries (windows hold ~10-20 sequences here)
        item = next(it)
        s, e, w, i = item["pos"].tolist()
        consumed[s] = (e, w, i)
    expected = [_key(next(it)) for _ in range(30)]
    resumed = iter(_stream(corpus, streams=2, positions=consumed, offset=37))
    assert [_key(next(resumed)) for _ in range(30)] == expected


def test_dataloader_workers_keep_the_order(corpus):
    from trainer.data import make_loader

    direct = list(_stream(corpus, streams=2, infinite=False))
    loaded = list(make_loader(_stream(corpus, streams=2, infinite=False), num_workers=2))
    assert [_key(x) for x in loaded] == [_key(x) for x in direct]


def test_packing():
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(1, 300, size=500)]
    bins = best_fit_decreasing(lengths, 256 * 2)
    assert sorted(i for b in bins for i in b) == list(range(500))
    assert all(sum(lengths[i] for i in b) <= 512 for b in bins)
    assert sum(lengths) / (512 * len(bins)) >= 0.97
    assert split_long(2500, 1024) == [(0, 1024), (1024, 2048), (2048, 2500)]
    seq = build_sequence([(np.array([5, 6, 7]), np.array([-100, 6, -100])), (np.array([8, 9]), np.array([8, -100]))], 8, 0)
    assert seq["segment_ids"].tolist() == [0, 0, 0, 1, 1, -1, -1, -1]
    assert seq["position_ids"][:5].tolist() == [0, 1, 2, 0, 1]
    assert seq["labels"].tolist() == [-100, 6, -100, 8, -100, -100, -100, -100]
    assert packing_efficiency(seq["segment_ids"]) == 5 / 8


def test_bad_inputs(tmp_path, corpus):
    rows = make_rows(20)
    no_ids = write_shards(tmp_path / "noids", rows, n_shards=1, drop=("identifiers",))
    with pytest.raises(UserError, match="no 'identifiers' column"):
        plan_units(find_shards(no_ids), "train", 1, needs=("content", "identifiers"))
    with pytest.raises(UserError, match="split 'test' has no rows"):
        plan_units(find_shards(corpus[0]), "test", 1)
    bad = tmp_path / "bad" / "files"
    bad.mkdir(parents=True)
    (bad / "part-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(UserError, match="cannot read shard"):
        plan_units(find_shards(bad.parent), "train", 1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .parquet shards"):
        find_shards(tmp_path / "empty")
