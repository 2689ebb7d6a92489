"""Bias scores on CUDA equal the CPU's (tiny models), and the CrowS-Pairs throughput aim on a bert-base shape.
Skipped without CUDA."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from plm_core.bias import templates
from plm_core.bias.crows_pairs import score_pairs
from plm_core.bias.datasets import CrowsPair
from plm_core.bias.seat import run_seat
from plm_core.bias.datasets import SeatTest
from plm_core.loading import ModelHandle, ModelSpec, load_model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

PAIRS = [CrowsPair(0, "the man was a nurse", "the woman was a nurse", "stereo", "gender"),
         CrowsPair(1, "she is a good wife", "he is a good wife", "antistereo", "gender"),
         CrowsPair(2, "the poor man is lazy", "the rich man is lazy", "stereo", "socioeconomic")]


@pytest.mark.parametrize("kind", ["masked_lm", "roberta_mlm", "distilbert_mlm"])
def test_crows_pairs_scores_on_cuda_equal_cpu(tiny_dirs, kind):
    cpu = load_model(ModelSpec(str(tiny_dirs[kind]), device="cpu"))
    gpu = load_model(ModelSpec(str(tiny_dirs[kind]), device="cuda"))
    a, b = score_pairs(cpu, PAIRS), score_pairs(gpu, PAIRS)
    np.testing.assert_allclose([r.score_more for r in a], [r.score_more for r in b], atol=1e-3)
    np.testing.assert_allclose([r.score_less for r in a], [r.score_less for r in b], atol=1e-3)


def test_template_probe_on_cuda_equals_cpu(tiny_dirs):
    tset = templates.EXAMPLE_SETS["Pronouns for occupations"]
    cpu = templates.probe_templates(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cpu")), tset)
    gpu = templates.probe_templates(load_model(ModelSpec(str(tiny_dirs["masked_lm"]), device="cuda")), tset)
    np.testing.assert_allclose([r.score for r in cpu.rows], [r.score for r in gpu.rows], atol=1e-4)


def test_seat_on_cuda_equals_cpu(tiny_dirs):
    test = SeatTest("t", ("this is john.", "john is here."), ("this is mary.", "mary is here."), ("career", "office"),
                    ("family", "home"), ("X", "Y", "A", "B"))
    cpu = run_seat(load_model(ModelSpec(str(tiny_dirs["encoder"]), device="cpu")), test)
    gpu = run_seat(load_model(ModelSpec(str(tiny_dirs["encoder"]), device="cuda")), test)
    assert cpu.effect_size == pytest.approx(gpu.effect_size, abs=1e-3) and cpu.p_value == gpu.p_value


def test_all_crows_pairs_within_20_s_on_a_bert_base_shape(shared_data):
    from transformers import BertConfig, BertForMaskedLM

    from plm_core.bias.datasets import load_crows_pairs

    pairs = load_crows_pairs(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv")
    tok = load_model(ModelSpec("embedded", device="cpu")).tokenizer  # the bert-base-uncased vocabulary
    model = BertForMaskedLM(BertConfig(attn_implementation="eager")).eval().to("cuda")
    handle = ModelHandle(ModelSpec("bert-base-random", device="cuda"), model, tok, torch.device("cuda"), "masked_lm",
                         "random")
    score_pairs(handle, pairs[:64])
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    rows = score_pairs(handle, pairs)
    torch.cuda.synchronize()
    assert len(rows) == 1508 and time.perf_counter() - t0 <= 20
