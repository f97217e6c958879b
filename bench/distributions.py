"""Throughput of the distributions package (CPU), optionally compared with squigglepy.

Models (``"5 to 10"`` = 90% interval):
  A  lognormal("5 to 10") * normal("5 to 10")
  B  30/70 mixture of lognormal("5 to 10") and normal("5 to 10") (icdf: node table + Illinois)
  C  10-driver Gaussian copula (all pairs rho = 0.3) with lognormal("5 to 10") marginals
Each is jitted, compiled once, then timed as best of 3 (``block_until_ready``) at 10M draws,
generated in chunks of 1M. Usage: ``python bench/distributions.py [--draws N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# this script is itself called distributions.py: drop its folder from sys.path so that
# `import distributions` finds the package, not this file
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from distributions import Mixture  # noqa: E402
from distributions.copula import GaussianCopula  # noqa: E402
from distributions.spec import from_spec  # noqa: E402

CHUNK = 1_000_000
D = 10


def build():
    ln = from_spec("5 to 10")
    nm = from_spec({"dist": "normal", "p05": 5, "p95": 10})
    mix = Mixture([ln, nm], [0.3, 0.7])
    names = [f"d{i}" for i in range(D)]
    corr = np.full((D, D), 0.3)
    np.fill_diagonal(corr, 1.0)
    cop = GaussianCopula(names, corr)

    @jax.jit
    def model_a(key):
        k1, k2 = jax.random.split(key)
        return ln.sample(k1, (CHUNK,)) * nm.sample(k2, (CHUNK,))

    @jax.jit
    def model_b(key):
        return mix.sample(key, (CHUNK,))

    @jax.jit
    def model_c(key):
        u = cop.sample_uniforms(key, (CHUNK,))
        return ln.icdf(u)  # (CHUNK, D): same lognormal marginal for every driver

    return {"A product": model_a, "B mixture": model_b, f"C copula x{D}": model_c}


def time_model(fn, draws: int) -> float:
    """Best-of-3 draws/second for ``draws`` draws (chunks of CHUNK), after compilation."""
    n_chunks = max(1, draws // CHUNK)
    root = jax.random.key(0)
    fn(root).block_until_ready()
    best = np.inf
    for rep in range(3):
        t0 = time.perf_counter()
        outs = [fn(jax.random.fold_in(root, rep * n_chunks + i)) for i in range(n_chunks)]
        jax.block_until_ready(outs)
        best = min(best, time.perf_counter() - t0)
    return n_chunks * CHUNK / best


def time_squigglepy(draws: int) -> dict[str, float] | None:
    os.environ.setdefault("TQDM_DISABLE", "1")  # squigglepy progress bars
    try:
        import squigglepy as sq
    except ImportError:
        return None
    ln, nm = sq.lognorm(5, 10), sq.norm(5, 10)
    out = {}

    def best_of_3(f):
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            f()
            best = min(best, time.perf_counter() - t0)
        return draws / best

    out["A product"] = best_of_3(lambda: sq.sample(ln * nm, n=draws))
    out["B mixture"] = best_of_3(lambda: sq.sample(sq.mixture([ln, nm], [0.3, 0.7]), n=draws))
    if hasattr(sq, "correlate"):
        corr = np.full((D, D), 0.3)
        np.fill_diagonal(corr, 1.0)

        def cop():
            dists = sq.correlate(tuple(sq.lognorm(5, 10) for _ in range(D)), corr.tolist())
            return [sq.sample(d, n=draws) for d in dists]

        try:
            out[f"C copula x{D}"] = best_of_3(cop)
        except Exception as e:  # squigglepy API differences
            print(f"squigglepy copula model skipped: {e}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=10_000_000)
    ap.add_argument("--sq-draws", type=int, default=1_000_000)
    args = ap.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, dtype {jnp.result_type(float)}")
    ours = {name: time_model(fn, args.draws) for name, fn in build().items()}
    for name, rate in ours.items():
        print(f"jp2040   {name:<14} {rate / 1e6:8.2f} M draws/s  ({args.draws:,} draws)")
    sq_rates = time_squigglepy(args.sq_draws)
    if sq_rates is None:
        print("squigglepy not installed: pip install '.[bench]'")
        return
    for name, rate in sq_rates.items():
        print(
            f"squiggle {name:<14} {rate / 1e6:8.2f} M draws/s  ({args.sq_draws:,} draws); "
            f"jp2040 is {ours[name] / rate:.1f}x"
        )


if __name__ == "__main__":
    main()
