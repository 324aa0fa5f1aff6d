"""The metric catalog: every entry is a metric cams has, in one of the categories, and the
report's columns are the reported ones."""
from cams import metrics, report
from cams.metrics.catalog import CATEGORIES, METRICS, categories_line

# report columns named for what they hold rather than for the function that computes them
COMPUTED_BY = {"deletion_auc": "deletion_insertion", "insertion_auc": "deletion_insertion",
               "road_gap": "road", "average_drop_pct": "confidence_change",
               "increase_pct": "confidence_change", "randomization_rho": "randomization_check",
               "random_logit_rho": "random_logit"}


def test_every_entry_is_a_metric_of_cams_in_a_category():
    assert len({m.key for m in METRICS}) == len(METRICS)
    for m in METRICS:
        assert callable(getattr(metrics, COMPUTED_BY.get(m.key, m.key))), m.key
        assert m.category in CATEGORIES and set(m.needs) <= {"mask", "model", "explain"}
        assert m.header.endswith("↑") == m.higher_is_better, m.key
        assert m.header.endswith(("↑", "↓")) and m.source
    assert {m.category for m in METRICS} == set(CATEGORIES)


def test_the_report_shows_the_reported_ones_by_category():
    shown = [key for key, _, _ in report.columns()[1:]]
    assert shown == [m.key for m in METRICS if m.reported]
    assert "cascading_randomization" not in shown
    line = categories_line({"mask_auc", "sparseness", "deletion_auc"})
    assert line == "By category — localisation: AUC; faithfulness: deletion; complexity: Gini."
