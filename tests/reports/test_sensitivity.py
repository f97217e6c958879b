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


def test_sobol_indices_match_scipy():
    """Same point estimates as scipy.stats.sobol_indices on the same outputs (its dict input).

    We keep our estimator for its vectorised bootstrap (about 30x faster than scipy's BCa
    ``bootstrap()`` at n = 2**12, d = 3) and the recentred interval shared with the given-data
    indices.
    """
    from scipy.stats import sobol_indices

    n, d = 2**12, 3
    A, B, AB = sa.saltelli_design(n, d, seed=3)
    yA, yB, yAB = sa.unstack_outputs(ishigami_u(sa.stack_design(A, B, AB)) + 1e4, n, d)
    ours = sa.sobol_indices(yA, yB, yAB, n_boot=0)
    ref = sobol_indices(func={"f_A": yA[None], "f_B": yB[None], "f_AB": yAB[:, None, :]}, n=n)
    np.testing.assert_allclose(ours["S1"], ref.first_order.ravel(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["ST"], ref.total_order.ravel(), rtol=0, atol=1e-12)


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
