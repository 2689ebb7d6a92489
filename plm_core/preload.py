"""Import the whole core, and resolve transformers' lazily imported names, once, in one thread, before a server's
sessions run.

Two kinds of first import are not thread-safe, and a server's sessions are threads of one process:

- A module cycle: when two threads start importing modules of one cycle (``plm_core.inference`` and a module it
  imports that imports it back) at the same moment, Python's deadlock avoidance hands one of them the other's
  half-built module, and ``from plm_core.inference import run`` fails with "cannot import name 'run' from
  partially initialized module". Ten threads importing ten page modules at once failed this way nine times in ten;
  since issue 26 the app has no import cycle (``tests/unit/test_import_graph.py``) and ``plm_core/__init__`` imports
  nothing eagerly, and the same imports succeed without this module once the libraries' names are resolved
  (``tests/app/test_preload.py``).
- transformers 5 builds ``import transformers`` as a lazy module: ``from transformers import BatchEncoding`` imports
the submodule that defines the name on first use, and that first use is not thread-safe. Two Streamlit sessions
(threads of one process) importing the core at once can get ``ImportError: cannot import name 'BatchEncoding'
from 'transformers'`` (the same race: vllm-project/vllm#40442, vectorize-io/hindsight#994). Importing this module
resolves every name the core takes from transformers, and every kind's Auto class, then imports every module of
``plm_core``; a second thread importing it waits on the module's import lock until the first has finished, so no
session ever meets a half-built module or name. ``ui.preload`` does the same for the app's modules.

``app.py`` imports ``ui.preload`` before anything else; the Ray Serve replica imports this module. Adding a ``from transformers import X`` elsewhere in
the core without adding ``X`` here fails ``tests/unit/test_preload.py``.
"""

from __future__ import annotations

import importlib
import pkgutil

import transformers

#: every name the core, the app and the deployment import from ``transformers`` (besides the kinds' Auto classes)
NAMES = ("AttentionInterface", "AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoTokenizer", "BatchEncoding",
         "BertConfig", "BertForSequenceClassification", "GenerationConfig", "PreTrainedModel",
         "PreTrainedTokenizerBase", "PretrainedConfig")
#: the transformers submodules imported by path
SUBMODULES = ("transformers.activations", "transformers.convert_slow_tokenizer", "transformers.masking_utils",
              "transformers.pytorch_utils", "transformers.utils", "transformers.modeling_utils",
              "transformers.tokenization_utils_base", "transformers.generation",
              "transformers.modeling_gguf_pytorch_utils")


def preload() -> tuple[str, ...]:
    """Resolve :data:`NAMES`, :data:`SUBMODULES` and each kind's ``auto_class``; returns the names resolved.

    Raises:
        AttributeError / ImportError: a name this transformers does not have (an incompatible version).
    """
    from plm_core.kinds import KINDS

    names = tuple(dict.fromkeys(NAMES + tuple(adapter.auto_class for adapter in KINDS.values())))
    for name in names:
        getattr(transformers, name)
    for module in SUBMODULES:
        importlib.import_module(module)
    return names


def import_package(package: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Import ``package`` and every module below it, in order, except the modules named in ``skip``; returns the
    modules imported.

    A module whose import fails only because an optional dependency is absent (Ray, ModelScope: a
    ``ModuleNotFoundError`` for a module outside ``package``) is skipped; every other error is raised."""
    root = importlib.import_module(package)
    done = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name in skip:
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] == package.split(".")[0]:
                raise
            continue
        done.append(info.name)
    return done


RESOLVED = preload()
# not the Ray Serve replica and client (they import Ray: seconds a start where nothing serves), nor the tests' tiny
# models (plm_core.testing: tokenizer training, never run by the app)
NOT_PRELOADED = ("plm_core.serving.ray_replica", "plm_core.serving.client", "plm_core.testing")
MODULES = import_package("plm_core", skip=NOT_PRELOADED)
