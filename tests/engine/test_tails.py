"""Exact tails from every path (engine.tails, reports.tails) and tail replay (engine.replay)."""

import numpy as np
import pytest
import xarray as xr

from engine import ConfigError, compose, simulate
from engine.tails import TailBuffers, merge_top
from reports.downside import downside, exceedance
from reports.tails import buffer_tail_metrics, tail_buffer
from tests.engine.test_engine import BASE

# BASE's program (chunk 2048); tails of the worst 5% (k = 205 + 16 + 58 of 4096 paths)
TAILS = [*BASE, "engine.tail_alpha=0.05", "engine.tail_best=true"]


@pytest.fixture(scope="module")
def kept_all():
    return simulate(compose(TAILS))


@pytest.fixture(scope="module")
def kept_few():
    return simulate(compose([*TAILS, "engine.keep_paths=256", "report.sensitivity=true"]))


def _without_tails(dt: xr.DataTree) -> xr.DataTree:
    out = xr.DataTree.from_dict({k: dt[k].to_dataset() for k in dt.children if k != "tails"})
    out.attrs = dt.attrs
    return out


def test_buffers_hold_the_worst_and_best_paths_of_the_run(kept_all):
    raw = kept_all.raw
    for group, vars_ in raw.tails.items():
        for var, t in vars_.items():
            x = raw.kept_scalars[group][var]
            flat = x.reshape(x.shape[0] * x.shape[1], -1).T.astype(np.float64)  # (E, n)
            values, index = (a.reshape(flat.shape[0], -1) for a in t["worst"])
            best_v, best_i = (a.reshape(flat.shape[0], -1) for a in t["best"])
            k = values.shape[1]
            worst_first = np.sort(flat, axis=1)
            if t["side"] == "high":
                worst_first = worst_first[:, ::-1]
            np.testing.assert_array_equal(values, worst_first[:, :k], err_msg=f"{group}/{var}")
            np.testing.assert_array_equal(best_v, worst_first[:, ::-1][:, :k])
            # the index is the path's global index: its kept value is the buffer's value
            np.testing.assert_array_equal(np.take_along_axis(flat, index, 1), values)
            np.testing.assert_array_equal(np.take_along_axis(flat, best_i, 1), best_v)


def test_few_kept_paths_give_the_var_and_es_of_all_paths(kept_all, kept_few):
    """keep_paths 256 of 4096: VaR, ES, exceedance and their MCSEs from the tail buffers equal
    those computed with every path kept (no buffers), to 1e-6 relative."""
    every = _without_tails(kept_all.to_datatree())
    few = kept_few.to_datatree()
    alphas = [0.05, 0.01, 0.001]
    variables = [
        "strategy/operating_profit_2040",
        "macro/digital_deficit_2040",
        "area/fcf_cum_2040",
    ]
    ref = downside(every, alphas=alphas, variables=variables)
    got = downside(few, alphas=alphas, variables=variables)
    assert (ref["source"] == "all 4096 paths").all()
    exact = (got["source"] == "tail buffer, all 4096 paths").to_numpy()
    assert exact.sum() >= 30  # of 39 rows
    for col in ("var", "es", "var_mcse", "es_mcse"):
        np.testing.assert_allclose(got[col][exact], ref[col][exact], rtol=1e-6, atol=1e-12)
    # the others: a point mass at the VaR reaches past the buffer (ecosystem's profit is 0 on
    # more than 5% of paths), so the buffer cannot tell how many paths share it
    for _, row in got[~exact].iterrows():
        t = kept_few.raw.tails[row["group"]][row["variable"]]["worst"][0]
        ids = list(kept_few.entity_coords(row["group"], row["variable"])[1])
        assert t[ids.index(row["entity"])][-1] == row["var"]
    thresholds = [
        {"group": "macro", "variable": "digital_deficit_2040", "threshold": 60.0, "side": "high"},
        {
            "group": "strategy",
            "variable": "operating_profit_2040",
            "entity": "*",
            "threshold": 0.5,
            "side": "low",
        },
    ]
    ref, got = exceedance(every, thresholds), exceedance(few, thresholds)
    exact = got["source"].str.startswith("tail buffer").to_numpy()
    assert exact.any()
    for col in ("probability", "mcse"):
        np.testing.assert_allclose(got[col][exact], ref[col][exact], rtol=1e-6, atol=1e-12)


def test_beyond_the_buffer_is_nan_not_a_guess(kept_few):
    buf = tail_buffer(kept_few.to_datatree(), "macro", "digital_deficit_2040", "high")
    inside = buffer_tail_metrics(buf, 0.05, 10_000)
    outside = buffer_tail_metrics(buf, 0.2, 10_000)
    assert inside["covered"].all() and np.isfinite(inside["es"]).all()
    assert not outside["covered"].any() and np.isnan(outside["var"]).all()
    # downside falls back to the kept subsample and says so
    row = downside(kept_few.to_datatree(), alphas=[0.2], variables=["macro/digital_deficit_2040"])
    assert row["source"].tolist() == ["256 of 4096 paths kept"]


def test_replayed_paths_equal_the_first_pass_bit_for_bit(kept_all):
    """Tail paths and kept-trajectory paths, replayed by global index, in any order."""
    res = kept_all
    per_chain = res.cfg.engine.n_paths // res.cfg.engine.chains
    worst = res.tail_paths("strategy", "operating_profit_2040", "ecosystem", n=40)
    traj_paths = np.array([0, 5, per_chain + 63, 3 * per_chain + 1])
    idx = np.concatenate([worst, traj_paths, worst[:3]])
    rep = res.replay(idx)
    chain, draw = idx // per_chain, idx % per_chain
    for group, vars_ in rep.scalars.items():
        for var, x in vars_.items():
            np.testing.assert_array_equal(x, res.raw.kept_scalars[group][var][chain, draw])
    np.testing.assert_array_equal(rep.drivers, res.raw.kept_drivers[chain, draw])
    t = slice(len(worst), len(worst) + len(traj_paths))
    for group, vars_ in res.raw.trajectories.items():
        for var, x in vars_.items():
            kept = x[chain[t], draw[t]]
            np.testing.assert_array_equal(rep.trajectories[group][var][t], kept)
    with pytest.raises(ValueError, match="path index 4096"):
        res.replay([4096])


def test_merge_does_not_depend_on_the_order_of_chunks():
    """Buffers of the same paths merged in any order (ties included) are identical."""
    rng = np.random.default_rng(0)
    n, k = 3000, 50
    values = np.round(rng.normal(size=(2, n)), 1).astype(np.float32).astype(np.float64)  # ties
    sign = np.array([1.0, -1.0])
    chunks = np.array_split(np.arange(n), 7)
    results = []
    for order in (range(7), reversed(range(7)), [3, 0, 6, 1, 5, 2, 4]):
        buf = TailBuffers(np.full((2, k), np.nan), np.full((2, k), -1))
        for c in order:
            part = TailBuffers(
                values[:, chunks[c]], np.broadcast_to(chunks[c], (2, len(chunks[c])))
            )
            buf = buf.merge(part, sign, exact32=True)
        results.append(buf.sorted(sign))
    for other in results[1:]:
        np.testing.assert_array_equal(other.worst_value, results[0].worst_value)
        np.testing.assert_array_equal(other.worst_index, results[0].worst_index)
    expect = np.lexsort((np.arange(n), -values[0]))[:k]  # worst = largest, ties by index
    np.testing.assert_array_equal(results[0].worst_index[0], expect)
    slow = merge_top(
        values, np.tile(np.arange(n), (2, 1)), values[:, :0], np.zeros((2, 0), int), sign, k, False
    )
    np.testing.assert_array_equal(np.sort(slow[1], 1), np.sort(results[0].worst_index, 1))


def test_tail_outputs_are_validated():
    with pytest.raises(ConfigError, match=r"engine.tail_outputs\[0\].*'strategies'"):
        compose(["engine.tail_outputs=[strategies]"])
    with pytest.raises(ConfigError, match="engine.tail_alpha"):
        compose(["engine.tail_alpha=0.7"])
    with pytest.raises(ConfigError, match="unknown output 'macro/nope'"):
        simulate(compose([*BASE, "engine.tail_outputs=[macro/nope]"]))


def test_report_rebuilds_every_table_from_results_nc(kept_few, tmp_path):
    """results.nc holds /stats and /tails: jp2040-report rebuilds summary.csv (the engine's,
    histogram quantiles included), downside/exceedance from the tail buffers, and sensitivity /
    discovery with the replayed true tails. The file is compressed and mode 0644 (umask 022)."""
    import os

    import pandas as pd

    from engine.results import SUMMARY_COLUMNS
    from engine.store import result_from_datatree
    from jp2040.cli import write_run
    from jp2040.report import main

    old = os.umask(0o022)
    try:
        write_run(kept_few, tmp_path)
    finally:
        os.umask(old)
    nc = tmp_path / "results.nc"
    assert nc.stat().st_mode & 0o777 == 0o644
    first = pd.read_csv(tmp_path / "summary.csv")
    assert tuple(first.columns) == SUMMARY_COLUMNS  # the one schema of summary.csv
    (tmp_path / "summary.csv").unlink()
    assert main([str(tmp_path), "--no-figures"]) == 0
    again = pd.read_csv(tmp_path / "summary.csv")
    assert list(again.columns) == list(first.columns)
    for col in ("mean", "sd", "p05", "p50", "p95", "mcse_mean", "ess_bulk"):
        np.testing.assert_allclose(again[col], first[col], rtol=1e-9, err_msg=col)
    assert (again["quantiles_from"] == first["quantiles_from"]).all()
    sens = pd.read_csv(tmp_path / "sensitivity.csv")
    assert np.isfinite(sens["true_tail_ks"]).sum() >= 20  # 4 outcomes x their top drivers
    assert (tmp_path / "discovery.csv").exists()
    down = pd.read_csv(tmp_path / "downside.csv")
    assert down["source"].str.startswith("tail buffer").sum() > 100
    rebuilt = result_from_datatree(xr.open_datatree(nc).load())
    np.testing.assert_array_equal(
        rebuilt.raw.tail_buffers.worst_index, kept_few.raw.tail_buffers.worst_index
    )
    with xr.open_datatree(nc) as dt:
        assert (
            dt["drivers"]["agi"].encoding.get("zlib") and dt["drivers"]["agi"].dtype == np.float32
        )


@pytest.fixture(scope="module")
def few_of_many():
    """20,480 paths, 4,096 kept, default tail buffers (the worst 1% of all paths)."""
    return simulate(compose([*BASE, "engine.n_paths=20480", "engine.keep_paths=4096"]))


def test_headline_uses_every_path(few_of_many):
    """The terminal headline (reports.headline) at 20,480 paths with 4,096 kept: VaR99/ES99 equal
    those with every path kept to 1e-6 relative (not the kept subsample's), VaR95/ES95 are beyond
    the default buffers (the text shows the kept paths' estimate, marked, and says so), and the
    median is the all-path histogram's, within a bin of
    the exact median of all paths."""
    from engine.mcse import mcse_table
    from reports.headline import headline_table, headline_text

    every = simulate(compose([*BASE, "engine.n_paths=20480", "engine.keep_paths=20480"]))
    few_dt = few_of_many.to_datatree()
    few_summary = few_of_many.summary()
    got = headline_table(few_dt, few_summary)
    ref = headline_table(_without_tails(every.to_datatree()), every.summary())
    sub = headline_table(_without_tails(few_dt), few_summary)  # kept paths only: "beyond"
    assert len(got) == len(ref) >= 15 and (got["entity"] == ref["entity"]).all()
    exact = got["var99"].notna().to_numpy()
    assert exact.sum() >= len(got) - 2  # a point mass at the VaR can reach past the buffer
    assert got["source99"][exact].str.startswith("tail buffer, all 20480 paths").all()
    for col in ("var99", "es99"):
        np.testing.assert_allclose(got[col][exact], ref[col][exact], rtol=1e-6, err_msg=col)
    assert sub["var99"].isna().all() and sub["es95"].isna().all()
    assert got["var95"].isna().all() and got["es95"].isna().all() and ref["es95"].notna().all()
    text = headline_text(few_dt, few_summary)
    assert "rerun with engine.tail_alpha=0.05" in text
    assert "*: VaR/ES95 from the 4,096 kept paths only" in text
    row = next(line for line in text.splitlines() if line.startswith("digital_deficit_2040"))
    dd = got[got["variable"] == "digital_deficit_2040"].iloc[0]
    assert row.split()[-4:] == [
        f"{dd['var95_kept']:.2f}*",
        f"{dd['es95_kept']:.2f}*",
        f"{dd['var99']:.2f}",
        f"{dd['es99']:.2f}",
    ]
    assert "20,480 paths" in text
    # the median: the histogram of all paths, within one bin width of the exact median
    assert (got["median_from"] == "histogram").all() and (ref["median_from"] == "all paths").all()
    mcse = mcse_table(few_of_many)  # p50_bin_lo/hi: the bin that holds a histogram median
    bins = few_summary.assign(
        lo=mcse["p50_bin_lo"].to_numpy(),
        hi=mcse["p50_bin_hi"].to_numpy(),
        entity=few_summary["entity"].astype(str),
    )
    bins = bins[bins["year"].isna()].set_index(["group", "variable", "entity"])
    keys = list(zip(got["group"], got["variable"], got["entity"]))
    lo, hi = bins.loc[keys, "lo"].to_numpy(), bins.loc[keys, "hi"].to_numpy()
    np.testing.assert_array_less(np.abs(got["median"] - ref["median"]), hi - lo)


def test_prim_on_the_true_tail(tmp_path, few_of_many):
    """With fewer kept paths than paths, discovery.csv gets a PRIM box on the replayed worst
    paths of all paths: coverage is of the true tail, density and mass are reweighted to all
    paths (so the density exceeds the tail's base rate when the box finds anything)."""
    import pandas as pd

    from jp2040.tails import write_explanation_of

    res = few_of_many
    write_explanation_of(res, tmp_path, res.to_datatree(), "auto")
    boxes = pd.read_csv(tmp_path / "discovery.csv")
    true = boxes[boxes["sample"].str.startswith("true tail")]
    assert "digital deficit 2040" in set(true["outcome"])
    row = true[true["outcome"] == "digital deficit 2040"].iloc[0]
    alpha = float(row["sample"].split("worst ")[1].split(" of")[0])
    assert 0 < row["coverage"] <= 1 and 0 < row["mass"] <= 1
    assert alpha < row["density"] <= 1  # denser in the box than in all paths
