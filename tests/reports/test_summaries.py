"""The reports' shared statistics machinery (reports.summaries) against ArviZ."""

import arviz as az
import numpy as np
import pytest

from reports.summaries import (
    ReportOptionError,
    diagnostic_subset,
    iter_variables,
    quantile_mcse_from_sorted,
    relative_ess,
    stack_cells,
)

from .conftest import DOMAINS, N_CHAIN, N_DRAW


def test_diagnostics_match_arviz_when_uncapped(results):
    """With fewer draws per chain than the cap, ESS and the quantile MCSE are ArviZ's."""
    ds = results["domain"].to_dataset()
    ess_bulk = az.ess(ds, method="bulk")
    mcse_q = az.mcse(ds, method="quantile", prob=0.05)
    n = N_CHAIN * N_DRAW
    for name, da in ds.data_vars.items():
        values, cells = stack_cells(da)
        sub = diagnostic_subset(values, None)
        ess = relative_ess(sub, "bulk") * n
        mcse = quantile_mcse_from_sorted(
            np.sort(values.reshape(-1, values.shape[-1]), axis=0),
            0.05,
            relative_ess(sub, "quantile", 0.05) * n,
        )
        for i, ent in enumerate(cells["entity"]):
            sel = {"domain": ent}
            assert ess[i] == pytest.approx(float(ess_bulk[name].sel(sel)), rel=1e-9)
            assert mcse[i] == pytest.approx(float(mcse_q[name].sel(sel)), rel=1e-9)
    assert set(cells["entity"]) == set(DOMAINS)


def test_unknown_names_raise(results):
    with pytest.raises(ReportOptionError, match="valid.*digital_deficit_2040"):
        list(iter_variables(results, var_names=["digital_deficit_2041"]))
    with pytest.raises(ReportOptionError, match="valid groups"):
        list(iter_variables(results, groups=["nope"]))
