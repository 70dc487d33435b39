"""The run report: counts by status and reason, faces per image, face size and score histograms
(``report/report.json``), and pictures of them (``report/index.html``, self-contained, with PNG histograms and
contact sheets of kept samples and of rejected inputs with their reasons)."""

from curation.report.build import write_report

__all__ = ["write_report"]
