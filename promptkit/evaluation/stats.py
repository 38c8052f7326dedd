"""Statistics for runs: bootstrap CIs for means and paired comparisons of two runs.

Pure functions over lists of numbers, seeded so a report reads the same every time.
scipy is imported only inside the function that needs it (Wilcoxon).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from promptkit.errors import UserError

VERDICTS = ("better", "worse", "no significant difference")
CONTINUOUS_TESTS = ("wilcoxon", "permutation", "bootstrap")
POWER = 0.8                 # the power the "needs about N cases" note is computed for
_EXACT_PERMUTATION_MAX = 16  # up to 2**16 sign patterns are enumerated; beyond, sampled
_BATCH_CELLS = 2_000_000     # bounds bootstrap memory: resamples per batch * n <= this


def _as_array(values: Iterable[float], what: str) -> np.ndarray:
    x = np.asarray(list(values), dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise UserError(f"{what}: need at least one value")
    if not np.all(np.isfinite(x)):
        raise UserError(f"{what}: values must be finite numbers "
                        "(leave unparsable and error cases out first)")
    return x


def _resampled_means(x: np.ndarray, n_resamples: int, seed: int | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    per_batch = max(1, _BATCH_CELLS // x.size)
    means = []
    for start in range(0, n_resamples, per_batch):
        size = min(per_batch, n_resamples - start)
        means.append(x[rng.integers(0, x.size, size=(size, x.size))].mean(axis=1))
    return np.concatenate(means)


@dataclass(frozen=True)
class Estimate:
    """A mean and its confidence interval (`method`: "bootstrap" or "wilson")."""

    mean: float
    low: float
    high: float
    n: int
    alpha: float = 0.05
    method: str = "bootstrap"


def bootstrap_ci(values: Iterable[float], *, n_resamples: int = 10_000, alpha: float = 0.05,
                 seed: int | None = 0) -> Estimate:
    """Mean of `values` with a (1 - alpha) percentile-bootstrap CI."""
    x = _as_array(values, "bootstrap_ci")
    means = _resampled_means(x, n_resamples, seed)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    mean = float(x.mean())
    # Quantiles of floating-point means can land a hair outside the mean on degenerate data.
    return Estimate(mean, min(float(low), mean), max(float(high), mean), int(x.size), alpha)


def wilson_ci(successes: int, n: int, *, alpha: float = 0.05) -> Estimate:
    """Share `successes / n` with the Wilson score interval (Wilson, 1927).

    Unlike a bootstrap of 0/1 values, it never collapses to zero width: 25 passes out of 25
    give [0.867, 1.0] at 95%, not [1.0, 1.0].
    """
    if n <= 0 or not 0 <= successes <= n:
        raise UserError(f"wilson_ci: need 0 <= successes <= n and n > 0, got {successes}/{n}")
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Estimate(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)), n,
                    alpha, "wilson")


def mean_ci(values: Iterable[float], *, binary: bool | None = None, alpha: float = 0.05,
            seed: int | None = 0, n_resamples: int = 10_000) -> Estimate:
    """The one summary of a metric's per-case values: Wilson for a 0/1 metric, else bootstrap.

    `binary` is what the metric declares (`Metric.binary`); None guesses from the values.
    Repeats averaged per case give shares, not 0/1, and are bootstrapped either way.
    """
    x = _as_array(values, "mean_ci")
    zero_one = bool(np.all((x == 0) | (x == 1)))
    if zero_one and (binary or binary is None):
        return wilson_ci(int(x.sum()), int(x.size), alpha=alpha)
    return bootstrap_ci(x, n_resamples=n_resamples, alpha=alpha, seed=seed)


# ------------------------------------------------------------------------------ pairing

@dataclass(frozen=True)
class Pairing:
    """Two runs' values matched by case id, and the ids that could not be matched."""

    ids: list[str]
    a: list[float]
    b: list[float]
    only_a: list[str]
    only_b: list[str]
    unscored: list[str]   # on both sides, but without a value on at least one of them


def _value(v: Any) -> float | None:
    if v is None:
        return None
    if hasattr(v, "outcome"):   # a MetricResult: only "ok" results carry a number
        return v.value if v.outcome == "ok" else None
    return float(v)


def _by_id(side: Mapping | Iterable, label: str) -> dict[str, float | None]:
    items = side.items() if isinstance(side, Mapping) else side
    out: dict[str, float | None] = {}
    for case_id, v in items:
        key = str(case_id)
        if key in out:
            raise UserError(f"run {label} has case id '{key}' twice; "
                            "a run must score each case once")
        out[key] = _value(v)
    return out


def pair_by_id(results_a: Mapping | Iterable, results_b: Mapping | Iterable) -> Pairing:
    """Match {id: value} (or (id, value) pairs; values may be MetricResults) from two runs."""
    a, b = _by_id(results_a, "A"), _by_id(results_b, "B")
    ids, va, vb, unscored = [], [], [], []
    for case_id, x in a.items():
        if case_id not in b:
            continue
        y = b[case_id]
        if x is None or y is None:
            unscored.append(case_id)
            continue
        ids.append(case_id)
        va.append(x)
        vb.append(y)
    only_a, only_b = [i for i in a if i not in b], [i for i in b if i not in a]
    return Pairing(ids, va, vb, only_a, only_b, unscored)


# ------------------------------------------------------------------------------- tests

def mcnemar_exact(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of wins vs losses at p = 0.5."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2 ** n)   # exact integer arithmetic until the last division


def _wilcoxon(d: np.ndarray) -> tuple[float, int]:
    """p-value and direction (+1/-1/0 by signed-rank sums) of the Wilcoxon signed-rank test."""
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 1.0, 0
    try:
        from scipy import stats
    except ImportError as exc:
        from promptkit.errors import MissingDependencyError

        raise MissingDependencyError("the Wilcoxon signed-rank test", "eval") from exc
    ranks = stats.rankdata(np.abs(nonzero))
    direction = int(np.sign(ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()))
    return float(stats.wilcoxon(nonzero).pvalue), direction


def _sign_flip(d: np.ndarray, n_resamples: int, seed: int | None) -> float:
    """Permutation test of mean(d) = 0 by flipping signs; exact when there are few cases."""
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, observed)   # equal statistics must count as "as extreme"
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 1.0
    if nonzero.size <= _EXACT_PERMUTATION_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=nonzero.size)))
        stats_ = np.abs(signs @ nonzero) / d.size
        return float(np.mean(stats_ >= observed - tolerance))
    rng = np.random.default_rng(seed)
    per_batch, extreme = max(1, _BATCH_CELLS // nonzero.size), 0
    for start in range(0, n_resamples, per_batch):
        signs = rng.choice((1.0, -1.0), size=(min(per_batch, n_resamples - start), nonzero.size))
        extreme += int(np.sum(np.abs(signs @ nonzero) / d.size >= observed - tolerance))
    return float((extreme + 1) / (n_resamples + 1))


def _bootstrap_test(d: np.ndarray, n_resamples: int, seed: int | None) -> float:
    """Paired bootstrap test: resample the differences re-centred on 0 (the null)."""
    observed = abs(d.mean())
    if observed == 0:
        return 1.0
    means = _resampled_means(d - d.mean(), n_resamples, seed)
    extreme = np.sum(np.abs(means) >= observed - 1e-12 * observed)
    return float((extreme + 1) / (n_resamples + 1))


# ------------------------------------------------------------------------------- power

def _z(alpha: float) -> tuple[float, float]:
    normal = NormalDist()
    return normal.inv_cdf(1 - alpha / 2), normal.inv_cdf(POWER)


def _mcnemar_cases_needed(effect: float, discordant: float, alpha: float) -> float:
    """Cases for POWER at alpha (Connor 1987), given the net effect and the discordant share."""
    za, zb = _z(alpha)
    root = za * math.sqrt(discordant) + zb * math.sqrt(discordant - effect ** 2)
    return root ** 2 / effect ** 2


def _mcnemar_detectable(n: int, discordant: float, alpha: float) -> float | None:
    """Smallest net effect detectable at n with this discordant share (None: none is)."""
    if _mcnemar_cases_needed(discordant, discordant, alpha) > n:
        return None
    low, high = 0.0, discordant      # cases needed falls as the effect grows: bisect
    for _ in range(60):
        mid = (low + high) / 2
        if mid == 0 or _mcnemar_cases_needed(mid, discordant, alpha) > n:
            low = mid
        else:
            high = mid
    return high


def detectable_effect(n: int, *, alpha: float = 0.05, discordant: float | None = None,
                      sd: float | None = None) -> float | None:
    """The smallest paired difference a test at `alpha` finds with POWER on `n` cases.

    For 0/1 scores give `discordant`, the share of cases the two sides score differently
    (McNemar, Connor 1987); for other scores `sd`, the spread of the per-case differences
    (normal approximation). None when no difference is detectable at n.
    """
    if n <= 0:
        return None
    if discordant is not None:
        return _mcnemar_detectable(n, discordant, alpha) if discordant > 0 else None
    if not sd:
        return None
    za, zb = _z(alpha)
    return (za + zb) * sd / math.sqrt(n)


def _power_note(d: np.ndarray, binary: bool, wins: int, losses: int, alpha: float) -> str:
    n, effect = d.size, abs(float(d.mean()))
    if binary:
        share = (wins + losses) / n
        if share == 0:
            return f"A and B agree on all {n} cases: there is no difference to detect."
        # With an exact test, even a one-sided split needs this many discordant pairs.
        least = math.ceil(math.log2(2 / alpha))
        needed = _mcnemar_cases_needed(effect, share, alpha) if effect else None
        floor = detectable_effect(n, discordant=share, alpha=alpha)
        smallest = (f"smallest effect detectable at n={n}: ±{floor:.3f}" if floor is not None
                    else f"at n={n} no effect is detectable while only {wins + losses} "
                    "cases differ between A and B")
        if wins + losses < least:
            smallest += f"; significance needs at least {least} discordant cases"
    else:
        sd = float(d.std(ddof=1)) if n > 1 else 0.0
        za, zb = _z(alpha)
        needed = ((za + zb) * sd / effect) ** 2 if effect and sd else None
        smallest = (f"smallest effect detectable at n={n}: "
                    f"±{detectable_effect(n, sd=sd, alpha=alpha):.3f}"
                    if sd else f"the differences do not vary, so their spread is unknown at n={n}")
    if not effect:
        return f"No net difference observed; {smallest}."
    need = f"needs about {math.ceil(needed)} cases" if needed else "needs more cases"
    return (f"Dataset too small to detect the observed effect of {float(d.mean()):+.3f} "
            f"({need} for {POWER:.0%} power at alpha {alpha:g}); {smallest}.")


# -------------------------------------------------------------------------- comparison

@dataclass(frozen=True)
class Comparison:
    """B against A on paired cases. `delta` is mean(B) - mean(A); the verdict is about B."""

    n: int
    mean_a: float
    mean_b: float
    delta: float
    ci_low: float
    ci_high: float
    test: str
    p_value: float
    alpha: float
    verdict: str
    binary: bool
    higher_is_better: bool = True
    wins: list = field(default_factory=list)     # cases B improves (binary: A fails, B passes)
    losses: list = field(default_factory=list)   # cases B breaks (binary: A passes, B fails)
    note: str = ""
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self, metric: str = "metric") -> str:
        """A few plain lines for a terminal or a report."""
        level = f"{1 - self.alpha:.0%}"
        lines = [
            f"{metric}: A {self.mean_a:.3f} -> B {self.mean_b:.3f} over {self.n} paired cases; "
            f"delta {self.delta:+.3f} ({level} CI {self.ci_low:+.3f} .. {self.ci_high:+.3f})",
            f"{self.test} p = {self.p_value:.4g} at alpha {self.alpha:g}: B is "
            + (self.verdict if self.verdict != VERDICTS[2] else "not significantly different"),
        ]
        if self.binary:
            lines.append(f"B fixes {len(self.wins)} case(s), breaks {len(self.losses)}")
        if self.note:
            lines.append(self.note)
        if self.only_a or self.only_b or self.unscored:
            lines.append(f"not compared: {len(self.only_a)} only in A, "
                         f"{len(self.only_b)} only in B, "
                         f"{len(self.unscored)} without a score on one side")
        return "\n".join(lines)


def _is_binary(*arrays: np.ndarray) -> bool:
    return all(np.isin(x, (0.0, 1.0)).all() for x in arrays)


def paired_compare(a: Sequence[float], b: Sequence[float], *, binary: bool | None = None,
                   test: str | None = None, alpha: float = 0.05, seed: int | None = 0,
                   n_resamples: int = 10_000, higher_is_better: bool = True,
                   ids: Sequence[str] | None = None) -> Comparison:
    """Compare per-case scores of B against A (same cases, same order).

    binary (auto-detected from 0/1 values when None) -> exact McNemar; otherwise `test` is
    "wilcoxon" (default), "permutation" (sign-flip on the mean) or "bootstrap".
    """
    xa, xb = _as_array(a, "paired_compare A"), _as_array(b, "paired_compare B")
    if xa.size != xb.size:
        raise UserError(f"paired_compare: A has {xa.size} values and B {xb.size}; "
                        "pair the cases by id first (pair_by_id)")
    if ids is not None and len(ids) != xa.size:
        raise UserError(f"paired_compare: {len(ids)} ids for {xa.size} cases")
    if not 0 < alpha < 1:
        raise UserError(f"paired_compare: alpha must be between 0 and 1, got {alpha}")
    binary = _is_binary(xa, xb) if binary is None else binary
    if binary and not _is_binary(xa, xb):
        raise UserError("paired_compare: binary=True but some values are not 0 or 1")
    d = xb - xa
    labels = list(ids) if ids is not None else list(range(xa.size))
    # A win is a case B improves: a rise, or a fall where lower is better (looping 1 -> 0).
    gain = d if higher_is_better else -d
    wins = [labels[i] for i in np.flatnonzero(gain > 0)] if binary else []
    losses = [labels[i] for i in np.flatnonzero(gain < 0)] if binary else []

    direction = int(np.sign(d.mean()))
    if binary:
        test_name, p = "exact McNemar", mcnemar_exact(len(wins), len(losses))
    else:
        test = test or "wilcoxon"
        if test not in CONTINUOUS_TESTS:
            raise UserError(f"paired_compare: unknown test '{test}'; "
                            f"choose one of {', '.join(CONTINUOUS_TESTS)}")
        if test == "wilcoxon":
            test_name, (p, rank_direction) = "Wilcoxon signed-rank", _wilcoxon(d)
            # Ranks and mean can point different ways (one huge outlier): claim nothing then.
            if rank_direction != direction:
                direction = 0
        elif test == "permutation":
            test_name, p = "paired permutation (sign-flip)", _sign_flip(d, n_resamples, seed)
        else:
            test_name, p = "paired bootstrap", _bootstrap_test(d, n_resamples, seed)

    ci = bootstrap_ci(d, n_resamples=n_resamples, alpha=alpha, seed=seed)
    if not higher_is_better:
        direction = -direction
    significant = p < alpha and direction != 0
    verdict = VERDICTS[2] if not significant else ("better" if direction > 0 else "worse")
    note = "" if significant else _power_note(d, binary, len(wins), len(losses), alpha)
    if p < alpha and direction == 0 and d.mean() != 0:
        note = "The test is significant but ranks and mean disagree in direction; " + note
    return Comparison(int(xa.size), float(xa.mean()), float(xb.mean()), float(d.mean()),
                      ci.low, ci.high, test_name, p, alpha, verdict, binary, higher_is_better,
                      wins, losses, note)


def compare_by_id(results_a: Mapping | Iterable, results_b: Mapping | Iterable,
                  **options: Any) -> Comparison:
    """Pair two runs by case id, then `paired_compare`; unmatched ids are listed in the result."""
    pairing = pair_by_id(results_a, results_b)
    if not pairing.ids:
        raise UserError("the two runs have no scored case ids in common",
                        hint="Compare runs made on the same dataset.")
    result = paired_compare(pairing.a, pairing.b, ids=pairing.ids, **options)
    return dataclasses.replace(result, only_a=pairing.only_a, only_b=pairing.only_b,
                               unscored=pairing.unscored)
