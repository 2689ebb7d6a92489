"""Bias probing: template sets, CrowS-Pairs, BEC-Pro and SEAT, with the same API for the UI and the CLI.

Results are frozen dataclasses with per-item rows (for drill-down) and ``to_csv``/``to_json`` exports that
carry the configuration. Show :data:`CONTENT_WARNING` and the data set's entry of :data:`CAVEATS` beside
every result.
"""

from plm_core.bias.bec_pro import BecProResult, BecProScore, run_bec_pro
from plm_core.bias.common import CAVEATS, CONTENT_WARNING
from plm_core.bias.crows_pairs import (CrowsPairRow, CrowsPairsResult, pseudo_log_likelihoods,
                                      run_crows_pairs, score_pairs)
from plm_core.bias.datasets import (LICENSES, SEAT_TESTS, BecProRow, CrowsPair, SeatTest, load_bec_pro,
                                    load_crows_pairs, load_seat)
from plm_core.bias.seat import SeatItem, SeatResult, run_seat
from plm_core.bias.templates import EXAMPLE_SETS, TemplateResult, TemplateRow, TemplateSet, probe_templates

__all__ = [
    "CAVEATS", "CONTENT_WARNING", "EXAMPLE_SETS", "LICENSES", "SEAT_TESTS",
    "BecProResult", "BecProRow", "BecProScore", "CrowsPair", "CrowsPairRow", "CrowsPairsResult", "SeatItem",
    "SeatResult", "SeatTest", "TemplateResult", "TemplateRow", "TemplateSet",
    "load_bec_pro", "load_crows_pairs", "load_seat", "probe_templates",
    "pseudo_log_likelihoods", "run_bec_pro", "run_crows_pairs", "run_seat", "score_pairs",
]
