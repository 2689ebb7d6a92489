"""Issue 10, the whole kind: generated hostile text in every page's text boxes (hypothesis + AppTest).

Strings mix Markdown/HTML metacharacters, the hostile fragments of tests/hostile_ui.py (links, images,
bold, math, directives, autolinks), right-to-left and control characters, emoji sequences, special tokens
of several tokenizers, [MASK] storms and very long text. After every run: no exception element, no link
or image from user text, every echo escaped with ``ui.safe.md``. Derandomized, no example database, few
examples per page: it stays in the quick loop (tiny models).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hostile_ui import DRIVES, FRAGMENTS, Recorder, open_drive

METACHARACTERS = "*_`[]()!<>#|$~:&\\-+.={}^%@'\""
SPECIAL_TOKENS = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "<s>", "</s>", "<pad>", "<mask>", "<unk>",
                  "<|endoftext|>", "<extra_id_0>", "<extra_id_99>", "▁", "Ġ", "##"]
UNICODE = ["\u202e", "\u202d", "\u200f", "\u200b", "\u2060", "\ufeff", "\x00", "\x07", "\x1b[31m", "\r\n", "\t",
           "👩‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "中文", "العربية", "עברית", "e\u0301", "ﬁ", "𝔘𝔫𝔦"]

pieces = st.one_of(
    st.text(alphabet=METACHARACTERS + "ab zq", min_size=1, max_size=12),
    st.sampled_from(FRAGMENTS),
    st.sampled_from(SPECIAL_TOKENS),
    st.sampled_from(UNICODE),
    st.integers(1, 300).map(lambda n: "[MASK] " * n),  # a [MASK] storm
    st.integers(200, 6000).map(lambda n: "word " * n),  # past every limit
)
hostile_text = st.lists(pieces, min_size=1, max_size=5).map(" ".join)

# slower drives (several runs each, or word views of up to 128 tokens) get fewer examples
EXAMPLES = {"bias": 2, "lessons": 2, "sidebar": 3, "masking (words)": 2, "compare texts (words)": 2,
            "bias runs": 2, "lessons (T5)": 2}


@pytest.mark.parametrize("drive", DRIVES, ids=[d.name for d in DRIVES])
def test_generated_hostile_text_on_every_page(app_factory, tiny_dirs, drive):
    at = open_drive(app_factory, tiny_dirs, drive)
    rec = Recorder()

    # no shrinking: each example is a whole page run (seconds to minutes on 2 busy cores), and shrinking a failure
    # of the Inside page ran for over 25 minutes here; the failing text is reported as generated
    @settings(max_examples=EXAMPLES.get(drive.name, 4), derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.reuse, Phase.generate))
    @given(text=hostile_text)
    def page_takes_it(text):
        drive.fill(at, text, rec)
        assert not rec.problems, "\n".join(dict.fromkeys(rec.problems))

    page_takes_it()
    assert rec.runs
