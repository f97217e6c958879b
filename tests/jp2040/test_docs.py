"""docs/model.md and the README's calibration table are generated: regenerating them from the
code, configs and docs/calibration.csv must give the same text (run `make docs` after changing the
model or its configs)."""

from jp2040.docs import (
    DEFAULT_CALIBRATION,
    DEFAULT_OUT,
    README,
    README_START,
    _read_calibration,
    readme_with_table,
    render,
)


def test_model_doc_is_up_to_date():
    assert DEFAULT_OUT.read_text() == render(DEFAULT_CALIBRATION), (
        "docs/model.md is stale: run `make docs`"
    )


def test_readme_calibration_table_is_up_to_date():
    text = README.read_text()
    assert README_START in text
    assert readme_with_table(text, _read_calibration(DEFAULT_CALIBRATION)) == text, (
        "the README's calibration table is stale: run `make docs`"
    )


def test_model_doc_lists_every_parameter_with_a_source():
    text = DEFAULT_OUT.read_text()
    assert "MISSING" not in text
    for name in ("bass_cdf", "dc_facility_capex", "investment_weights", "## Calibration"):
        assert name in text
    assert "## Markets" in text and "world_vehicle_sales" in text
