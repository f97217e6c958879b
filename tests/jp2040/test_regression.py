"""mode=baseline and mode=check (jp2040/regression.py, engine/drift.py): one baseline at 4,096
paths (the program of tests/engine/test_engine.py), checked as is, with another seed, with a moved
driver, against a tampered structure and against missing or corrupt files."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from engine import compose
from engine.config import ConfigError
from engine.drift import default_k, rank_z
from jp2040.cli import run_job
from jp2040.regression import _sha
from tests.engine.test_engine import BASE as ENGINE_BASE

# test_engine's canonical program (chunk 2048: compiled once per machine), no terminal table
BASE = [*ENGINE_BASE, "report.headline=false"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline")
    overrides = BASE + ["mode=baseline"]
    assert run_job(compose(overrides), out, overrides=overrides) == 0
    return out


def check(baseline, run_dir, capsys, *extra):
    """Run mode=check as the CLI would; returns (status, terminal output, check.csv or None)."""
    overrides = ["mode=check", f"check.baseline={baseline}", *extra]
    capsys.readouterr()
    status = run_job(compose(overrides), run_dir, overrides=overrides)
    out = capsys.readouterr().out
    table = pd.read_csv(run_dir / "check.csv") if (run_dir / "check.csv").exists() else None
    return status, out, table


def test_baseline_files(baseline):
    table = pd.read_csv(baseline / "baseline.csv")
    summary = pd.read_csv(baseline / "summary.csv")
    assert len(table) == len(summary) > 2000
    for col in ("mcse_mean", "mcse_sd", "mcse_p05", "mcse_p50", "mcse_p95", "quantile_n"):
        assert col in table.columns
    assert (table["mcse_p50"].dropna() >= 0).all() and table["mcse_sd"].gt(0).any()
    meta = json.loads((baseline / "baseline.json").read_text())
    assert meta["seed"] == 0 and meta["engine"]["n_paths"] == 4096
    assert len(meta["structure"]["domains"]) == 25 and len(meta["fingerprint"]) == 64
    assert "engine.n_paths=4096" in meta["overrides"] and "mode=baseline" not in meta["overrides"]
    assert {"jax", "numpy", "python"} <= set(meta["versions"])
    assert meta["platform"]["backend"] == "cpu"
    assert meta["csv_sha256"] == _sha((baseline / "baseline.csv").read_bytes())


def test_same_everything_passes_exactly(baseline, tmp_path, capsys):
    status, out, table = check(baseline, tmp_path, capsys)
    assert status == 0, out
    assert set(table["test"]) == {"exact"} and table["passed"].all()
    assert "check exact" in out and "PASS" in out
    assert len(table) == 5 * len(pd.read_csv(baseline / "baseline.csv"))


def test_other_seed_passes_statistically_and_exact_refuses(baseline, tmp_path, capsys):
    status, out, table = check(baseline, tmp_path / "stat", capsys, "engine.seed=1")
    assert status == 0, out
    assert "statistical" in out and "PASS" in out
    assert {"mcse", "rank", "not tested"} <= set(table["test"])
    assert not (table["baseline"] == table["now"]).all()  # the numbers did move, within MCSE
    status, out, table = check(
        baseline, tmp_path / "exact", capsys, "engine.seed=1", "check.mode=exact"
    )
    assert status == 2 and table is None
    assert "NOT COMPARABLE" in out and "engine.seed differs (baseline 0, now 1)" in out


def test_moved_driver_drifts_and_names_rows(baseline, tmp_path, capsys):
    status, out, table = check(
        baseline, tmp_path, capsys, "drivers.agi.median=2033", "engine.seed=1"
    )
    assert status == 1, out
    assert "DRIFT" in out and "drivers.agi.median: 2037 -> 2033" in out
    moved = table[~table["passed"]]
    # an earlier AGI brings the AI-coupled domains forward (their 2040 revenue moves); the
    # digital deficit moves little since AI spending is near saturation by 2040 either way
    assert (moved["variable"] == "revenue_2040").any()
    assert "strategy/revenue_2040" in out or "domain/revenue_2040" in out


def _copy(baseline, dst, edit_table=None, edit_meta=None):
    """A copy of the baseline's two files, edited, with a consistent checksum."""
    dst.mkdir()
    table = pd.read_csv(baseline / "baseline.csv")
    meta = json.loads((baseline / "baseline.json").read_text())
    table = edit_table(table) if edit_table else table
    text = table.to_csv(index=False)
    meta["csv_sha256"] = _sha(text.encode())
    (dst / "baseline.csv").write_text(text)
    (dst / "baseline.json").write_text(json.dumps(edit_meta(meta) if edit_meta else meta))
    return dst


def test_other_structure_is_not_comparable(baseline, tmp_path, capsys):
    def drop_fusion(meta):
        meta["structure"]["domains"].remove("fusion")
        return meta

    other = _copy(
        baseline, tmp_path / "b", lambda t: t[t["entity"] != "fusion"], edit_meta=drop_fusion
    )
    status, out, table = check(other, tmp_path / "run", capsys)
    assert status == 2 and table is None
    assert (
        "another model structure: the baseline has 24 domains, this config 25 (new fusion)" in out
    )


def test_missing_rows_are_not_comparable(baseline, tmp_path, capsys):
    def ghost(t):
        row = t.iloc[[0]].assign(variable="ghost_2040")
        return pd.concat([t, row], ignore_index=True)

    other = _copy(baseline, tmp_path / "b", ghost)
    status, out, _ = check(other, tmp_path / "run", capsys)
    assert status == 2
    assert "1 baseline rows are missing from this run (e.g. area/ghost_2040/" in out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "no baseline at"),
        ("json", "is not valid JSON"),
        ("csv", "SHA-256 differs"),
        ("format", "is not a jp2040 baseline"),
    ],
)
def test_missing_or_corrupt_baseline(baseline, tmp_path, capsys, damage, message):
    bad = _copy(baseline, tmp_path / "b")
    if damage == "missing":
        (bad / "baseline.json").unlink()
    elif damage == "json":
        (bad / "baseline.json").write_text((bad / "baseline.json").read_text()[:100])
    elif damage == "csv":
        text = (bad / "baseline.csv").read_text()
        (bad / "baseline.csv").write_text(text[: len(text) // 2])
    else:
        (bad / "baseline.json").write_text(json.dumps({"format": "something else"}))
    status, out, table = check(bad / "baseline.csv", tmp_path / "run", capsys)
    assert status == 2 and table is None
    assert "check: NOT COMPARABLE: check.baseline: " in out and message in out


def test_cli_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jp2040",
            "mode=check",
            f"check.baseline={tmp_path / 'nothing'}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no baseline at" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "check.mode=fuzzy",
            r"check.mode: unknown mode 'fuzzy' \(valid: auto, exact, statistical\)",
        ),
        ("check.k=-1", r"check.k: expected auto or a positive number, got -1"),
        ("check.alpha=2", r"check.alpha: must be in \(0, 1\), got 2.0"),
    ],
)
def test_check_settings_are_validated(override, message):
    with pytest.raises(ConfigError, match=message):
        compose([override])


def test_check_needs_a_baseline():
    with pytest.raises(ConfigError, match=r"check.baseline: required with mode=check"):
        compose(["mode=check"])


def test_default_k_and_rank_z():
    assert default_k(10_000, 0.01) == pytest.approx(4.89, abs=0.01)
    assert default_k(1, 0.05) == pytest.approx(1.96, abs=0.01)
    # the baseline's median sits at rank 0.5 of the new run: no move; at 0.45: moved up
    assert rank_z(0.5, 0.5, 0.5, 4096, 4096) == pytest.approx(0.0)
    assert rank_z(0.5, 0.40, 0.60, 4096, 4096) == pytest.approx(0.0)  # an atom holding p
    up = rank_z(0.5, 0.45, 0.45, 4096, 4096)
    assert 4.0 < up < 5.0 and rank_z(0.5, 0.55, 0.55, 4096, 4096) == pytest.approx(-up)


def _stats(x, bins=256):
    from engine.stats import chunk_stats, from_chunk, pilot_edges

    lo, hi = pilot_edges(x[:500])
    part = chunk_stats(x, np.ones(len(x), np.float32), lo, hi, bins)
    return from_chunk(part, lo, hi)


def test_mcse_of_normal_draws_matches_theory():
    from statistics import NormalDist

    from engine.mcse import histogram_quantile_mcse, quantile_mcse, sd_mcse

    n = 40_000
    x = np.random.default_rng(0).standard_normal((n, 2)).astype(np.float32)
    x[:, 1] *= 3.0
    st = _stats(x)
    # sd: sd / sqrt(2 n) for a normal (kurtosis 3)
    np.testing.assert_allclose(sd_mcse(st, x.astype(np.float64)), st.sd / np.sqrt(2 * n), rtol=0.1)
    for p in (0.05, 0.5, 0.95):
        theory = np.sqrt(p * (1 - p) / n) / NormalDist().pdf(NormalDist().inv_cdf(p))
        theory = theory * np.array([1.0, 3.0])
        np.testing.assert_allclose(quantile_mcse(x.astype(np.float64), p), theory, rtol=0.15)
        width = (st.hi - st.lo) / 256  # the bin's discretisation, in quadrature
        expected = np.sqrt(theory**2 + width**2 / 12)
        np.testing.assert_allclose(histogram_quantile_mcse(st, p), expected, rtol=0.15)


def test_quantile_mcse_is_arviz_public_mcse():
    """One convention (#18): with ArviZ's own quantile ESS, engine.mcse.quantile_mcse and the
    reports' given-ESS form equal ``arviz_stats``' public ``mcse(method="quantile")`` exactly;
    the engine passes ess = n (independent paths), the reports a diagnostic subset's ESS."""
    from arviz_stats.base import array_stats

    from engine.mcse import quantile_mcse
    from reports.summaries import quantile_mcse_from_sorted

    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, size=(3, 4, 1000))  # (cell, chain, draw), skewed
    flat = np.moveaxis(x, 0, -1).reshape(-1, 3)  # (chain * draw, cell)
    for p in (0.01, 0.05, 0.5, 0.95):
        ref = array_stats.mcse(x, method="quantile", prob=p)
        ess = array_stats.ess(x, method="quantile", prob=p)
        np.testing.assert_allclose(quantile_mcse(flat, p, ess), ref, rtol=1e-12)
        srt = np.sort(flat, axis=0)
        np.testing.assert_allclose(quantile_mcse_from_sorted(srt, p, ess), ref, rtol=1e-12)
        n = flat.shape[0]
        np.testing.assert_array_equal(quantile_mcse(flat, p), quantile_mcse(flat, p, n))


def test_rare_spike_sd_mcse_uses_extremes():
    from engine.mcse import sd_mcse

    x = np.zeros((4096, 1), np.float32)
    x[7] = 5.0  # one spike, not among the kept draws below
    st = _stats(x)
    kept = np.zeros((256, 1))
    # kurtosis ~ n: the sd is known to about half its size, not to 1 / sqrt(2 n)
    assert sd_mcse(st, kept)[0] == pytest.approx(st.sd[0] / 2, rel=0.05)


def test_rank_intervals_hold_the_quantile_within_its_bin():
    from engine.mcse import _histogram_cdf, quantile_bin

    rng = np.random.default_rng(1)
    x = rng.exponential(size=(20_000, 2)).astype(np.float32)
    x[rng.permutation(20_000)[:3000], 0] = 0.0  # an atom at zero holding 15% of the mass
    x[:, 1] = -0.3  # a point mass (a fixed cost before any launch)
    st = _stats(x, bins=512)
    for p in (0.05, 0.5, 0.95):
        lo, hi = quantile_bin(st, p)
        assert (lo <= st.quantile(p)).all() and (st.quantile(p) <= hi).all()
        f_lo, f_hi = _histogram_cdf(st, lo, hi)  # the ranks of that bin (and its neighbours)
        assert f_lo[0] <= p <= f_hi[0]
        assert f_hi[0] - f_lo[0] < (0.2 if p == 0.05 else 0.04)
        assert (f_lo[1], f_hi[1]) == (0.0, 1.0)
    f_lo, f_hi = _histogram_cdf(st, np.array([-0.5, -0.31]), np.array([-0.5, -0.31]))
    assert f_hi[0] == 0.0 and f_hi[1] == 0.0  # below all the mass
