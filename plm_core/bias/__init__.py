"""Bias probing: template sets, CrowS-Pairs, BEC-Pro and SEAT, with the same API for the UI and the CLI.

Results are frozen dataclasses with per-item rows (for drill-down), estimates with confidence intervals and
tests (:mod:`plm_core.bias.stats`), breakdowns by any column of the data, and plain-CSV/JSON exports that
carry the configuration (model id and revision, data source and hash, sample seed). Runs can be stored,
resumed and compared across models (:mod:`plm_core.bias.store`, :mod:`plm_core.bias.jobs`). Show
:data:`CONTENT_WARNING` and the data set's entry of :data:`CAVEATS` beside every result.
"""

from plm_core.bias.bec_pro import BecProResult, BecProScore, run_bec_pro, select_rows
from plm_core.bias.common import CAVEATS, CONTENT_WARNING
from plm_core.bias.crows_pairs import (CrowsPairRow, CrowsPairsResult, pseudo_log_likelihoods,
                                      run_crows_pairs, score_pairs, select_pairs)
from plm_core.bias.datasets import (LICENSES, SEAT_TESTS, BecProRow, CrowsPair, SeatTest, load_bec_pro,
                                    load_crows_pairs, load_seat)
from plm_core.bias.jobs import create_run, load_result, run_to_end, score_next
from plm_core.bias.sampling import sample_items
from plm_core.bias.seat import SeatItem, SeatResult, run_seat
from plm_core.bias.stats import Estimate, PairedTest
from plm_core.bias.store import RunInfo, RunStore
from plm_core.bias.templates import EXAMPLE_SETS, TemplateResult, TemplateRow, TemplateSet, probe_templates

__all__ = [
    "CAVEATS", "CONTENT_WARNING", "EXAMPLE_SETS", "LICENSES", "SEAT_TESTS",
    "BecProResult", "BecProRow", "BecProScore", "CrowsPair", "CrowsPairRow", "CrowsPairsResult", "Estimate",
    "PairedTest", "RunInfo", "RunStore", "SeatItem", "SeatResult", "SeatTest", "TemplateResult", "TemplateRow",
    "TemplateSet", "create_run", "load_bec_pro", "load_crows_pairs", "load_result", "load_seat", "probe_templates",
    "pseudo_log_likelihoods", "run_bec_pro", "run_crows_pairs", "run_seat", "run_to_end", "sample_items",
    "score_next", "score_pairs", "select_pairs", "select_rows",
]
