"""plm_core: the typed, stateless, thread-safe core of plm-lens (never imports streamlit).

The foundation's public API is re-exported here; feature modules (attribution, masking, compare, bias,
lessons, classroom) are imported by their own names.
"""

import os

# Read once by libgomp when torch is first imported, so it is set here, before any module below imports torch:
# OpenMP worker threads sleep between parallel regions instead of spinning. plm-lens runs small, latency-bound
# forwards, often on a laptop that also runs the browser showing them; spinning threads took the browser's core
# and made the masking lab's key press → chart ~40 ms slower at 2 threads (benchmarks/bench_masking_browser.py),
# while alone on the machine the compute is as fast either way. Set OMP_WAIT_POLICY yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from plm_core.attention import (
    attention_modules,
    attention_rollout,
    extract_attention,
    head_average,
    query_key,
    token_flow,
)
from plm_core.devices import available_devices, pick_device
from plm_core.errors import (
    InputTooLongError,
    InvalidInputError,
    ModelLoadError,
    PlmCoreError,
    UnknownMethodError,
    UnsupportedModelError,
)
from plm_core.inference import embed, predict
from plm_core.loading import ModelHandle, ModelSpec, load_model
from plm_core.tokens import encode
from plm_core.types import AttentionResult, Encoding, Prediction, QueryKeyResult, TokenDistribution, TokenFlow

__all__ = [
    "AttentionResult", "Encoding", "InputTooLongError", "InvalidInputError", "ModelHandle", "ModelLoadError",
    "ModelSpec", "PlmCoreError", "Prediction", "QueryKeyResult", "TokenDistribution", "TokenFlow",
    "UnknownMethodError", "UnsupportedModelError", "attention_modules", "attention_rollout", "available_devices",
    "embed", "encode", "extract_attention", "head_average", "load_model", "pick_device", "predict", "query_key",
    "token_flow",
]
