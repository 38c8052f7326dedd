"""Bootstrap CIs, paired tests, verdicts, flips and the power note."""

from __future__ import annotations

import numpy as np
import pytest

from promptkit.errors import UserError
from promptkit.evaluation.metrics import MetricResult
from promptkit.evaluation.stats import (
    bootstrap_ci,
    compare_by_id,
    mcnemar_exact,
    pair_by_id,
    paired_compare,
)


def test_bootstrap_ci_contains_the_mean_and_is_reproducible():
    values = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1]
    est = bootstrap_ci(values, seed=7, n_resamples=2000)
    assert est.mean == pytest.approx(0.7)
    assert est.low < 0.7 < est.high
    assert 0.0 <= est.low and est.high <= 1.0
    assert bootstrap_ci(values, seed=7, n_resamples=2000) == est
    wider = bootstrap_ci(values, seed=7, n_resamples=2000, alpha=0.01)
    assert wider.low <= est.low and wider.high >= est.high
    many = bootstrap_ci(values * 20, seed=7, n_resamples=2000)
    assert many.high - many.low < est.high - est.low


def test_bootstrap_ci_refuses_empty_or_nan():
    with pytest.raises(UserError):
        bootstrap_ci([])
    with pytest.raises(UserError, match="finite"):
        bootstrap_ci([0.5, float("nan")])
    assert bootstrap_ci([0.25]).low == bootstrap_ci([0.25]).high == 0.25


def test_mcnemar_exact_matches_hand_value_and_scipy():
    from scipy.stats import binomtest

    # 2 wins vs 9 losses: 2 * (C(11,0) + C(11,1) + C(11,2)) / 2**11 = 2 * 67 / 2048
    assert mcnemar_exact(2, 9) == 2 * 67 / 2048
    for wins, losses in [(2, 9), (9, 2), (0, 6), (5, 5), (13, 4), (40, 61)]:
        expected = binomtest(wins, wins + losses, 0.5).pvalue
        assert mcnemar_exact(wins, losses) == pytest.approx(expected, rel=1e-12)
    assert mcnemar_exact(0, 0) == 1.0


def test_binary_clearly_better_worse_and_equal():
    a = [0] * 30 + [1] * 10
    b = [1] * 15 + [0] * 15 + [1] * 10    # B fixes cases 0..14, breaks none
    better = paired_compare(a, b)
    assert better.binary and better.test == "exact McNemar"
    assert better.verdict == "better" and better.p_value == pytest.approx(2 / 2 ** 15)
    assert better.wins == list(range(15)) and better.losses == []
    assert better.delta == pytest.approx(15 / 40) and better.ci_low > 0
    assert better.note == ""

    worse = paired_compare(b, a)
    assert worse.verdict == "worse" and worse.losses == list(range(15))

    same = paired_compare(a, a)
    assert same.verdict == "no significant difference" and same.p_value == 1.0
    assert "agree on all 40 cases" in same.note


def test_small_binary_difference_gets_a_power_note():
    # n = 20: B fixes 3 cases and breaks 1. Exact McNemar: 2 * (1 + 4) / 16 = 0.625.
    a = [0] * 16 + [1] * 4
    b = [1, 1, 1] + [0] * 13 + [0, 1, 1, 1]
    result = paired_compare(a, b, ids=[f"q{i}" for i in range(20)])
    assert result.p_value == pytest.approx(0.625)
    assert result.verdict == "no significant difference"
    assert result.wins == ["q0", "q1", "q2"] and result.losses == ["q16"]
    # Connor (1987), psi = 4/20, delta = 2/20, 80% power at alpha 0.05:
    # (1.95996*sqrt(.2) + 0.84162*sqrt(.2 - .01))**2 / .01 = 154.6 -> 155 cases
    assert "too small to detect the observed effect of +0.100" in result.note
    assert "needs about 155 cases" in result.note
    assert "at least 6 discordant cases" in result.note
    text = result.summary("exact_match")
    assert "B fixes 3 case(s), breaks 1" in text and "not significantly different" in text


def test_continuous_verdicts_and_direction():
    rng = np.random.default_rng(3)
    a = rng.uniform(0.2, 0.6, size=40)
    b = a + 0.2 + rng.normal(0, 0.02, size=40)
    result = paired_compare(a, b)
    assert not result.binary and result.test == "Wilcoxon signed-rank"
    assert result.verdict == "better" and result.ci_low > 0.15
    assert result.wins == [] and result.losses == []      # flips are for binary metrics
    assert paired_compare(b, a).verdict == "worse"
    # For latency, lower is better: B being slower is "worse".
    assert paired_compare(a, b, higher_is_better=False).verdict == "worse"
    for test in ("permutation", "bootstrap"):
        assert paired_compare(a, b, test=test).verdict == "better"
        assert paired_compare(a, a, test=test).verdict == "no significant difference"


def test_wilcoxon_p_value_is_scipys():
    from scipy.stats import wilcoxon

    a = [0.1, 0.4, 0.35, 0.8, 0.5, 0.45, 0.3, 0.9]
    b = [0.2, 0.38, 0.5, 0.85, 0.7, 0.44, 0.45, 0.95]
    result = paired_compare(a, b)
    assert result.p_value == pytest.approx(wilcoxon(np.subtract(b, a)).pvalue)


def test_exact_sign_flip_permutation():
    # Five equal positive differences: only all-plus and all-minus reach |mean| = 0.2 -> 2/32.
    result = paired_compare([0.5] * 5, [0.7] * 5, test="permutation")
    assert result.p_value == pytest.approx(2 / 32)
    assert result.verdict == "no significant difference"
    assert "needs" in result.note or "spread" in result.note


def test_paired_compare_rejects_bad_input():
    with pytest.raises(UserError, match="pair the cases by id"):
        paired_compare([1, 0], [1])
    with pytest.raises(UserError, match="binary=True"):
        paired_compare([0.5], [1.0], binary=True)
    with pytest.raises(UserError, match="unknown test"):
        paired_compare([0.5, 0.2], [0.1, 0.3], test="ttest")


def test_pair_by_id_reports_unmatched_cases():
    a = {"q1": 1.0, "q2": 0.0, "q3": 1.0, "q5": 1.0}
    b = {"q2": MetricResult(1.0), "q3": MetricResult.unparsable("no JSON"), "q4": 1.0,
         "q5": 1.0}
    pairing = pair_by_id(a, b)
    assert pairing.ids == ["q2", "q5"] and pairing.a == [0.0, 1.0] and pairing.b == [1.0, 1.0]
    assert (pairing.only_a, pairing.only_b, pairing.unscored) == (["q1"], ["q4"], ["q3"])
    result = compare_by_id(a, b)
    assert result.n == 2 and result.wins == ["q2"]
    assert result.only_a == ["q1"] and result.only_b == ["q4"] and result.unscored == ["q3"]
    assert "1 only in A, 1 only in B, 1 without a score" in result.summary()


def test_pairing_errors():
    with pytest.raises(UserError, match="twice"):
        pair_by_id([("q1", 1.0), ("q1", 0.0)], {"q1": 1.0})
    with pytest.raises(UserError, match="no scored case ids in common"):
        compare_by_id({"q1": 1.0}, {"q2": 1.0})


def test_binary_flips_follow_the_metric_direction():
    # looping: A loops on cases 0-2, B on none; lower is better, so B fixes those three.
    a, b = [1, 1, 1, 0, 0, 1], [0, 0, 0, 0, 1, 1]
    result = paired_compare(a, b, higher_is_better=False, ids=list("uvwxyz"))
    assert result.wins == ["u", "v", "w"] and result.losses == ["y"]
    up = paired_compare(a, b, ids=list("uvwxyz"))
    assert up.wins == ["y"] and up.losses == ["u", "v", "w"]


def test_binary_metrics_get_wilson_intervals_that_never_collapse():
    from promptkit.evaluation.stats import mean_ci, wilson_ci

    all_pass = mean_ci([1.0] * 25)
    assert all_pass.method == "wilson" and all_pass.high == 1.0
    assert all_pass.low == pytest.approx(0.8668, abs=1e-4)       # not a zero-width [1, 1]
    assert mean_ci([0.0] * 25).high == pytest.approx(0.1332, abs=1e-4)
    three_of_four = wilson_ci(3, 4)
    assert (three_of_four.low, three_of_four.high) == (pytest.approx(0.3006, abs=1e-4),
                                                       pytest.approx(0.9544, abs=1e-4))
    assert mean_ci([0.2, 0.9, 0.4]).method == "bootstrap"
    with pytest.raises(UserError):
        wilson_ci(5, 4)


def test_run_summary_and_metric_aggregate_agree():
    from promptkit.evaluation.aggregate import metric_summary
    from promptkit.evaluation.metrics import aggregate

    values = [1, 0, 1, 1, 0, 1, 1, 1]
    records = [{"id": f"c{i}", "scores": {"em": {"value": v, "outcome": "ok"}}}
               for i, v in enumerate(values)]
    run = metric_summary(records, "em")
    direct = aggregate("em", [MetricResult(float(v)) for v in values])
    assert (run["mean"], run["ci_low"], run["ci_high"]) == (direct.mean, direct.ci_low,
                                                            direct.ci_high)
    assert run["ci_method"] == "wilson"
    # A continuous metric too: the same values, the same bootstrap interval, either way in.
    f1 = [0.2, 0.9, 0.4, 0.75, 0.1, 0.6, 0.33, 1.0, 0.0, 0.5, 0.8]
    records = [{"id": f"c{i:02d}", "scores": {"f1": {"value": v, "outcome": "ok"}}}
               for i, v in enumerate(f1)]
    run = metric_summary(records, "f1", seed=3, n_resamples=2000)
    direct = aggregate("f1", [MetricResult(v) for v in f1], seed=3, n_resamples=2000)
    assert run["ci_method"] == "bootstrap"
    assert (run["mean"], run["ci_low"], run["ci_high"]) == (direct.mean, direct.ci_low,
                                                            direct.ci_high)


def test_the_declared_kind_of_a_metric_picks_the_interval():
    from promptkit.evaluation.stats import mean_ci

    all_zero = [0.0] * 25
    assert mean_ci(all_zero, binary=True).method == "wilson"
    # A continuous metric (token F1) that happens to score 0 everywhere is not a share.
    assert mean_ci(all_zero, binary=False).method == "bootstrap"
    assert mean_ci([0.5, 1.0], binary=True).method == "bootstrap"   # repeats averaged per case
