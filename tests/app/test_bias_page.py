"""AppTest of the Bias page on tiny models: a template probe with drill-down; CrowS-Pairs runs stored in the
run store, chunk by chunk (complete, stopped, failed, resumed after a restart without rescoring); two models
side by side with Wilson intervals; uploads with extra columns and their breakdowns; long-form template CSVs;
the uploader's real limit. Numbers are checked against the core and against scipy.stats directly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
from helpers import chart_specs, open_page, plotly_array, shown

from plm_core.bias import datasets, templates
from plm_core.bias.crows_pairs import run_crows_pairs
from plm_core.errors import InvalidInputError
from plm_core.loading import ModelSpec, load_model

CROWS_CSV = (
    ",sent_more,sent_less,stereo_antistereo,bias_type\n"
    "0,the man was a nurse,the woman was a nurse,stereo,gender\n"
    "1,the woman was a doctor,the man was a doctor,antistereo,gender\n"
    "2,he is a black man,he is a white man,stereo,race-color\n"
    "3,the poor man is lazy,the rich man is lazy,stereo,socioeconomic\n"
    "4,she is a good wife,he is a good wife,stereo,gender\n"
    "5,the old man was tired,the young man was tired,stereo,age\n"
)
# a file of its own: types the public data set does not have, and two extra columns
EXTRA_CSV = (
    "sent_more,sent_less,stereo_antistereo,bias_type,split,occupation\n"
    "the man was a nurse,the woman was a nurse,stereo,caste,dev,nurse\n"
    "the woman was a doctor,the man was a doctor,antistereo,caste,test,doctor\n"
    "he is a black man,he is a white man,stereo,region,dev,none\n"
    "the poor man is lazy,the rich man is lazy,stereo,region,test,none\n"
    "she is a good wife,he is a good wife,stereo,caste,dev,none\n"
)


def settle(at):
    """Wait for the runs' worker threads (plm_core.bias.worker), then rerun: the page shows what they stored."""
    from plm_core.bias import worker

    assert worker.wait_all(180)
    at.run()
    assert not at.exception, at.exception
    return at


def frame(at, *columns: str):
    """The first table drawn with all of ``columns`` (AppTest does not expose dataframe keys)."""
    return next(d.value for d in at.dataframe if all(c in d.value.columns for c in columns))


def test_template_probe_chart_equals_core_and_opens_attention(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    assert any("offensive stereotypes" in shown(w.value) for w in at.warning)
    tset = templates.EXAMPLE_SETS["Pronouns for occupations"]
    assert at.text_area(key="bias.targets").value == "he, she"
    settle(at.button(key="bias.template.run").click().run())
    assert not at.exception and not at.error
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    expected = templates.probe_templates(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")), tset)
    want = {(r["value"], r["target"]): r for r in expected.summary_table()}
    bar_he = next(t for t in fig["data"] if t["type"] == "bar" and t["name"] == "he")
    assert list(bar_he["x"]) == list(tset.words("JOB"))
    np.testing.assert_allclose(plotly_array(bar_he["y"]), [want[(v, "he")]["mean"] for v in tset.words("JOB")],
                               rtol=1e-5)
    # error bars: the t interval across the four templates on the logit scale (probabilities), by hand
    scores = [r.score for r in expected.rows if r.probe_value == "nurse" and r.target == "he"]
    m = np.mean(scores)
    half = scipy.stats.t.ppf(0.975, len(scores) - 1) * np.std(scores, ddof=1) / np.sqrt(len(scores)) / (m * (1 - m))
    low, high = (1 / (1 + np.exp(-(np.log(m / (1 - m)) + s * half))) for s in (-1, 1))
    assert plotly_array(bar_he["error_y"]["array"])[0] == pytest.approx(high - m, rel=1e-6)
    assert plotly_array(bar_he["error_y"]["arrayminus"])[0] == pytest.approx(m - low, rel=1e-6)
    # one colour per target, no light/dark pairs shared by two targets
    bars = [t for t in fig["data"] if t["type"] == "bar"]
    assert len({t["marker"]["color"] for t in bars}) == len(bars)
    assert "Blodgett" not in " ".join(shown(i.value) for i in at.info)  # the template caveat, not CrowS-Pairs'
    assert any("wording" in shown(i.value) for i in at.info)
    # bad input: a template without a slot gives a message
    at.text_area(key="bias.templates").input("he is a [MASK].").run()
    at.button(key="bias.template.run").click().run()
    assert any("has no slot" in shown(e.value) for e in at.error)
    # drill-down: a template row opens in the Attention page with the sentence preset
    at.text_area(key="bias.templates").input("\n".join(tset.templates)).run()
    settle(at.button(key="bias.template.run").click().run())
    assert at.selectbox(key="bias.template.item").value == 0
    at.button(key="bias.template.open.attention_A").click().run()
    assert not at.exception
    assert at.session_state["attention.text"] == "[MASK] is the nurse."
    # ...and in the Attribution page (registered in app.py)
    at.switch_page("pages/bias.py").run()
    at.button(key="bias.template.open.attribution_B").click().run()
    assert not at.exception
    assert at.session_state["attribution.text"] == "[MASK] is the secretary."
    assert at.text_area(key="attribution.text").value == "[MASK] is the secretary."


def test_multi_token_target_is_a_clear_message(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.text_area(key="bias.targets").input("he, aunt").run()
    at.button(key="bias.template.run").click().run()
    assert not at.exception
    assert any("'aunt' is" in shown(e.value) and "single token" in shown(e.value) for e in at.error)


def test_long_form_template_csv_is_scored_as_written(app_factory, tiny_dirs):
    """Each row names its own occupation and participant and its own targets: 3 rows, not a cross product."""
    csv_text = ("template,OCC,PART,target,source\n"
                "the [OCC] told the [PART] that [MASK] was tired.,nurse,man,\"he, she\",a\n"
                "the [OCC] told the [PART] that [MASK] was tired.,doctor,woman,\"he, she\",b\n"
                "[MASK] is the [OCC].,engineer,,they,a\n")
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.template.layout").set_value("rows").run()
    at.file_uploader(key="bias.template.csv").set_value(("set.csv", csv_text.encode(), "text/csv")).run()
    assert not at.exception and not at.error
    settle(at.button(key="bias.template.run").click().run())
    assert not at.exception and not at.error, at.error
    rows = frame(at, "sentence", "score")
    assert list(rows["sentence"]) == ["the nurse told the man that [MASK] was tired."] * 2 + [
        "the doctor told the woman that [MASK] was tired."] * 2 + ["[MASK] is the engineer."]
    assert list(rows["target"]) == ["he", "she", "he", "she", "they"]
    assert list(rows["source"]) == ["a", "a", "b", "b", "a"]  # the extra column is kept
    handle = load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu"))
    tok = handle.tokenizer
    import torch

    ids = tok("the doctor told the woman that [MASK] was tired.")["input_ids"]
    with torch.no_grad():
        logits = handle.model(input_ids=torch.tensor([ids])).logits[0, ids.index(tok.mask_token_id)]
    want = float(torch.softmax(logits.double(), -1)[tok.convert_tokens_to_ids("she")])
    assert float(rows["score"][3]) == pytest.approx(want, rel=1e-4)
    # the extra column is a breakdown
    assert "source" in at.selectbox(key="bias.template.by").options


@pytest.fixture
def crows_file(tmp_path):
    path = tmp_path / "crows.csv"
    path.write_text(CROWS_CSV)
    return path


def run_crows(at, path, others: str = ""):
    at.radio(key="bias.probe").set_value("crows_pairs").run()
    at.text_input(key="bias.crows_pairs.path").input(str(path)).run()
    if others:
        at.text_area(key="bias.crows_pairs.models").input(others).run()
    settle(at.button(key="bias.crows_pairs.run").click().run())


def wilson(k: int, n: int) -> tuple[float, float]:
    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return 100 * ci.low, 100 * ci.high


def test_crows_pairs_run_with_intervals_equals_core_and_scipy(app_factory, tiny_dirs, crows_file, monkeypatch):
    import ui.bias

    monkeypatch.setattr(ui.bias, "CHUNK", 1)  # one pair per chunk: six chunks
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    run_crows(at, crows_file)
    expected = run_crows_pairs(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")),
                               datasets.load_crows_pairs(crows_file))
    k = sum(r.more_higher for r in expected.rows)
    low, high = wilson(k, 6)
    assert at.metric[0].value == f"{expected.metric:.1f}%"
    assert at.metric[1].value == f"{low:.1f} – {high:.1f}%"
    assert at.metric[2].value == f"p = {scipy.stats.binomtest(k, 6).pvalue:.3g}"
    info = ui.bias.run_store().runs("crows_pairs")[0]
    assert (info.n_done, info.n_items, info.status) == (6, 6, "complete")
    types = frame(at, "metric", "ties")
    assert list(types["bias_type"]) == ["age", "gender", "race-color", "socioeconomic"]
    assert list(types["metric"]) == pytest.approx([v["metric"] for v in expected.by_bias_type().values()])
    gender = [r for r in expected.rows if r.bias_type == "gender"]
    assert types["ci_low"][1] == pytest.approx(wilson(sum(r.more_higher for r in gender), 3)[0])
    # the chart's error bars are the Wilson intervals
    fig = chart_specs(at)[0]
    bar = fig["data"][0]
    assert list(bar["x"]) == ["age", "gender", "race-color", "socioeconomic", "overall"]
    assert plotly_array(bar["error_y"]["array"])[-1] == pytest.approx(high - expected.metric)
    assert plotly_array(bar["error_y"]["arrayminus"])[-1] == pytest.approx(expected.metric - low)
    assert any("Blodgett" in shown(i.value) for i in at.info)
    at.selectbox(key="bias.crows.item").set_value(4).run()
    assert [c.value for c in at.code if c.value in ("she is a good wife", "he is a good wife")] == [
        "she is a good wife", "he is a good wife"]
    at.button(key="bias.crows.open.compare").click().run()
    assert not at.exception
    assert (at.session_state["compare.a"], at.session_state["compare.b"]) == ("she is a good wife", "he is a good wife")


def test_uploader_states_columns_example_and_the_real_limit(app_factory, tiny_dirs):
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    assert at.file_uploader(key="bias.template.csv").proto.max_upload_size_mb == datasets.MAX_FILE_BYTES // 2**20
    at.radio(key="bias.probe").set_value("crows_pairs").run()
    up = at.file_uploader(key="bias.crows_pairs.upload")
    assert up.proto.max_upload_size_mb == 50 == datasets.MAX_FILE_BYTES // 2**20
    assert any("sent_more, sent_less, stereo_antistereo, bias_type" in t.value and "50 MB" in t.value
               for t in at.text)
    assert any(c.value.startswith("sent_more,sent_less,stereo_antistereo,bias_type\n") for c in at.code)
    # the example row is a valid file
    assert len(datasets.parse_crows_pairs(datasets.EXAMPLE_ROWS["crows_pairs"])) == 1
    assert len(datasets.parse_bec_pro(datasets.EXAMPLE_ROWS["bec_pro"])) == 1


def test_upload_with_extra_columns_offers_a_breakdown_by_each(app_factory, tiny_dirs, monkeypatch):
    import ui.bias

    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.probe").set_value("crows_pairs").run()
    at.file_uploader(key="bias.crows_pairs.upload").set_value(("mine.csv", EXTRA_CSV.encode(), "text/csv")).run()
    assert not at.exception and not at.error
    # the filter lists the file's own bias types, not the public set's nine
    assert at.multiselect(key="bias.crows_pairs.types").options == ["caste", "region"]
    assert at.selectbox(key="bias.crows_pairs.stratify").options == [
        "(none)", "bias_type", "stereo_antistereo", "split", "occupation"]
    settle(at.button(key="bias.crows_pairs.run").click().run())
    assert not at.exception and not at.error
    by = at.selectbox(key="bias.crows.by")
    assert by.options == ["bias_type", "stereo_antistereo", "split", "occupation"]
    rows = {r.index: r for r in ui.bias.stored_result(ui.bias.run_store().runs()[0].run_id).rows}
    split = {0: "dev", 1: "test", 2: "dev", 3: "test", 4: "dev"}
    occupation = {0: "nurse", 1: "doctor", 2: "none", 3: "none", 4: "none"}
    for column, values in (("split", split), ("occupation", occupation)):
        at.selectbox(key="bias.crows.by").set_value(column).run()
        table = frame(at, "metric", "ties")
        groups = sorted(set(values.values()))
        assert list(table[column]) == groups
        for g, n, metric in zip(table[column], table["n"], table["metric"]):
            members = [rows[i] for i, v in values.items() if v == g]
            assert n == len(members) and metric == pytest.approx(100 * np.mean([r.more_higher for r in members]))
        fig = chart_specs(at)[0]
        assert list(fig["data"][0]["x"]) == [*groups, "overall"]
    # the exported rows keep the extra columns, and read back with a plain pandas.read_csv
    import io

    import pandas as pd

    exported = pd.read_csv(io.StringIO(ui.bias.stored_result(ui.bias.run_store().runs()[0].run_id).to_csv()))
    assert list(exported["split"]) == [split[i] for i in sorted(split)]
    assert list(exported["occupation"]) == [occupation[i] for i in sorted(occupation)]


def test_bec_pro_upload_extra_column_breakdown_and_paired_test(app_factory, tiny_dirs, tmp_path):
    header = "\tSentence\tSent_TM\tSent_AM\tSent_TAM\tTemplate\tPerson\tGender\tProfession\tProf_Gender\tregion\n"
    lines = []
    k = 0
    for t, template in enumerate(["{p} is a {j}.", "{p} works as a {j}."]):
        for prof, pg in (("nurse", "female"), ("doctor", "male"), ("teacher", "balanced")):
            for person, gender in (("he", "male"), ("man", "male"), ("she", "female"), ("woman", "female")):
                s = template.format(p=person, j=prof)
                tm = template.format(p="[MASK]", j=prof)
                tam = template.format(p="[MASK]", j="[MASK]")
                lines.append(f"{k}\t{s}\t{tm}\t{template.format(p=person, j='[MASK]')}\t{tam}\t{template}\t{person}"
                             f"\t{gender}\t{prof}\t{pg}\t{'north' if t == 0 else 'south'}\n")
                k += 1
    path = tmp_path / "bec.tsv"
    path.write_text(header + "".join(lines))
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.probe").set_value("bec_pro").run()
    at.text_input(key="bias.bec_pro.path").input(str(path)).run()
    assert at.multiselect(key="bias.bec_pro.groups").options == ["balanced", "female", "male"]
    settle(at.button(key="bias.bec_pro.run").click().run())
    assert not at.exception and not at.error
    assert "region" in at.selectbox(key="bias.bec.by").options and "Sent_AM" in at.selectbox(key="bias.bec.by").options
    at.selectbox(key="bias.bec.by").set_value("region").run()
    groups = frame(at, "mean association")
    assert list(groups["group"]) == ["all", "north", "south"]
    # the paired test: she/he and woman/man with the same template and profession
    from plm_core.bias.bec_pro import run_bec_pro

    res = run_bec_pro(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")), datasets.load_bec_pro(path))
    rows = {(r.template, r.profession, r.person): r.association for r in res.rows}
    female = [rows[(t, j, f)] for t in ("{p} is a {j}.", "{p} works as a {j}.") for j in ("nurse", "doctor", "teacher")
              for f in ("she", "woman")]
    male = [rows[(t, j, m)] for t in ("{p} is a {j}.", "{p} works as a {j}.") for j in ("nurse", "doctor", "teacher")
            for m in ("he", "man")]
    tests = frame(at, "pairs", "W")
    assert tests["professions"][0] == "all" and tests["pairs"][0] == 12
    assert tests["p"][0] == pytest.approx(scipy.stats.wilcoxon(female, male).pvalue)


def test_stop_error_and_resume_after_a_restart_without_rescoring(app_factory, tiny_dirs, crows_file, monkeypatch):

    import plm_core.bias.crows_pairs as crows_mod
    import ui.bias

    from plm_core.bias.store import RunStore

    monkeypatch.setattr(ui.bias, "CHUNK", 1)
    real = crows_mod.score_pairs
    scored: list[int] = []

    def score_then_stop(handle, chunk, **kw):  # the user presses Stop (any session) during the 5th chunk
        scored.extend(p.index for p in chunk)
        rows = real(handle, chunk, **kw)
        if len(scored) == 5:
            store = RunStore()
            store.request_stop(store.runs()[0].run_id)
        return rows

    monkeypatch.setattr(crows_mod, "score_pairs", score_then_stop)
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    run_crows(at, crows_file)
    assert len(scored) == 5  # the 5th chunk is stored, then the worker stops
    assert any("Stopped after 5 of 6 items" in shown(i.value) for i in at.info)
    assert len(frame(at, "sent_more", "score_more")) == 5
    info = ui.bias.run_store().runs()[0]
    assert (info.status, info.n_done) == ("stopped", 5)

    # a "server restart": new app, caches cleared, a fresh store object on the same file
    monkeypatch.setattr(crows_mod, "score_pairs", lambda handle, chunk, **kw: (scored.extend(
        p.index for p in chunk), real(handle, chunk, **kw))[1])
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.probe").set_value("crows_pairs").run()
    # another session's runs (here: before the restart) are not shown as this session's new run ...
    assert not any("Stopped after" in shown(i.value) for i in at.info)
    assert any("1 stored run of this probe" in shown(c.value) for c in at.caption)
    at.radio(key="bias.view").set_value("runs").run()  # ... but listed under Stored runs, to open or resume
    assert list(frame(at, "status", "scored")["status"]) == ["stopped"]
    settle(at.button(key="bias.runs.resume").click().run())
    assert len(scored) == 6 and sorted(scored) == list(range(6))  # only the unscored pair was scored
    info = ui.bias.run_store().run(info.run_id)
    assert (info.status, info.n_done) == ("complete", 6)
    expected = run_crows_pairs(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")),
                               datasets.load_crows_pairs(crows_file))
    assert at.metric[0].value == f"{expected.metric:.1f}%"

    # an error in the 2nd chunk: the first chunk's rows are kept, the message says so
    calls = []

    def fail_on_second(handle, chunk, **kw):
        calls.append(len(chunk))
        if len(calls) == 2:
            raise InvalidInputError("simulated failure")
        return real(handle, chunk, **kw)

    monkeypatch.setattr(crows_mod, "score_pairs", fail_on_second)
    monkeypatch.setattr(ui.bias, "CHUNK", 4)
    at.radio(key="bias.view").set_value("run").run()
    at.text_input(key="bias.crows_pairs.path").input(str(crows_file)).run()
    settle(at.button(key="bias.crows_pairs.run").click().run())
    assert any("simulated failure" in e.value and "4 items scored before it are kept" in shown(e.value) for e in at.error)
    assert len(frame(at, "sent_more", "score_more")) == 4


def test_two_models_side_by_side_with_intervals(app_factory, tiny_dirs, crows_file):
    """One probe queued over two models: both stored, both drawn with their Wilson intervals, and the same
    comparison under Compare models."""
    a, b = str(tiny_dirs["masked_lm"]), str(tiny_dirs["roberta_mlm"])
    at = open_page(app_factory, a, "pages/bias.py")
    run_crows(at, crows_file, others=b)
    assert not at.error, [shown(e.value) for e in at.error]
    pairs = datasets.load_crows_pairs(crows_file)
    expected = {m: run_crows_pairs(load_model(ModelSpec(m, device="cpu")), pairs) for m in (a, b)}
    assert expected[a].metric != expected[b].metric or [r.score_more for r in expected[a].rows] != [
        r.score_more for r in expected[b].rows]

    def check(fig, table):
        bars = {t["name"]: t for t in fig["data"] if t["type"] == "bar"}
        assert set(bars) == {a, b}
        for m, res in expected.items():
            groups = list(bars[m]["x"])
            assert groups[0] == "all"
            y = plotly_array(bars[m]["y"])
            assert y[0] == pytest.approx(res.metric)
            k = sum(r.more_higher for r in res.rows)
            low, high = wilson(k, len(res.rows))
            assert plotly_array(bars[m]["error_y"]["array"])[0] == pytest.approx(high - res.metric)
            assert plotly_array(bars[m]["error_y"]["arrayminus"])[0] == pytest.approx(res.metric - low)
            by_type = res.by_bias_type()
            for g, v in zip(groups[1:], y[1:]):
                assert v == pytest.approx(by_type[g]["metric"])
        assert list(table["group"])[0] == "all" and {a, b} <= set(table.columns)

    fig = next(f for f in chart_specs(at) if "side by side" in f["layout"]["title"]["text"])
    check(fig, frame(at, "group", a))
    at.radio(key="bias.view").set_value("compare").run()
    assert not at.exception
    fig = next(f for f in chart_specs(at) if "side by side" in f["layout"]["title"]["text"])
    check(fig, frame(at, "group", a))
    statuses = {r.model_id: r.status for r in __import__("ui.bias").bias.run_store().runs("crows_pairs")}
    assert statuses == {a: "complete", b: "complete"}


def test_a_large_expansion_runs_as_a_stoppable_job(app_factory, tiny_dirs, monkeypatch):
    """16,020 scores (3 templates x 2,670 words x 2 targets) were refused by a fixed limit of 5,000; now they
    start a stored chunked job that Stop ends after its first chunk."""

    import plm_core.bias.templates as tmod
    import ui.bias

    from plm_core.bias.store import RunStore

    real = tmod.score_filled
    monkeypatch.setattr(ui.bias, "CHUNK", 4)

    def score_then_stop(handle, probe_slot, chunk, **kw):  # Stop pressed while the first chunk is scored
        store = RunStore()
        store.request_stop(store.runs("template")[0].run_id)
        return real(handle, probe_slot, chunk, **kw)

    monkeypatch.setattr(tmod, "score_filled", score_then_stop)
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.text_area(key="bias.templates").input("[MASK] is the [X].\n[MASK] met the [X].\n[MASK] saw the [X].").run()
    at.text_area(key="bias.slots").input("X: " + ", ".join(f"w{i}" for i in range(2670))).run()
    at.text_area(key="bias.targets").input("he, she").run()
    settle(at.button(key="bias.template.run").click().run())
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    info = ui.bias.run_store().runs("template")[0]
    assert (info.n_items, info.n_done, info.status, info.config["n_scores"]) == (8010, 4, "stopped", 16_020)
    assert any("Stopped after 4 of 8,010 items" in shown(i.value) for i in at.info)
    assert len(frame(at, "sentence", "score")) == 8  # 4 sentences x 2 targets


def test_drill_down_opens_on_the_model_that_scored_the_run(app_factory, tiny_dirs, crows_file):
    """Issue 24, item 1: a pair scored by a masked LM was "explained" by whatever model the sidebar held."""
    from plm_core.attention import extract_attention
    from ui.widgets import OTHER

    a, b = str(tiny_dirs["masked_lm"]), str(tiny_dirs["encoder"])
    at = open_page(app_factory, a, "pages/bias.py")
    run_crows(at, crows_file)
    assert not at.error, [shown(e.value) for e in at.error]
    # the user loads another model in the sidebar; the run (scored on A) is still shown
    at.selectbox(key="model.choice").set_value(OTHER)
    at.text_input(key="model.custom").input(b)
    at.button(key="FormSubmitter:model.form-Load model").click().run()
    assert at.session_state["model.spec"].model_id == b
    assert any(a in shown(c.value) for c in at.caption)  # the buttons say which model they open on
    at.button(key="bias.crows.open.attention_A").click().run()
    assert not at.exception, at.exception
    assert at.session_state["model.spec"].model_id == a  # explained with the model that scored the pair
    assert at.text_input(key="model.custom").value == a  # and the sidebar says so
    assert any("Opened from bias run #1 (CrowS-Pairs): explained with" in shown(i.value) and a in shown(i.value)
               for i in at.info), [shown(i.value) for i in at.info]
    text = at.session_state["attention.text"]
    # the page's numbers are model A's: its heatmap equals A's attention computed directly (B's differs)
    handle_a = load_model(ModelSpec(a, device="cpu"))
    want = extract_attention(handle_a, text).weights
    other = extract_attention(load_model(ModelSpec(b, device="cpu")), text).weights
    assert want.shape != other.shape or not np.allclose(want, other)
    heat = next(f for f in chart_specs(at) if f["data"] and f["data"][0]["type"] == "heatmap")
    z = np.asarray(plotly_array(heat["data"][0]["z"]), dtype=np.float64)  # layer 0, average of heads (defaults)
    np.testing.assert_allclose(z, want[0].mean(0), atol=1e-5)


WINOGENDER_STYLE_TSV = ("occupation(0)\tother-participant(1)\tanswer\tsentence\n"
                        "nurse\tman\t1\tThe $OCCUPATION told the $PARTICIPANT that $NOM_PRONOUN was tired.\n"
                        "doctor\twoman\t0\tThe $OCCUPATION gave the $PARTICIPANT $POSS_PRONOUN book.\n"
                        "teacher\tboy\t1\tThe $PARTICIPANT saw the $OCCUPATION with $ACC_PRONOUN.\n"
                        "engineer\tgirl\t0\tThe $OCCUPATION told the $PARTICIPANT that $NOM_PRONOUN was happy.\n")


def test_a_published_tsv_runs_after_the_mapping_step_with_per_row_contrasts(app_factory, tiny_dirs):
    """Issue 24, item 4: the uploader refused .tsv, `$` slots were not recognised, there was no per-row contrast."""
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.template.layout").set_value("table").run()
    at.file_uploader(key="bias.template.csv").set_value(
        ("templates.tsv", WINOGENDER_STYLE_TSV.encode(), "text/tab-separated-values")).run()
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    # the suggested mapping, shown for confirmation
    assert at.selectbox(key="bias.template.map.template").value == "sentence"
    assert at.selectbox(key="bias.template.map.slot.OCCUPATION").value == "occupation(0)"
    assert at.text_input(key="bias.template.map.targets.POSS_PRONOUN").value == "his, her, their"
    at.button(key="bias.template.map.use").click().run()
    at.button(key="bias.template.run").click().run()
    settle(at)  # the run's worker thread scores it (issue 25)
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    tset = templates.from_table(WINOGENDER_STYLE_TSV, "templates.tsv", templates.suggest_mapping(
        *templates.read_table(WINOGENDER_STYLE_TSV, "templates.tsv")))
    expected = templates.probe_templates(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")), tset)
    shown_contrasts = frame(at, "contrast", "difference")
    want = expected.contrasts()
    assert len(shown_contrasts) == len(want) == 12
    np.testing.assert_allclose(list(shown_contrasts["difference"]), [c.difference for c in want], rtol=1e-6)
    tests = frame(at, "contrast", "pairs")
    he_she = tests[(tests["case"] == "NOM_PRONOUN") & (tests["contrast"] == "he − she")]
    d = [c.difference for c in want if c.case == "NOM_PRONOUN" and (c.target_a, c.target_b) == ("he", "she")]
    assert int(he_she["pairs"].iloc[0]) == 2 and he_she["mean difference"].iloc[0] == pytest.approx(np.mean(d))
    # no probability interval leaves [0, 1]
    summary = frame(at, "value", "target", "mean")
    assert (summary["ci_low"].dropna() >= 0).all() and (summary["ci_high"].dropna() <= 1).all()


def test_compare_models_adds_the_exact_mcnemar_test_on_the_same_pairs(app_factory, tiny_dirs, crows_file):
    """Issue 24, item 4: Compare models showed both estimates with intervals but no test of their difference."""
    import math

    a, b = str(tiny_dirs["masked_lm"]), str(tiny_dirs["roberta_mlm"])
    at = open_page(app_factory, a, "pages/bias.py")
    run_crows(at, crows_file, others=b)
    assert not at.error, [shown(e.value) for e in at.error]
    pairs = datasets.load_crows_pairs(crows_file)
    ra, rb = (run_crows_pairs(load_model(ModelSpec(m, device="cpu")), pairs) for m in (a, b))
    da, db = ({r.index: r.more_higher for r in res.rows} for res in (ra, rb))
    only_a = sum(da[i] and not db[i] for i in da)
    only_b = sum(db[i] and not da[i] for i in da)
    n = only_a + only_b  # exact McNemar by hand: two-sided binomial test of the discordant pairs at 1/2
    p = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n)
    table = frame(at, "only A / only B", "p")
    assert table["only A / only B"].iloc[0] == f"{only_a} / {only_b}"
    assert table["p"].iloc[0] == pytest.approx(p)
    assert table["difference A − B"].iloc[0] == pytest.approx(ra.metric - rb.metric)


def test_first_visit_logs_no_session_state_warning(app_factory, tiny_dirs):
    """Issue 24, item 5: the first visit to Bias probes logged a session-state warning with a stack trace."""
    import logging

    from streamlit.elements.lib import policies

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(policies.__name__)
    policies._shown_default_value_warning = False  # Streamlit logs it once per process
    logger.addHandler(handler)
    try:
        at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    finally:
        logger.removeHandler(handler)
    assert not at.exception
    assert at.text_area(key="bias.targets").value == "he, she"  # the editor still opens on the first example set
    assert not [m for m in seen if "Session State API" in m], seen


def test_exports_of_a_local_model_carry_its_folder_and_weights_sha256(app_factory, tiny_dirs, crows_file):
    """Issue 24, item 5: exports of a local-folder model carried no revision or weights hash."""
    import hashlib
    import io
    from pathlib import Path

    import pandas as pd

    a, b = tiny_dirs["masked_lm"], tiny_dirs["roberta_mlm"]
    at = open_page(app_factory, str(a), "pages/bias.py")
    run_crows(at, crows_file, others=str(b))  # the queued model records its own folder, not the first one's
    assert not at.error, [shown(e.value) for e in at.error]
    import ui.bias

    for info in ui.bias.run_store().runs("crows_pairs"):
        folder = Path(info.model_id)
        frame = pd.read_csv(io.StringIO(ui.bias.stored_result(info.run_id).to_csv()))
        want = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
        assert set(frame["model_folder"]) == {folder.name} and set(frame["model_weights_sha256"]) == {want}
        assert info.config["weights_sha256"] == want  # recorded when the run started


def test_a_rejected_or_removed_upload_is_no_file_and_run_says_so(app_factory, tiny_dirs, monkeypatch):
    """Issue 25, item 4: a 60 MB file never reaches the server (the uploader refuses it above its 50 MB limit), so
    the page has an upload chosen and no file: Run says so and never switches to the public download; the same
    after a file is removed; a template CSV 'as written' that is not loaded is not replaced by the editor's set."""
    import ui.bias

    def no_download(*args, **kwargs):
        raise AssertionError("the public data set was fetched")

    monkeypatch.setattr(datasets, "fetch", no_download)
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.probe").set_value("crows_pairs").run()
    assert at.file_uploader(key="bias.crows_pairs.upload").proto.max_upload_size_mb == 50
    at.button(key="bias.crows_pairs.run").click().run()  # nothing chosen yet
    assert any("Choose the data first" in shown(e.value) for e in at.error)
    at.radio(key="bias.crows_pairs.source").set_value("upload").run()  # the 60 MB file: refused in the browser
    at.button(key="bias.crows_pairs.run").click().run()
    assert not at.exception
    assert any("No file is loaded" in shown(e.value) for e in at.error)
    assert ui.bias.run_store().runs() == []
    # a file uploaded, then removed: no file again
    at.file_uploader(key="bias.crows_pairs.upload").set_value(("mine.csv", EXTRA_CSV.encode(), "text/csv")).run()
    assert at.radio(key="bias.crows_pairs.source").value == "upload"
    at.file_uploader(key="bias.crows_pairs.upload").set_value(None).run()
    at.button(key="bias.crows_pairs.run").click().run()
    assert any("No file is loaded" in shown(e.value) for e in at.error)
    assert ui.bias.run_store().runs() == []
    # templates as written with no CSV loaded: a message, not the editor's example set
    at.radio(key="bias.probe").set_value("template").run()
    at.radio(key="bias.template.layout").set_value("rows").run()
    at.button(key="bias.template.run").click().run()
    assert any("No CSV is loaded" in shown(e.value) for e in at.error)
    assert ui.bias.run_store().runs() == []


def test_a_run_goes_on_after_its_tab_closes_and_another_session_sees_it(app_factory, tiny_dirs, crows_file,
                                                                        monkeypatch):
    """Issue 24, item 3: the worker scores the run whether or not the session that started it is still there;
    a second session opening it under Stored runs watches it (its progress), and never scores a chunk itself."""
    import threading

    import plm_core.bias.crows_pairs as crows_mod
    import ui.bias
    from plm_core.bias import worker

    monkeypatch.setattr(ui.bias, "CHUNK", 1)
    gate, real, threads = threading.Event(), crows_mod.score_pairs, []

    def slow(handle, chunk, **kw):
        threads.append(threading.current_thread().name)
        gate.wait(60)  # held until the second session has looked
        return real(handle, chunk, **kw)

    monkeypatch.setattr(crows_mod, "score_pairs", slow)
    at = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    at.radio(key="bias.probe").set_value("crows_pairs").run()
    at.text_input(key="bias.crows_pairs.path").input(str(crows_file)).run()
    at.button(key="bias.crows_pairs.run").click().run()
    del at  # the tab is closed
    other = open_page(app_factory, tiny_dirs["masked_lm"], "pages/bias.py")
    other.radio(key="bias.probe").set_value("crows_pairs").run()
    other.radio(key="bias.view").set_value("runs").run()
    assert not other.exception
    assert any("is being scored" in shown(i.value) for i in other.info)
    assert other.get("progress")  # its progress, refreshed by a fragment
    assert "bias.runs.resume" not in [b.key for b in other.button]  # nothing to resume: it is being scored
    gate.set()
    assert worker.wait_all(180)
    info = ui.bias.run_store().runs("crows_pairs")[0]
    assert (info.status, info.n_done) == ("complete", 6)
    assert set(threads) == {f"bias-run-{info.run_id}"}  # every chunk scored by the run's worker thread
    assert len(threads) == 6
