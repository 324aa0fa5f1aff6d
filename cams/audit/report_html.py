"""OUT/report.html: renders what the audit computed (an `Audit`), self-contained."""
import html


def render(found):
    """The report as one HTML string."""
    r = found.result
    return f"<html><body><h1>{html.escape(r['verdict'])}</h1></body></html>"
