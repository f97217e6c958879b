"""Tests for reports.sensitivity and reports.figures_sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, norm

from reports import sensitivity as sa
from reports.figures_sensitivity import plot_indices, plot_prim_tradeoff, plot_tornado

# Ishigami (a=7, b=0.1, inputs U[-pi, pi]): analytic indices.
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def ishigami_u(u: np.ndarray) -> np.ndarray:
    """Ishigami function of uniforms in (0, 1), shape (rows, 3) -> (rows,)."""
    x = -np.pi + 2.0 * np.pi * u
    return np.sin(x[:, 0]) + 7.0 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


@pytest.fixture(scope="module")
def linear():
    """y = X @ w with independent standard normal X; n = 20000."""
    rng = np.random.default_rng(42)
    w = np.array([1.0, 2.0, 0.5, 0.0])
    X = pd.DataFrame(rng.standard_normal((20_000, 4)), columns=["a", "b", "c", "d"])
    return X, X.to_numpy() @ w, w


# ------------------------------------------------------------------------------ Sobol


def test_sobol_ishigami_matches_analytic():
    # N = 2**14 base points -> 2**14 * (3 + 2) = 81920 model rows.
    res = sa.sobol(ishigami_u, ["x1", "x2", "x3"], n=2**14, seed=0, n_boot=50)
    assert list(res.index) == ["x1", "x2", "x3"]
    np.testing.assert_allclose(res["S1"], ISHIGAMI_S1, atol=0.02)
    np.testing.assert_allclose(res["ST"], ISHIGAMI_ST, atol=0.02)
    for k in ("S1", "ST"):
        assert (res[f"{k}_lo"] <= res[k]).all() and (res[k] <= res[f"{k}_hi"]).all()


def test_sobol_invariant_to_added_constant():
    """Adding 1e4 to y leaves S1, ST and their intervals unchanged (issue 20).

    Before outputs were centred, +1e4 moved S1 of x3 by 0.09 and widened its interval from 0.03
    to 47.
    """
    base = sa.sobol(ishigami_u, ["x1", "x2", "x3"], n=2**14, seed=0, n_boot=50)
    shifted = sa.sobol(lambda u: ishigami_u(u) + 1e4, ["x1", "x2", "x3"], n=2**14, n_boot=50)
    pd.testing.assert_frame_equal(shifted, base, check_exact=False, rtol=0, atol=1e-9)
    # still at the exact Ishigami indices, well inside the bootstrap half-width (~0.013)
    np.testing.assert_allclose(shifted["S1"], ISHIGAMI_S1, atol=0.005)
    np.testing.assert_allclose(shifted["ST"], ISHIGAMI_ST, atol=0.005)
    assert ((shifted["S1_hi"] - shifted["S1_lo"]) < 0.05).all()


def saltelli_jansen(yA, yB, yAB):
    """Textbook S1 (Saltelli et al. 2010) and ST (Jansen 1999) on outputs centred on their pooled
    mean; yA, yB (n,), yAB (d, n) -> (d,), (d,)."""
    f0 = np.concatenate([yA, yB]).mean()
    a, b, ab = yA - f0, yB - f0, yAB - f0
    v = np.concatenate([a, b]).var()
    return (b * (ab - a)).mean(1) / v, 0.5 * ((a - ab) ** 2).mean(1) / v


@pytest.mark.parametrize("d", [1, 3])
def test_sobol_indices_match_textbook_estimators(d):
    """scipy.stats.sobol_indices, as wired in (its (s, d) result squeezed; d = 1 needs a second
    set of outputs), gives the textbook estimators on Ishigami outputs offset by 1e4."""
    n = 2**12
    A, B, AB = sa.saltelli_design(n, d, seed=3)
    u = np.pad(sa.stack_design(A, B, AB), ((0, 0), (0, 3 - d)), constant_values=0.3)
    yA, yB, yAB = sa.unstack_outputs(ishigami_u(u) + 1e4, n, d)
    ours = sa.sobol_indices(yA, yB, yAB, n_boot=20)
    s1, st = saltelli_jansen(yA, yB, yAB)
    np.testing.assert_allclose(ours["S1"], s1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["ST"], st, rtol=0, atol=1e-12)
    for k in ("S1", "ST"):
        assert (ours[f"{k}_lo"] <= ours[k]).all() and (ours[k] <= ours[f"{k}_hi"]).all()
        assert (ours[f"{k}_lo"] < ours[f"{k}_hi"]).all()


def test_sobol_indices_constant_outputs_and_bad_n():
    """Constant outputs give NaN (0/0; scipy alone would say 0); n must be a power of two."""
    res = sa.sobol_indices(np.ones(8), np.ones(8), np.ones((2, 8)), n_boot=5)
    assert res.isna().all().all()
    with pytest.raises(ValueError, match="power-of-two number n >= 2 of outputs; got n=6"):
        sa.sobol_indices(np.arange(6.0), np.arange(6.0), np.ones((2, 6)))


def test_saltelli_design_structure():
    A, B, AB = sa.saltelli_design(8, 3, seed=1)
    assert A.shape == B.shape == (8, 3) and AB.shape == (3, 8, 3)
    assert (A > 0).all() and (A < 1).all() and (B > 0).all() and (B < 1).all()
    for i in range(3):
        np.testing.assert_array_equal(AB[i][:, i], B[:, i])
        others = [j for j in range(3) if j != i]
        np.testing.assert_array_equal(AB[i][:, others], A[:, others])
    stacked = sa.stack_design(A, B, AB)
    assert stacked.shape == (8 * 5, 3)
    yA, yB, yAB = sa.unstack_outputs(stacked[:, 0], 8, 3)
    np.testing.assert_array_equal(yA, A[:, 0])
    np.testing.assert_array_equal(yB, B[:, 0])
    np.testing.assert_array_equal(yAB[1], AB[1][:, 0])


def test_sobol_calls_model_once():
    calls = []

    def model(u):
        calls.append(u.shape)
        return u[:, 0] + 0.5 * u[:, 1]

    sa.sobol(model, ["p", "q"], n=256, n_boot=0)
    assert calls == [(256 * 4, 2)]


# ------------------------------------------------------------------------------ given data


def test_first_order_ishigami_given_data():
    rng = np.random.default_rng(7)
    u = rng.random((200_000, 3))
    s1 = sa.first_order(pd.DataFrame(u, columns=["x1", "x2", "x3"]), ishigami_u(u))
    np.testing.assert_allclose(s1.to_numpy(), ISHIGAMI_S1, atol=0.02)


def test_given_data_invariant_to_added_constant(linear):
    """First-order (and the other given-data indices) ignore a constant added to y."""
    X, y, _ = linear
    base = sa.given_data_indices(X, y, n_boot=20)
    shifted = sa.given_data_indices(X, y + 1e4, n_boot=20)
    pd.testing.assert_frame_equal(shifted, base, check_exact=False, rtol=0, atol=1e-9)


def test_linear_model_indices(linear):
    X, y, w = linear
    res = sa.given_data_indices(X, y, n_boot=0)
    np.testing.assert_allclose(res["first_order"], w**2 / (w**2).sum(), atol=0.02)
    assert list(res["spearman"].abs().sort_values(ascending=False).index) == ["b", "a", "c", "d"]
    assert list(res["pawn"].sort_values(ascending=False).index) == ["b", "a", "c", "d"]
    # the standalone functions agree with the combined table
    pd.testing.assert_series_equal(sa.first_order(X, y), res["first_order"])
    pd.testing.assert_series_equal(sa.spearman(X, y), res["spearman"])
    pd.testing.assert_series_equal(sa.pawn(X, y), res["pawn"])


def test_correlated_inputs_given_data_vs_sobol():
    """Given-data S1 credits a correlated bystander; the independent Sobol design does not."""
    rho = 0.8
    rng = np.random.default_rng(3)
    z = rng.standard_normal((100_000, 2))
    x1 = z[:, 0]
    x2 = rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]
    s1 = sa.first_order(pd.DataFrame({"x1": x1, "x2": x2}), x1)
    assert s1["x2"] == pytest.approx(rho**2, abs=0.03)
    assert s1["x1"] == pytest.approx(1.0, abs=0.03)
    sob = sa.sobol(lambda u: norm.ppf(u[:, 0]), ["x1", "x2"], n=2**12, n_boot=0)
    assert abs(sob.loc["x2", "S1"]) < 0.02 and abs(sob.loc["x2", "ST"]) < 0.02
    assert sob.loc["x1", "S1"] == pytest.approx(1.0, abs=0.02)


def test_discrete_and_categorical_drivers():
    rng = np.random.default_rng(5)
    n = 30_000
    switch = rng.integers(0, 3, n)  # 3 levels -> one bin per level
    cat = pd.Categorical(rng.choice(["north", "south", "east"], n))
    y = switch.astype(float) + (cat == "south") * 2.0 + rng.standard_normal(n)
    X = pd.DataFrame({"switch": switch, "region": cat, "noise": rng.standard_normal(n)})
    s1 = sa.first_order(X, y)
    # switch: Var(E[y|s]) = 2/3, region: Var = 4 * 2/9; total var = 2/3 + 8/9 + 1
    total = 2 / 3 + 8 / 9 + 1
    assert s1["switch"] == pytest.approx((2 / 3) / total, abs=0.02)
    assert s1["region"] == pytest.approx((8 / 9) / total, abs=0.02)
    assert abs(s1["noise"]) < 0.01
    rho = sa.spearman(X, y)
    assert np.isnan(rho["region"]) and rho["switch"] > 0.3


def test_bootstrap_intervals_contain_estimate_and_shrink():
    rng = np.random.default_rng(11)
    w = np.array([1.0, 2.0, 0.5])
    widths = []
    for n in (2_000, 20_000):
        X = pd.DataFrame(rng.standard_normal((n, 3)), columns=["a", "b", "c"])
        y = X.to_numpy() @ w + rng.standard_normal(n)
        res = sa.given_data_indices(X, y, n_boot=60, seed=1)
        for k in ("first_order", "spearman", "pawn"):
            assert (res[f"{k}_lo"] <= res[k]).all() and (res[k] <= res[f"{k}_hi"]).all()
        widths.append((res["first_order_hi"] - res["first_order_lo"]).to_numpy())
    assert (widths[1] < widths[0]).all()


def test_m_out_of_n_bootstrap_is_rescaled(linear):
    X, y, _ = linear
    full = sa.given_data_indices(X, y, n_boot=60, boot_rows=len(y))
    sub = sa.given_data_indices(X, y, n_boot=60, boot_rows=5_000)
    w_full = full["spearman_hi"] - full["spearman_lo"]
    w_sub = sub["spearman_hi"] - sub["spearman_lo"]
    ratio = (w_sub / w_full).loc[["a", "b", "c"]]
    assert ((ratio > 0.6) & (ratio < 1.6)).all()


def test_pawn_exact_grid_equals_ks_2samp():
    """On an exact outcome grid (y_cells >= n, here > 32,767 cells) the histogram PAWN is the
    median over slices of scipy's two-sample KS between the slice and the whole sample."""
    from reports.driver_sample import equal_count_bins

    rng = np.random.default_rng(8)
    n = 40_000
    X = pd.DataFrame({"a": rng.standard_normal(n), "b": rng.integers(0, 4, n)})
    y = X["a"].to_numpy() + 0.3 * X["b"].to_numpy() + rng.standard_normal(n)
    got = sa.pawn(X, y, y_cells=n)
    for col in X.columns:
        bins, k = equal_count_bins(X[col].to_numpy(dtype=float), 10)
        ref = np.median(
            [ks_2samp(y[bins == j], y).statistic for j in range(k) if (bins == j).any()]
        )
        assert got[col] == pytest.approx(ref, abs=1e-12)


# ------------------------------------------------------------------------------ tail views


@pytest.fixture(scope="module")
def tail_case():
    rng = np.random.default_rng(9)
    n = 50_000
    X = pd.DataFrame(rng.standard_normal((n, 3)), columns=["x1", "x2", "x3"])
    y = X["x1"].to_numpy() + 0.1 * rng.standard_normal(n) + 0.05 * X["x2"].to_numpy()
    return X, y


def test_tail_sensitivity(tail_case):
    X, y = tail_case
    res = sa.tail_sensitivity(X, y, tail=0.05, side="low")
    assert res.index[0] == "x1"
    assert res.loc["x1", "ks"] > 0.9
    assert res.loc["x3", "ks"] < 0.1
    assert res.loc["x1", "median_tail"] < -1.5 < res.loc["x1", "median_rest"]
    # agrees with scipy's asymptotic two-sample KS test
    mask = y <= np.sort(y)[int(np.ceil(0.05 * len(y))) - 1]
    ref = ks_2samp(X["x3"][mask], X["x3"][~mask], method="asymp")
    assert res.loc["x3", "ks"] == pytest.approx(ref.statistic, abs=1e-12)
    assert res.loc["x3", "p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
    high = sa.tail_sensitivity(X, y, tail=0.05, side="high")
    assert high.loc["x1", "median_tail"] > 1.5


def test_tornado(tail_case):
    X, y = tail_case
    res = sa.tornado(X, y)
    assert list(res.columns) == ["median_low", "median_high", "swing", "es_low", "es_high"]
    assert res.index[0] == "x1"
    assert res["swing"].is_monotonic_decreasing
    # x1 near its 10th / 90th percentile (about -1.28 / +1.28)
    assert res.loc["x1", "median_low"] == pytest.approx(norm.ppf(0.1), abs=0.1)
    assert res.loc["x1", "median_high"] == pytest.approx(norm.ppf(0.9), abs=0.1)
    assert (res["es_low"] <= res["median_low"]).all()
    assert "median" in res.attrs and "es" in res.attrs


def test_tornado_es_is_downsides(tail_case):
    """Window and baseline ES are reports.downside.expected_shortfall of those outcomes."""
    from reports.downside import expected_shortfall

    X, y = tail_case
    res = sa.tornado(X, y, side="high", es_alpha=0.1)
    x = X["x1"].to_numpy()
    a, b = np.quantile(x, [0.85, 0.95])
    window = y[(x >= a) & (x <= b)]
    assert res.loc["x1", "es_high"] == expected_shortfall(window, 0.1, "high").value
    assert res.attrs["es"] == expected_shortfall(y, 0.1, "high").value
    # ties at the VaR all count (the mean of the worst ceil(alpha n) values would say 0.5)
    ties = np.r_[0.0, 1.0, 1.0, 1.0, np.arange(4.0, 100.0)]
    assert sa.tornado(X.iloc[:100], ties, es_alpha=0.02).attrs["es"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="es_alpha must be in \\(0, 1\\); got 1.0"):
        sa.tornado(X, y, es_alpha=1.0)


# ------------------------------------------------------------------------------ bad inputs


def test_bad_inputs():
    X = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) ** 2})
    with pytest.raises(ValueError, match="power of two.*n=1000"):
        sa.saltelli_design(1000, 3)
    with pytest.raises(ValueError, match="power of two"):
        sa.sobol(ishigami_u, ["a", "b", "c"], n=100)
    with pytest.raises(ValueError, match="length mismatch: X has 10 rows but y has 9"):
        sa.first_order(X, np.arange(9.0))
    y = np.arange(10.0)
    y[3] = np.nan
    with pytest.raises(ValueError, match="y contains 1 NaN"):
        sa.given_data_indices(X, y)
    with pytest.raises(ValueError, match="y contains 1 NaN"):
        sa.tornado(X, y)
    with pytest.raises(ValueError, match="side must be"):
        sa.tail_sensitivity(X, np.arange(10.0), side="middle")
    with pytest.raises(ValueError, match="NaN/inf model outputs"):
        sa.sobol(lambda u: np.full(len(u), np.nan), ["a", "b"], n=8)
    with pytest.raises(ValueError, match="model returned shape"):
        sa.sobol(lambda u: u, ["a", "b"], n=8)


# ------------------------------------------------------------------------------ figures


def test_figures_have_labelled_axes(linear, tail_case):
    from matplotlib.figure import Figure

    from reports.discovery import prim

    X, y = tail_case
    fig = plot_tornado(sa.tornado(X, y), "operating profit 2040", "JPY tn")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "median operating profit 2040 (JPY tn)"
    assert ax.get_ylabel() == "driver"

    Xl, yl, _ = linear
    fig = plot_indices(sa.given_data_indices(Xl, yl, n_boot=20))
    assert isinstance(fig, Figure)
    assert [a.get_xlabel() for a in fig.axes] == [
        "first_order (dimensionless)",
        "spearman (dimensionless)",
        "pawn (dimensionless)",
    ]
    assert fig.axes[0].get_ylabel() == "driver"

    res = prim(X, y < np.quantile(y, 0.1))
    fig = plot_prim_tradeoff(res)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_xlabel().startswith("coverage")
    assert fig.axes[0].get_ylabel().startswith("density")
