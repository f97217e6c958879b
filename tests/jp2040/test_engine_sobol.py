"""Sobol indices through the engine on a small Saltelli design agree with the given-data view of
which drivers matter for the 2040 digital deficit."""

import numpy as np
import pytest

from engine import compose
from jp2040.engine_sobol import engine_sobol

DRIVERS = ["agi", "digital_deficit_growth", "fx", "gdp_growth", "ftqc"]


@pytest.fixture(scope="module")
def indices():
    cfg = compose(["scenario=not_so_bright", "engine.progress=false"])
    return engine_sobol(cfg, "macro", "digital_deficit_2040", drivers=DRIVERS, n=256, n_boot=50)


def test_deficit_driven_by_growth_and_agi(indices):
    # not_so_bright: no sovereign-AI restraint, the deficit is a function of its growth rate and
    # AGI timing only; fx, gdp growth and FTQC do not enter it
    assert set(indices["ST"].nlargest(2).index) == {"agi", "digital_deficit_growth"}
    for d in ("fx", "gdp_growth", "ftqc"):
        assert abs(indices.loc[d, "S1"]) < 0.02 and indices.loc[d, "ST"] < 0.02
    assert indices["S1"].sum() == pytest.approx(1.0, abs=0.1)  # nearly additive in two drivers
    assert np.all(indices["ST"] >= indices["S1"] - 0.05)


def test_unknown_driver_is_named():
    with pytest.raises(ValueError, match="unknown driver"):
        engine_sobol(compose([]), "macro", "digital_deficit_2040", drivers=["agi_yaer"], n=4)
