"""Benchmarks: run each from the repository root as a module, e.g. ``python3 -m benchmarks.bench_attention``.

Set before any benchmark imports transformers (read once at import): no Hub access, quiet tokenizers.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
