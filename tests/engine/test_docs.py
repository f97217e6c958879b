"""docs/model.md is generated: regenerating it from the code and configs must give the same text
(run `make docs` after changing the model or its configs)."""

from engine.docs import DEFAULT_CALIBRATION, DEFAULT_OUT, render


def test_model_doc_is_up_to_date():
    assert DEFAULT_OUT.read_text() == render(DEFAULT_CALIBRATION), (
        "docs/model.md is stale: run `make docs`"
    )


def test_model_doc_lists_every_parameter_with_a_source():
    text = DEFAULT_OUT.read_text()
    assert "MISSING" not in text
    for name in ("bass_cdf", "dc_facility_capex", "investment_weights", "## Calibration"):
        assert name in text
