"""Every tolerance of plm-lens, in one place: what each bounds, its unit, and what was measured against it.

A check that says "equals the model" (``ui.widgets.check_equal``) or that lets a view be shown at all compares a
measured max |difference| with one of these; pages, the core and the tests import them from here. The measured
values are the largest seen on the embedded MiniLM (all-MiniLM-L6-v2) and SmolLM2-135M, float32 on the CPU
(first and last layer, heads 0 and 1; ``tests/unit/test_tolerances.py`` re-measures them on the tiny models);
each tolerance sits one to two orders of magnitude above them, so float32 rounding passes and a wrong formula
does not.
"""

from __future__ import annotations

# ---- "equals the model" (a success box only within these; the measured difference is shown otherwise) ----

PROBS = 1e-5
"""Probabilities (attention weights, class probabilities, softmax rows): max |ours − the model's|, values in
[0, 1]. Measured 0 (query·key recomputation and the lessons' softmax return the model's own weights' float32
values); the logit lens read-out, checked against it too, 1.1e-6."""

VECTORS = 1e-4
"""Hidden vectors (input embeddings, attention outputs, the W_O projection), values of order 1: max |ours − the
model's|. Measured 9.5e-7 (MiniLM's input embeddings; attention outputs and W_O: 0)."""

SCORE_ROW = 1e-5
"""The neuron view: Σ q ⊙ k × scale (+ position bias) against the model's score row, in score units (logits of the
attention softmax). Measured 2.9e-6 (SmolLM2, whose scores reach the hundreds; MiniLM below 1e-6)."""

# ---- whether a view is shown at all (never a wrong one) -----------------------------------------------------

CAPTURE = 1e-3
"""Attention capture (``plm_core.capture``): max |recomputed − eager| attention weight for the recomputation to
count as the model's formula. Loose on purpose (float32 rounding of large models and GPUs stays far below it):
pages still say "equals the model" only within :data:`PROBS`."""

LENS = 1e-4
"""Logit lens: max |last layer's read-out − the model's own probabilities| over the vocabulary for the lens to be
shown (the norm and head found are the whole read-out). Measured 1.1e-6 (SmolLM2)."""

CONTRIBUTION_SUM = 1e-4
"""Direct logit attribution: |Σ parts − the model's logit| relative to ``1 + |logit|`` for the parts to count as
adding up (``Contributions.adds_up``; the Inside page and lesson 8 check the same). Measured 1.9e-7 (SmolLM2)."""

# ---- attribution quality --------------------------------------------------------------------------------------

IG_TOKEN = 0.01
"""Adaptive integrated gradients: the per-token error estimate allowed, relative to the largest |score|."""

__all__ = ["CAPTURE", "CONTRIBUTION_SUM", "IG_TOKEN", "LENS", "PROBS", "SCORE_ROW", "VECTORS"]
