"""The shortcut audit: does the model look where the evidence should be, or at something that
merely travels with the label (a marker, a text label, a border)?

    python -m cams.audit --model M --data DIR --out OUT [--roi ROI_DIR] [--fail-on-shortcut]

    import cams
    found = cams.audit(model, "data/", out="audit/", roi="data/roi")   # or cams.audit.audit
    found.result["verdict"], found.result["findings"]

A pipeline of pure steps on arrays, each a module: maps -> evidence (downsampled, mean maps,
share inside the region of interest) -> clusters -> regions -> interventions -> verdict; the
report (report_html) only renders what they computed. See docs/audit.md.
"""
import sys
import types


def audit(model, data, out=None, roi=None, **options):
    """See cams.audit.pipeline.audit: an `Audit` whose .result is the audit's JSON."""
    from cams.audit.pipeline import audit as run

    return run(model, data, out, roi, **options)


class _CallableModule(types.ModuleType):
    """`cams.audit(...)` calls `audit`: the package is also the function."""

    def __call__(self, *args, **kwargs):
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
