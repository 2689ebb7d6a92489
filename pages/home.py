"""Landing page: what plm-lens is and what each page is for."""

import ui.preload  # noqa: F401  first: a page opened by its URL runs without app.py (see ui/preload.py)

import streamlit as st

from ui import widgets
from plm_core.i18n import _

widgets.ensure_shell()

st.title("plm-lens")
st.markdown(_(
    "See **why** a pretrained language model predicts what it does. Pick a model in the sidebar — the "
    "embedded *all-MiniLM-L6-v2*, *SmolLM2* and *Gemma 3* work with no download — and open a page:"
))
st.markdown(_(
    """
| page | what it shows |
|---|---|
| **Attention** | every layer and head: bertviz head and model views, heatmaps, head average, attention rollout, the attention chosen tokens give and receive, and the query·key view that recomputes `softmax(QKᵀ/√d_k)` from the model's own projections |
| **Attribution** | which input tokens made the output, for every model kind (class, a word at [MASK], the next token, a contrast of two words, an encoder's similarity to a second sentence): Integrated Gradients with its completeness error, Gradient×Input, Saliency, GradientSHAP, occlusion, KernelSHAP, LIME and attention scores side by side with their rank agreement (methods a model cannot support, such as DeepLift on a transformer, are listed with the reason); CSV/JSON export |
| **Bias probes** | counterfactual template sets (masked-LM probabilities, causal-LM log-probabilities, encoder similarities), CrowS-Pairs, BEC-Pro and SEAT scored as their papers define, per bias type, with a click from any item to its attention and attribution |
| **Masking lab** | click tokens to mask, delete or replace them and watch the prediction change as you type: masked-LM fill-ins at every mask, class probabilities or the next token before and after, an encoder's similarity to the original and a reference; an occlusion sweep of every token in one batched pass; the URL reproduces the view |
| **Generation** | a causal LM (or the decoder of T5/BART) writing token by token: greedy, temperature, top-k and top-p with a seed, each step's distribution before and after, the logit lens (what every layer would predict), and for any generated token its attribution and attention |
| **Compare** | two sentences side by side (aligned tokens, prediction difference, attention difference per layer and head, attribution difference) or one sentence on two models (tokens matched by characters when the tokenizers differ), with what is loaded and an unload button |
| **Lessons** | eight guided lessons computed live from the loaded model (tokens and embeddings, self-attention step by step, multi-head, masked vs causal LM, fine-tuning a classifier in seconds, attention vs attribution, a bias probe, feed-forward networks and the residual stream), with predict-then-reveal questions, English/中文, a presenter view and shareable step links |
| **Inside the model** | which attention heads and feed-forward blocks made the answer (direct logit attribution, each head's source tokens), the information flow as a graph, activation patching between a clean and a corrupted prompt (causal tracing), ablating heads or FFN blocks, and the top FFN neurons with the words they promote |
| **Evaluate** | a labelled file or lesson 5's set scored by the model (its classes, label words, or perplexity): accuracy, precision, recall, F1 and the confusion matrix with bootstrap intervals, slices, errors that open in Attribution; an embedding map with nearest neighbours; model cards measured on this machine with a "which model" guide |
"""
))
st.caption(_(
    "Everything runs on this server, on a GPU when there is one; no page loads anything from the internet."
))
