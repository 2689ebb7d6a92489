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

# The foundation's public names, imported on first use (PEP 562): this package imports none of its modules, so a
# module that writes ``from plm_core import display`` never waits on a half-run package while another thread runs
# it (the "partially initialized module" race of concurrent first imports, issue 26). name -> module defining it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("attention_modules", "attention_rollout", "extract_attention", "head_average", "query_key",
                     "token_flow"), "plm_core.attention"),
    **dict.fromkeys(("available_devices", "pick_device"), "plm_core.devices"),
    **dict.fromkeys(("InputTooLongError", "InvalidInputError", "ModelLoadError", "PlmCoreError", "UnknownMethodError",
                     "UnsupportedModelError"), "plm_core.errors"),
    **dict.fromkeys(("embed", "predict"), "plm_core.inference"),
    **dict.fromkeys(("ModelHandle", "ModelSpec", "load_model"), "plm_core.loading"),
    "encode": "plm_core.tokens",
    **dict.fromkeys(("AttentionResult", "Encoding", "Prediction", "QueryKeyResult", "TokenDistribution", "TokenFlow"),
                    "plm_core.types"),
}


def __getattr__(name: str) -> object:
    """``plm_core.<name>`` of :data:`__all__`, from its module (imported on first use)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plm_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "AttentionResult", "Encoding", "InputTooLongError", "InvalidInputError", "ModelHandle", "ModelLoadError",
    "ModelSpec", "PlmCoreError", "Prediction", "QueryKeyResult", "TokenDistribution", "TokenFlow",
    "UnknownMethodError", "UnsupportedModelError", "attention_modules", "attention_rollout", "available_devices",
    "embed", "encode", "extract_attention", "head_average", "load_model", "pick_device", "predict", "query_key",
    "token_flow",
]
