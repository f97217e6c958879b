"""The reverse stress test (issue 14, item 6): a planted threshold rule is recovered; bad input is
refused with a clear error; ``mode=reverse`` writes reverse.csv through the engine."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports.reverse import FRAME_COLUMNS, ReverseStressError, reverse_stress

N_CHAIN, N_DRAW = 4, 5000  # 20,000 paths


def planted(seed=0, noise=0.5):
    """y = 3 x1 + noise; x2..x5 irrelevant (x5 a 0/1 switch); rows indexed by (chain, draw)."""
    rng = np.random.default_rng(seed)
    n = N_CHAIN * N_DRAW
    x = pd.DataFrame(
        {
            "x1": rng.standard_normal(n),
            "x2": rng.standard_normal(n),
            "x3": rng.uniform(size=n),
            "x4": rng.lognormal(size=n),
            "x5": (rng.uniform(size=n) < 0.7).astype(float),
        },
        index=pd.MultiIndex.from_product([range(N_CHAIN), range(N_DRAW)], names=["chain", "draw"]),
    )
    y = pd.Series(3 * x["x1"] + noise * rng.standard_normal(n), index=x.index, name="y")
    return x, y


@pytest.fixture(scope="module")
def recovered():
    x, y = planted()
    threshold = float(np.quantile(y, 0.95))
    return x, y, threshold, reverse_stress(x, y, threshold, "high")


def test_planted_rule_probability_and_drivers(recovered):
    x, y, threshold, res = recovered
    assert res.n_paths == len(x) and res.n_exceed == int((y >= threshold).sum())
    assert abs(res.probability - 0.05) < 3 * res.mcse
    binomial = np.sqrt(0.05 * 0.95 / len(x))
    assert binomial <= res.mcse < 1.3 * binomial  # independent paths: ESS near n, capped at n
    d = res.drivers
    assert d.index[0] == "x1"  # sorted by KS: x1 first
    assert d["ks"].idxmax() == "x1" and d["shift"].abs().idxmax() == "x1"
    assert d.loc["x1", "shift"] > 0.4 and d.loc["x1", "ks"] > 0.8 and d.loc["x1", "moved"]
    others = d.drop(index="x1")
    assert (others["shift"].abs() < 0.05).all(), others["shift"]  # sd of a null shift ~0.009
    assert (others["ks"] < 0.08).all() and not others["moved"].any()
    # conditional vs prior quantiles of x1: prior ~ N(0, 1), conditional above ~1.2
    assert d.loc["x1", "prior_median"] == pytest.approx(0.0, abs=0.05)
    assert d.loc["x1", "cond_p05"] > 1.2 and d.loc["x1", "cond_median"] > 1.6


def test_most_likely_point_is_an_exceeding_boundary_path(recovered):
    x, y, threshold, res = recovered
    assert res.most_likely_drivers == ("x1",)  # only the driver that moved enters the distance
    assert y.loc[res.most_likely] >= threshold == res.threshold
    assert res.most_likely_outcome == pytest.approx(y.loc[res.most_likely])
    x1 = x.loc[res.most_likely, "x1"]
    assert res.drivers.loc["x1", "most_likely_value"] == x1
    boundary = threshold / 3  # the rule without noise: x1 >= threshold / 3 (~1.65)
    # the least extreme exceeding x1 (noise sd 0.5 / 3 in x1 units): near the boundary, below
    # the exceeding paths' median, far from the tail
    assert boundary - 0.8 < x1 < boundary
    assert x1 < res.drivers.loc["x1", "cond_median"]
    assert x1 == pytest.approx(x.loc[y >= threshold, "x1"].min())
    z = stats.norm.ppf(res.drivers.loc["x1", "most_likely_u"])
    assert res.sum_z2 == pytest.approx(z**2)


def test_low_side_and_frame_layout(recovered):
    x, y, _, _ = recovered
    t = float(np.quantile(y, 0.10))
    res = reverse_stress(x, y, t, "low")
    assert res.n_exceed == int((y <= t).sum())
    assert res.drivers.index[0] == "x1" and res.drivers.loc["x1", "shift"] < -0.35
    frame = res.to_frame()
    assert list(frame.columns) == FRAME_COLUMNS
    assert list(frame["section"][:2]) == ["probability", "most_likely"]
    assert (frame["section"][2:] == "driver").all() and len(frame) == 2 + x.shape[1]
    head = frame.iloc[0]
    assert head["name"] == "y" and head["side"] == "low" and head["probability"] == res.probability
    assert frame.iloc[1]["name"] == res.most_likely_label
    assert res.most_likely_label.startswith("chain=") and " draw=" in res.most_likely_label
    assert frame.iloc[2]["name"] == "x1"
    lines = res.table(top=3).splitlines()
    assert lines[0].startswith(f"P(y <= {t:g}) = ") and "MCSE" in lines[0]
    assert [ln.split()[0] for ln in lines[2:5]] == list(res.drivers.index[:3])
    assert lines[5].startswith("most likely combination") and lines[6].split()[0] == "x1"


def test_uniforms_replace_the_empirical_ranks():
    x, y = planted(seed=1)
    u = pd.DataFrame(stats.norm.cdf(x[["x1", "x2"]]), index=x.index, columns=["x1", "x2"])
    res = reverse_stress(x[["x1", "x2"]], y, float(np.quantile(y, 0.9)), "high", uniforms=u)
    hit = y >= res.threshold
    assert res.drivers.loc["x1", "shift"] == pytest.approx(u.loc[hit, "x1"].mean() - 0.5)


def test_chain_ess_widens_mcse_for_correlated_draws():
    """Draws that come in identical runs of 10 carry ~1/10 of the information: the ESS sees it."""
    x, y = planted(seed=2)
    y = pd.Series(np.repeat(y.to_numpy()[::10], 10), index=y.index, name="y")
    res = reverse_stress(x, y, float(np.quantile(y, 0.9)), "high")
    binomial = np.sqrt(res.probability * (1 - res.probability) / res.n_paths)
    assert res.n_eff < res.n_paths / 4 and res.mcse > 2 * binomial
    flat = reverse_stress(x.reset_index(drop=True), y.reset_index(drop=True), res.threshold, "high")
    assert flat.mcse == pytest.approx(binomial)  # no chain labels: binomial


def test_errors_name_the_problem():
    x, y = planted(seed=3)
    with pytest.raises(ReverseStressError, match=r"y never reaches >= 100 .*max seen"):
        reverse_stress(x, y, 100.0, "high")
    with pytest.raises(ReverseStressError, match=r"y never reaches <= -100 .*min seen"):
        reverse_stress(x, y, -100.0, "low")
    with pytest.raises(ReverseStressError, match="every one of the"):
        reverse_stress(x, y, -100.0, "high")
    with pytest.raises(ReverseStressError, match="side: unknown side 'up'"):
        reverse_stress(x, y, 1.0, "up")
    bad = x.copy()
    bad.iloc[7, 2] = np.nan
    with pytest.raises(ReverseStressError, match="driver x3: 1 NaN"):
        reverse_stress(bad, y, 1.0, "high")
    with pytest.raises(ReverseStressError, match="outcome y: 1 NaN"):
        reverse_stress(x, y.where(np.arange(len(y)) != 5), 1.0, "high")
    with pytest.raises(ReverseStressError, match="do not match"):
        reverse_stress(x.iloc[1:], y, 1.0, "high")
    with pytest.raises(ReverseStressError, match="threshold: expected a finite number"):
        reverse_stress(x, y, float("nan"), "high")


# ------------------------------------------------------------------ through the engine
ENGINE = [  # test_engine's canonical program (chunk 2048): compiled once per machine
    "engine.n_paths=4096",
    "engine.chains=4",
    "engine.keep_trajectories=256",
    "engine.progress=false",
    "engine.chunk_size=2048",
]


@pytest.fixture(scope="module")
def base_cfg():
    from engine import compose

    return compose([])


def test_config_refuses_bad_reverse_settings(base_cfg):
    from engine import ConfigError, compose
    from engine.config import validate

    def check(mode="reverse", **reverse):
        return validate({**base_cfg.raw, "mode": mode, "reverse": reverse})

    with pytest.raises(ConfigError, match="reverse.threshold: missing for mode=reverse"):
        check(outcome="macro/digital_deficit_2040")
    with pytest.raises(ConfigError, match="reverse.outcome: missing for mode=reverse"):
        check(threshold=40)
    with pytest.raises(ConfigError, match="reverse.outcome: expected group/variable"):
        check(outcome="deficit", threshold=40)
    with pytest.raises(ConfigError, match="reverse.threshold: expected a finite number"):
        check(outcome="macro/x", threshold="high")
    with pytest.raises(ConfigError, match="reverse.side: unknown side 'up'"):
        check(mode="run", side="up")
    with pytest.raises(ConfigError, match="reverse.outcom: unknown key"):
        check(outcom="macro/x")
    assert base_cfg.reverse.side == "auto" and base_cfg.mode == "run"  # no outcome needed
    cfg = compose(
        ["mode=reverse", "reverse.outcome=macro/digital_deficit_2040", "reverse.threshold=40"]
    )
    assert (cfg.reverse.outcome, cfg.reverse.threshold, cfg.mode) == (
        "macro/digital_deficit_2040",
        40,
        "reverse",
    )


def test_outcome_names_are_checked_against_the_model(base_cfg):
    import dataclasses

    from engine import ConfigError
    from jp2040.reverse_job import resolve_outcome

    shapes = {"macro": {"digital_deficit_2040": (), "fiscal_effect_2040": ()}}
    shapes["strategy"] = {"operating_profit_2040": (4,)}

    def resolve(outcome):
        reverse = dataclasses.replace(base_cfg.reverse, outcome=outcome, threshold=1)
        cfg = dataclasses.replace(base_cfg, reverse=reverse)
        return resolve_outcome(cfg, shapes)

    assert resolve("macro/digital_deficit_2040") == ("macro", "digital_deficit_2040", None)
    assert resolve("strategy/operating_profit_2040/ecosystem")[2] == "ecosystem"
    with pytest.raises(ConfigError, match=r"unknown outcome 'macro/deficit' \(valid: macro/dig"):
        resolve("macro/deficit")
    with pytest.raises(ConfigError, match="one value per entity.*valid: social_infrastructure"):
        resolve("strategy/operating_profit_2040")
    with pytest.raises(ConfigError, match="unknown entity 'x' of strategy/operating_profit_2040"):
        resolve("strategy/operating_profit_2040/x")
    with pytest.raises(ConfigError, match="unknown entity 'x'.*single value"):
        resolve("macro/digital_deficit_2040/x")


def test_mode_reverse_writes_reverse_csv(tmp_path, capsys):
    from engine import compose
    from jp2040.cli import run_job

    overrides = ["mode=reverse", "reverse.outcome=macro/digital_deficit_2040"]
    overrides += ["reverse.threshold=40", "reverse.top=5", *ENGINE]
    assert run_job(compose(overrides), tmp_path) == 0
    out = capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "reverse.csv")
    assert list(frame.columns) == FRAME_COLUMNS
    head = frame.iloc[0]
    assert head["section"] == "probability" and head["side"] == "high"  # auto: the bad side
    assert head["n_paths"] == 4096 and 0 < head["n_exceed"] < 4096
    assert head["probability"] == pytest.approx(head["n_exceed"] / 4096)
    drivers = frame[frame["section"] == "driver"]
    assert drivers["name"].iloc[0] in ("digital_deficit_growth", "agi")  # the deficit's drivers
    assert set(drivers["name"].iloc[:2]) <= {"digital_deficit_growth", "agi", "ftqc"}
    assert (drivers["ks"].diff().iloc[1:] <= 1e-12).all()  # sorted by KS
    assert out.startswith("P(macro/digital_deficit_2040 >= 40) = ")
    assert (tmp_path / "manifest.json").exists() and not (tmp_path / "results.nc").exists()

    # a threshold no path reaches: exit status 2, no reverse.csv
    (tmp_path / "reverse.csv").unlink()
    overrides[2] = "reverse.threshold=1000"
    assert run_job(compose(overrides), tmp_path) == 2
    assert not (tmp_path / "reverse.csv").exists()
