"""Lesson 5's views (transfer learning): the labelled examples, a head trained on the frozen encoder (with its
cross-validated scores), and using it — saved as a classifier the other pages can open."""

from __future__ import annotations

import numpy as np
import streamlit as st

from plm_core import tolerances
from plm_core import classroom
from plm_core.i18n import _, msg, tr
from plm_core.lessons import finetune
from plm_core.loading import DEFAULT_MODEL_ID, ModelSpec
from plm_core.tokens import MAX_CHARS  # a text box keeps what the app keeps (and a link no more)
from ui import charts, lessons, widgets
from ui.lesson_views.base import Ctx, View, controls, hidden, hide
from ui.lens import get_lens
from ui.safe import md


def _training_spec(ctx: Ctx) -> ModelSpec:
    """The active model when it is a BERT encoder the head can sit on, else the embedded MiniLM."""
    return ctx.spec if ctx.info.model_type == "bert" else ModelSpec(DEFAULT_MODEL_ID)


def examples_input(shown: bool) -> str:
    """The labelled examples, drawn in every step that reads them (hidden but for the data step), so a link to
    any of those steps carries them."""
    with controls("view") if shown else hidden("examples"):
        examples = st.text_area(_("Labelled examples"), finetune.example_text(), max_chars=MAX_CHARS, key="lessons.examples", height=260,
                                bind="query-params")
    if not shown:
        hide()
    return examples


def _examples() -> str:
    return st.session_state.get("lessons.examples", finetune.example_text())


def view_data(ctx: Ctx) -> None:
    data = finetune.parse_examples(examples_input(shown=True))
    counts = ", ".join(f"{n}: {data.labels.count(i)}" for i, n in enumerate(data.names))
    st.markdown(_("**{n} examples — {counts}**", n=len(data.texts), counts=md(counts)))


def view_train(ctx: Ctx) -> None:
    spec = _training_spec(ctx)
    trained = get_lens(spec).train_head(_examples())
    c1, c2, c3 = st.columns(3)
    c1.metric(_("training accuracy"), f"{trained.train_accuracy:.0%}")
    c2.metric(_("held-out accuracy (pooler, saved)"), f"{trained.heldout_accuracy:.0%}")
    c3.metric(_("held-out accuracy (mean pooling)"), f"{trained.heldout_accuracy_mean_pooling:.0%}")
    pool = (_("tanh([CLS]) (this model has no trained pooler)") if trained.identity_pooler
            else _("the model's pooler, tanh(W·[CLS] + b)"))
    st.markdown(_("**encoder {model} (frozen); head: {n_labels} × {hidden} linear layer on {pool}; {n} examples, "
                  "{folds}-fold stratified cross-validation**", model=md(spec.model_id),
                  n_labels=len(trained.data.names), hidden=int(trained.weight.shape[1]), pool=md(pool),
                  n=len(trained.data.texts), folds=int(trained.n_folds)))
    heldout_metrics(trained)
    if trained.heldout_accuracy_mean_pooling > trained.heldout_accuracy:
        st.caption(_("Mean pooling generalises better here: this encoder was trained for mean-pooled sentence "
                   "embeddings. The saved classifier uses the pooler because that is what BertForSequenceClassification computes."))


def heldout_metrics(trained: finetune.TrainedHead) -> None:
    """Precision, recall and F1 per label and the confusion matrix of the held-out (cross-validated) predictions."""
    from plm_core.viz.evaluate_plots import confusion_figure

    m = trained.heldout_metrics()
    rows = [{_("label"): name, _("precision"): m.get("precision", name).value, _("recall"): m.get("recall", name).value,
             "F1": m.get("f1", name).value, "n": m.get("f1", name).support} for name in m.classes]
    rows.append({_("label"): _("macro"), _("precision"): m.get("precision", "macro").value,
                 _("recall"): m.get("recall", "macro").value, "F1": m.get("f1", "macro").value, "n": m.n})
    number = st.column_config.NumberColumn(format="%.2f")
    left, right = st.columns(2)
    left.dataframe(rows, hide_index=True, key="lessons.heldout_metrics",
                   column_config={_("precision"): number, _("recall"): number, "F1": number})
    left.caption(_("Held-out predictions (each example predicted by a head trained without it), scored with "
                   "scikit-learn; {how}: macro-F1 {low:.2f}–{high:.2f}.", how=md(tr(m.interval)),
                   low=m.get("f1", "macro").ci_low, high=m.get("f1", "macro").ci_high))
    charts.plotly_chart(confusion_figure(m, _("Held-out confusion matrix")), key="lessons.heldout_confusion",
                        container=right)


def view_use(ctx: Ctx) -> None:
    spec = _training_spec(ctx)
    examples = _examples()
    trained = get_lens(spec).train_head(examples)
    probs = lessons.classify(get_lens(spec), examples, ctx.text)
    names = trained.data.names
    st.markdown("**" + " · ".join(f"{md(n)}: {p:.1%}" for n, p in zip(names, probs)) + "**")
    if ctx.presenter:
        return
    folder = classroom.trained_dir() / f"lesson5-{trained.data.digest}"  # (the folder name links saved models)
    if st.button(_("Save as a classifier and switch the app to it"), key="lessons.save"):
        get_lens(spec).save_classifier(trained, folder)
        new = ModelSpec(str(folder))
        saved = get_lens(new).predict(ctx.text)
        diff = float(np.max(np.abs(saved.probs - probs)))
        st.session_state["lessons.saved"] = (str(folder), diff)
        st.session_state[widgets.SPEC_KEY] = new
        st.session_state[widgets.PENDING_KEY] = new  # the sidebar shows it too
        st.rerun()
    if "lessons.saved" in st.session_state:
        path, diff = st.session_state["lessons.saved"]
        st.info(_("Saved to {path} and loaded as a classifier. The sidebar model is now this classifier.",
                  path=md(path)))
        widgets.check_equal(_("The saved classifier's prediction"), _("the trained model's"), diff,
                            tolerances.PROBS)
        origin = widgets.Origin(ModelSpec(path), msg("the classifier saved in lesson 5"))
        if st.button(_("Explain it on the Attention page"), key="lessons.open_attention"):
            widgets.open_page("pages/attention.py", origin, **{"attention.text": ctx.text})
        if st.button(_("Evaluate it on the Evaluate page"), key="lessons.open_evaluate"):
            widgets.open_page("pages/evaluate.py", origin,
                              **{"evaluate.view": "metrics", "evaluate.data": "lesson", "evaluate.mode": "classifier"})


def _hidden_examples() -> None:
    examples_input(shown=False)


VIEWS = {"data": View(view_data, uses_text=False, before_reveal=True),
         "train": View(view_train, uses_text=False, hidden_inputs=_hidden_examples),
         "use": View(view_use, hidden_inputs=_hidden_examples)}
