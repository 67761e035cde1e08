"""pack/unpack: the compact shuffle values of exact dedup, near dedup's join-back and the writer."""
from pipeline.dedup.packing import pack, unpack


def test_round_trip_keeps_values_types_and_key_order():
    record = {
        "id": "r1", "lang": "python", "content": "def f():\n    return 'é' * 3\n" * 50,
        "licenses": ["MIT", "Apache-2.0"], "stars": None, "size": 2**40, "ratio": 0.1 + 0.2,
        "identifiers": [{"start": 0, "end": 3, "kind": "function"}], "pair": ("a", 1), "raw": b"\x00\xff",
        "flag": True,
    }
    back = unpack(pack(record))
    assert back == record
    assert list(back) == list(record)
    assert type(back["pair"]) is tuple and type(back["raw"]) is bytes and back["ratio"] == 0.1 + 0.2


def test_packed_value_is_smaller_than_repetitive_source_code():
    record = {"id": "x", "content": "    result = compute(value, other)\n" * 400}
    assert len(pack(record)) < len(record["content"]) / 5
