"""The terminal headline (reports.headline) on the synthetic results: every path kept, so every
level is from all paths; the engine-run test with fewer kept paths is in tests/engine/test_tails.py.
"""

import numpy as np

from reports.downside import downside
from reports.headline import headline_table, headline_text

from .conftest import STRATEGIES, engine_summary


def test_headline_numbers_are_the_tables(results):
    summary = engine_summary(results)
    table = headline_table(results, summary)
    # the synthetic tree has these headline outcomes of reports.outcomes
    assert list(dict.fromkeys(table["variable"])) == [
        "digital_deficit_2040",
        "investment_total_cum_2040",
        "operating_profit_2040",
        "fcf_cum_2040",
        "investment_cum_2040",
    ]
    assert len(table) == 2 + 3 * len(STRATEGIES)
    down = downside(results, alphas=(0.05, 0.01), variables=["strategy/fcf_cum_2040"])
    rows = table[table["variable"] == "fcf_cum_2040"]
    np.testing.assert_array_equal(rows["var95"], down.loc[down["alpha"] == 0.05, "var"])
    np.testing.assert_array_equal(rows["es99"], down.loc[down["alpha"] == 0.01, "es"])
    assert (rows["side"] == "low").all() and (table["median_from"] == "all paths").all()
    med = summary[(summary["variable"] == "fcf_cum_2040") & (summary["group"] == "strategy")]
    np.testing.assert_array_equal(rows["median"], med["p50"])
    # units and side come from the variables' attrs
    deficit = table[table["variable"] == "digital_deficit_2040"].iloc[0]
    assert deficit["side"] == "high" and deficit["units"] == "tn JPY"


def test_headline_text_without_summary(results):
    text = headline_text(results)
    lines = text.splitlines()
    assert "medians n/a (no summary.csv)" in lines[-1] and "2,000 paths" in lines[-1]
    assert all(" n/a " in row and "beyond" not in row for row in lines[1:-1])  # all paths kept
    assert text.splitlines()[0].split() == [
        "outcome",
        "units",
        "bad",
        "median",
        "VaR95",
        "ES95",
        "VaR99",
        "ES99",
    ]
