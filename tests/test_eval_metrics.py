"""Ranking metrics and their conventions."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluation.metrics import average_precision, mrr, ranks_of_gold, recall_at


def test_ranks_mrr_cutoff_and_ties():
    scores = np.array([[0.1, 0.9, 0.5], [0.7, 0.7, 0.2]])
    ranks = ranks_of_gold(scores, [2, 1])
    assert ranks.tolist() == [2, 2]  # a tie counts against the gold item
    assert mrr([1, 2, 4]) == pytest.approx((1 + 0.5 + 0.25) / 3)
    assert mrr([1, 1001], cutoff=1000) == pytest.approx(0.5)
    assert mrr([1000], cutoff=1000) == pytest.approx(1e-3)
    assert recall_at([1, 5, 11], 10) == pytest.approx(2 / 3)


def test_average_precision_by_hand():
    # ranking (query excluded): d4 (rel), d1, d3 (rel), d2 -> AP = (1/1 + 2/3) / 2
    scores = np.array([9.0, 0.8, 0.1, 0.5, 0.9])
    assert average_precision(scores, [0, 3, 4], exclude=0) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(scores, [4], exclude=0) == pytest.approx(1.0)
    assert np.isnan(average_precision(scores, [0], exclude=0))
    # two relevant items tied at the top with an irrelevant one: both ranked after it
    assert average_precision(np.array([0.0, 1.0, 1.0, 1.0]), [1, 2], exclude=0) == pytest.approx((1 / 3 + 2 / 3) / 2)
