"""Tests for reports.driver_sample: the one input check, binning and ranking shared by the
sensitivity indices and PRIM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports import driver_sample as ds
from reports.discovery import prim
from reports.sensitivity import first_order


def test_unit_ranks_average_ties():
    # ranks 3.5, 1, 3.5, 2 (ties share their mean rank), then (rank - 0.5) / n
    np.testing.assert_array_equal(
        ds.unit_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [0.75, 0.125, 0.75, 0.375]
    )


def test_equal_count_bins_by_value():
    x = np.array([5.0, 1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 6.0])
    bins, k = ds.equal_count_bins(x, 4)
    assert k == 4 and bins.dtype == np.int16
    # cuts at sorted positions 2, 4, 6 -> values 2, 3, 5; the three 2s share bin 1
    np.testing.assert_array_equal(bins, [3, 0, 1, 1, 1, 2, 2, 3])
    same, _ = ds.equal_count_bins(x, 4, np.sort(x))
    np.testing.assert_array_equal(same, bins)
    # a switch fills one bin per value, whatever k asks for (bin 0, below the lowest cut, is empty)
    sw, k_sw = ds.equal_count_bins(np.array([0.0, 1.0] * 50), 10)
    assert k_sw == 3
    np.testing.assert_array_equal(sw, [1, 2] * 50)


def test_digitize_many_cuts_do_not_overflow():
    """More than 32,767 cuts (an exact PAWN grid of a large sample) need int32 bin indices."""
    x = np.arange(40_000.0)
    codes = ds.digitize(x, ds.quantile_cuts(x, len(x)))
    assert codes.min() == 0 and codes.max() == len(x) - 1
    np.testing.assert_array_equal(np.diff(codes), 1)


def test_validate_sample_codes_drivers():
    X = pd.DataFrame(
        {
            "num": [0.5, 1.5, 2.5, 3.5],
            "flag": [True, False, True, True],
            "region": ["s", "n", "s", "e"],
            "level": pd.Categorical(["hi", "lo", "hi", "lo"], ["lo", "hi"], ordered=True),
        }
    )
    names, Xt, unordered, y = ds.validate_sample(X, [1, 2, 3, 5])
    assert names == ["num", "flag", "region", "level"]
    np.testing.assert_array_equal(
        Xt, [[0.5, 1.5, 2.5, 3.5], [1, 0, 1, 1], [2, 1, 2, 0], [1, 0, 1, 0]]
    )
    np.testing.assert_array_equal(unordered, [False, False, True, False])
    assert y.dtype == np.float64


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.zeros(5), np.arange(5.0), r"X must be 2-D \(n, d\); got an array with shape \(5,\)"),
        ([[1, 2]], np.arange(1.0), "X must be a pandas DataFrame or 2-D array; got list"),
        (pd.DataFrame(index=range(5)), np.arange(5.0), "X has no columns"),
        (pd.DataFrame({"a": range(5)}), np.zeros((5, 1)), r"y must be 1-D; got shape \(5, 1\)"),
        (pd.DataFrame({"a": range(3)}), np.arange(3.0), "need at least 4 rows; got 3"),
        (pd.DataFrame({"a": range(5)}), np.ones(5), "y is constant"),
        (
            pd.DataFrame({"a": [1.0, np.inf, 2, 3, 4]}),
            np.arange(5.0),
            "driver 'a' contains 1 NaN/inf",
        ),
        (
            pd.DataFrame({"c": ["u", None, "v", "u", "v"]}),
            np.arange(5.0),
            "driver 'c' contains missing",
        ),
    ],
)
def test_validate_sample_errors_name_the_field(X, y, match):
    with pytest.raises(ValueError, match=match):
        ds.validate_sample(X, y)


def test_sensitivity_and_prim_share_the_checks():
    """The same bad driver gets the same message from a sensitivity index and from PRIM."""
    X = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]})
    y = np.arange(6.0)
    for call in (lambda: first_order(X, y), lambda: prim(X, y > 3)):
        with pytest.raises(ValueError, match="driver 'a' contains 1 NaN/inf values"):
            call()
    for call in (lambda: first_order(X.iloc[:5], y), lambda: prim(X.iloc[:5], y > 3)):
        with pytest.raises(ValueError, match="length mismatch: X has 5 rows but y"):
            call()
