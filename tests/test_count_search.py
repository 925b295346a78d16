"""neuron_count_search with a fake evaluate (spec §2.6, §9.6), default bands:
MLP (1000, 45000), residual (1000, 10000), 5 initial neurons, at most 30."""

import dataclasses

import pytest

from revs.config import REVSConfig
from revs.demote import neuron_count_search

CONFIG = REVSConfig()
MLP_IN, RES_IN = 2_000, 5_000  # inside the MLP and residual bands
ABOVE, PAST = 0, 50_000  # ranked above a band (too high) / past it (demoted too much)


def _search(evaluate, n_candidates=30, config=CONFIG):
    calls = []

    def recording(count):
        calls.append(count)
        return evaluate(count)

    trajectory = neuron_count_search(recording, n_candidates, config)
    assert calls == trajectory  # each count tried is evaluated once, in order
    assert all(1 <= count <= n_candidates for count in trajectory)
    return trajectory


def test_mlp_still_promoting_grows_to_all_candidates():
    assert _search(lambda k: (ABOVE, ABOVE)) == [5, 8, 12, 19, 30]


def test_mlp_demoted_too_much_shrinks_to_two():
    # Spec §9.6 writes "5 -> 4 -> 3 -> 2 -> 2 stop": after evaluating 2 the next count is again 2,
    # already tried, so the search stops without evaluating it (as 30 in the growing case).
    assert _search(lambda k: (PAST, ABOVE)) == [5, 4, 3, 2]


def test_both_ranks_in_band_at_once_stops():
    assert _search(lambda k: (MLP_IN, RES_IN)) == [5]


def test_residual_still_high_adds_one_neuron_at_a_time():
    assert _search(lambda k: (MLP_IN, RES_IN if k >= 9 else ABOVE)) == [5, 6, 7, 8, 9]


def test_residual_demoted_too_much_removes_one_neuron_at_a_time():
    assert _search(lambda k: (MLP_IN, PAST if k > 3 else RES_IN)) == [5, 4, 3]


def test_stops_after_max_iter_mlp():
    config = dataclasses.replace(CONFIG, max_iter_mlp=3)
    assert _search(lambda k: (MLP_IN, ABOVE), config=config) == [5, 6, 7]


def test_fewer_candidates_than_initial_neurons_clips():
    assert _search(lambda k: (MLP_IN, RES_IN), n_candidates=3) == [3]
    assert _search(lambda k: (ABOVE, ABOVE), n_candidates=3) == [3, 3]
    assert _search(lambda k: (MLP_IN, ABOVE), n_candidates=1) == [1, 1]


def test_no_candidate_is_an_error():
    with pytest.raises(ValueError, match="at least one candidate"):
        neuron_count_search(lambda k: (0, 0), 0, CONFIG)
