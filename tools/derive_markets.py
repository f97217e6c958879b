"""Derive each domain's nominal 2040 market size from its assumed 2040 profit split.

The report gives strategy totals only (MODEL.md 2.2). We assume a per-domain split of 2040
operating profit (adding up to the totals) and back out the global market size in 2040 that gives
that profit at the nominal launch year, adoption speed, share and margin:

    profit_2040 = market_2040 * adoption(2040) * japan_share * margin - fixed_cost

Run `python tools/derive_markets.py` to print the market sizes written in
configs/domains/default.yaml (rounded to 3 significant digits there).
"""

import math
import sys

import yaml


def bass_cdf(tau, p, q):
    tau = max(tau, 0.0)
    e = math.exp(-(p + q) * tau)
    return (1 - e) / (1 + (q / p) * e)


def bass_offset(p, q, a):
    return -math.log((1 - a) / (1 + a * q / p)) / (p + q)


def main(path="configs/domains/default.yaml", launch_adoption="0.10"):
    launch_adoption = float(launch_adoption)
    doms = yaml.safe_load(open(path))
    for name, d in doms.items():
        p, q = d["bass_p"], d["bass_q"]
        tau = 2040 - d["launch_year"] + bass_offset(p, q, launch_adoption)
        a = bass_cdf(tau, p, q)
        target = d["profit_2040_split"] + d["fixed_cost"]
        m = target / (a * d["japan_share"] * d["margin"]) if a > 0 and target > 0 else None
        print(f"{name:26s} adoption_2040={a:.3f} market_2040={m}")


if __name__ == "__main__":
    main(*sys.argv[1:])
