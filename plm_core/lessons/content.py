"""The lessons' text, predict-then-reveal questions and glossaries.

A lesson is a sequence of steps; each step names a *view* (the live computation the UI shows beside the text,
from :mod:`plm_core.lessons.compute`). The prose is written here in English, each piece marked ``T(...)``; its
translations live in the app's one message catalogue (``plm_core/locale/<lang>/LC_MESSAGES/messages.po``,
:mod:`plm_core.i18n`) with every other string of the interface, so one tool (Babel) extracts, checks and updates
all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from plm_core.i18n import get_language, gettext_in

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")


@dataclass(frozen=True)
class Text:
    """A piece of lesson prose: its English text is the msgid of its translations in the catalogue."""

    en: str

    def __call__(self, lang: Lang | None = None) -> str:
        """The text in ``lang`` (default: the active language of :mod:`plm_core.i18n`)."""
        return gettext_in(lang or get_language(), self.en)

    @property
    def zh(self) -> str:
        return gettext_in("zh", self.en)


T = Text  # what the message extractor looks for (tools/i18n.py KEYWORDS)


@dataclass(frozen=True)
class Question:
    """Predict, then reveal: the student commits to an option before the answer is shown."""

    prompt: Text
    options: tuple[Text, ...]
    answer: int  # index into options
    explanation: Text

    def __post_init__(self) -> None:
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"answer {self.answer} is not one of {len(self.options)} options")


@dataclass(frozen=True)
class Step:
    key: str
    title: Text
    body: Text  # markdown
    view: str  # which live computation the UI shows
    question: Question | None = None


@dataclass(frozen=True)
class Lesson:
    number: int
    key: str
    title: Text
    summary: Text
    steps: tuple[Step, ...]
    glossary: tuple[tuple[Text, Text], ...]  # (term, definition)
    default_text: str
    text_label: Text = T("Sentence")  # the label of the lesson's text box
    inputs: tuple[Literal["layer", "head"], ...] = ()  # the pickers its steps read (besides the text)

    def __post_init__(self) -> None:
        if "head" in self.inputs and "layer" not in self.inputs:
            raise ValueError(f"lesson {self.number}: a head picker needs a layer picker")


def _q(prompt: Text, options: list[Text], answer: int, explanation: Text) -> Question:
    return Question(prompt, tuple(options), answer, explanation)


LESSON_1 = Lesson(
    1, "tokens", T("Tokens and embeddings"),
    T("How text becomes the vectors a model reads: sub-words, special tokens, positions."),
    (
        Step("split", T("From text to tokens"), T(
            "A model never sees letters or whole words. Its **tokenizer** cuts the text into *tokens* from a fixed "
            "vocabulary. Rare words are split into **sub-words** (BERT marks a continuation with `##`), so any word "
            "can be written with a vocabulary of about 30,000 pieces. BERT-style models add **special tokens**: "
            "`[CLS]` at the start and `[SEP]` at the end of each sentence."), "tokens",
            _q(T("How many tokens will BERT's tokenizer make of the single word “unbelievably”?"),
               [T("1 — it is one word"), T("More than 1 — it is split into sub-words"),
                T("One per letter")], 1,
               T("Common words are single tokens; a long, rarer word is built from sub-words. The table shows the real split."))),
        Step("tables", T("Looking up embeddings"), T(
            "Each token id selects one row of the **token embedding table** (vocabulary × hidden size). BERT adds "
            "a row of the **position table** (where the token is) and of the **segment table** (first or second "
            "sentence), then normalises the sum with **LayerNorm**. GPT-2 adds token and position rows only. "
            "Below, we look up the rows ourselves and check that we get exactly the vectors the model fed to its "
            "first layer."), "embedding_tables",
            _q(T("The word “the” appears twice in a sentence. Are its two input vectors identical?"),
               [T("Yes: same token, same vector"),
                T("No: the position embedding differs")], 1,
               T("The token rows are identical, but each occurrence gets a different position row, so the sums differ."))),
        Step("positions", T("Positions"), T(
            "Self-attention by itself ignores order: shuffle the tokens and every weight is the same. Position "
            "embeddings put order back. In BERT they are *learned*; the heat map shows how similar the position "
            "vectors of nearby positions are (compare the diagonal band with far-apart positions)."), "positions",
            _q(T("Which positions have the most similar position embeddings?"),
               [T("Neighbouring positions"), T("Positions far apart"),
                T("All are equally similar")], 0,
               T("Learned position vectors change smoothly: neighbours are more alike than distant positions."))),
        Step("contextual", T("Static versus contextual embeddings"), T(
            "Word2Vec, GloVe and FastText give every word **one** vector, whatever the sentence: a *static* "
            "embedding. A transformer starts the same way — the token-embedding row of “bank” is the same in “the "
            "bank of the river” and in “a bank loan” — but every layer mixes in the other tokens, so the word's "
            "vectors drift apart: *contextual* embeddings. Below: the cosine similarity of the word's vectors in the "
            "two sentences, first the token-embedding rows, then after each layer (computed live)."), "contextual",
            _q(T("“bank” by a river and “bank” of a loan: after the last layer, how similar are its two vectors?"),
               [T("Identical (cosine 1): same word, same vector"),
                T("Less similar than at the input: the context changed them"),
                T("Unrelated (cosine near 0)")], 1,
               T("The token-embedding rows are identical (cosine 1), as a static embedding would be; each layer adds "
                 "context, so the vectors move apart — but stay related, since both are still the word “bank”."))),
    ),
    (
        (T("token"), T("A piece of text from the model's vocabulary: a word, a sub-word or a symbol.")),
        (T("sub-word"), T("Part of a word; WordPiece marks continuations with ##, BPE marks word starts with a space.")),
        (T("special token"), T("[CLS], [SEP], [MASK], [PAD]: tokens with a structural role, not from the text.")),
        (T("embedding"), T("The vector a token id is mapped to: one row of a learned table.")),
        (T("LayerNorm"), T("Rescales a vector to mean 0 and variance 1, then applies a learned scale and shift.")),
        (T("static / contextual embedding"), T("One vector per word whatever the sentence (Word2Vec, GloVe) / a vector that depends on the sentence (a transformer's layer outputs).")),
    ),
    "The unbelievably quick brown fox jumps over the lazy dog.",
)

LESSON_2 = Lesson(
    2, "self_attention", T("Self-attention, step by step"),
    T("Q, K, V, the scaled scores, the softmax and the weighted sum — for one head, from the model's own numbers."),
    (
        Step("qkv", T("Queries, keys and values"), T(
            "Each token's vector **x** is multiplied by three learned matrices: **q = x·W_Q** (what am I looking "
            "for?), **k = x·W_K** (what do I offer?), **v = x·W_V** (what do I pass on?). A head works in a small "
            "space of d_k dimensions (hidden size ÷ number of heads). These Q, K and V were captured from the model "
            "while it read your sentence."), "qkv",
            _q(T("MiniLM has hidden size 384 and 12 heads. What is d_k, the size of one head's query?"),
               [T("384"), T("32"), T("12")], 1,
               T("384 ÷ 12 = 32: the heads split the hidden vector between them."))),
        Step("scores", T("Scores: QKᵀ / √d_k"), T(
            "The score of query token *i* for key token *j* is the dot product **q_i · k_j**, divided by **√d_k** so "
            "the numbers do not grow with the dimension (large scores would make the softmax almost one-hot and "
            "the gradients vanish). Below the matrix, the **neuron view** takes one query token and shows how its "
            "query vector meets each key: the products q_d·k_d of every dimension (red pushes the score up, blue "
            "down) add up to the dot product."), "scores",
            _q(T("Is the score matrix symmetric (score i→j equal to j→i)?"),
               [T("Yes, a dot product is symmetric"), T("No, queries and keys are different projections")], 1,
               T("q_i·k_j uses W_Q for i and W_K for j; swapping them gives q_j·k_i, a different number."))),
        Step("softmax", T("Softmax: scores become weights"), T(
            "Each row of scores goes through a **softmax**: exponentiate, divide by the row's sum. Every weight is "
            "between 0 and 1 and **each row sums to 1** — a token's attention is a budget spread over all tokens. "
            "We compare our softmax with the attention weights the model returned."), "softmax",
            _q(T("What does each row of the attention matrix add up to?"),
               [T("0"), T("1"), T("The number of tokens")], 1,
               T("Softmax normalises each row: the weights are a probability distribution over keys."))),
        Step("weighted_sum", T("The weighted sum of V"), T(
            "The head's output for token *i* is the weighted average of all value vectors: **z_i = Σ_j a_ij v_j**. "
            "We computed it ourselves and compare it with the vector the model fed into its output projection."), "weighted_sum",
            _q(T("Will our step-by-step result match the model's own output?"),
               [T("Exactly, up to rounding (< 1e-5)"), T("Roughly, within 10%"),
                T("No, the model does something more")], 0,
               T("Self-attention is exactly these four steps; the difference is floating-point rounding."))),
    ),
    (
        (T("query / key / value"), T("Three linear projections of each token: what it looks for, what it offers, what it passes on.")),
        (T("d_k"), T("The dimension of one head's queries and keys (hidden size ÷ heads).")),
        (T("softmax"), T("exp(x_i) / Σ exp(x_j): turns scores into positive weights that sum to 1.")),
        (T("attention head"), T("One set of W_Q, W_K, W_V: one attention pattern in a layer.")),
    ),
    "The cat sat on the mat because it was tired.",
    inputs=("layer", "head"),
)

LESSON_3 = Lesson(
    3, "multi_head", T("Multi-head attention"),
    T("Many heads look at the same sentence in different ways; their outputs are concatenated and projected."),
    (
        Step("heads", T("Heads side by side"), T(
            "A layer runs all its heads in parallel, each with its own W_Q, W_K, W_V. Some heads attend to the "
            "previous or next token, some to `[SEP]` or `[CLS]` (a “no-op”), some to related words."), "heads",
            _q(T("Do different heads of the same layer attend in the same way?"),
               [T("Yes, they are copies"), T("No, each learns its own pattern")], 1,
               T("Each head has its own weights, trained from different random starts; the grid shows how different they are."))),
        Step("concat", T("Concatenate and project"), T(
            "Each head returns d_k numbers per token. The heads' outputs are put **side by side** (concatenated) "
            "back to the hidden size, then multiplied by the **output projection W_O** (plus a bias). We do both "
            "steps ourselves and compare with the output of the model's projection layer."), "concat",
            _q(T("After concatenating 12 heads of size 32, how long is each token's vector?"),
               [T("32"), T("384"), T("12")], 1,
               T("12 × 32 = 384, the hidden size again, so the layer can add it back to its input (the residual)."))),
    ),
    (
        (T("multi-head attention"), T("Several attention heads in parallel, concatenated and projected by W_O.")),
        (T("output projection W_O"), T("A hidden × hidden matrix that mixes the heads' outputs.")),
        (T("residual connection"), T("The layer's input is added to its output, so information can skip a layer.")),
    ),
    "The cat sat on the mat because it was tired.",
    inputs=("layer",),
)

LESSON_4 = Lesson(
    4, "pretraining", T("Masked LM versus autoregressive"),
    T("BERT reads in both directions and fills in blanks; GPT-2 reads left to right and predicts the next token; "
      "T5 and BART do both, joined by cross-attention."),
    (
        Step("masks", T("Who may look at whom?"), T(
            "In **BERT** every token may attend to every other token, before and after it: *bidirectional*. In "
            "**GPT-2** a **causal mask** hides the future: token *i* sees only tokens 0…i, so it can be trained to "
            "predict token i+1. The left map is read from the loaded model's own attention weights (a cell is on "
            "if any head gives it weight); the right map is the other family's mask. Below them, a third family: "
            "**XLNet**'s permuted language modelling, the masks of one sampled factorisation order."), "masks",
            _q(T("In GPT-2, how much attention can the first token give to the last token?"),
               [T("None: the future is masked"), T("Some, like any other token")], 0,
               T("The causal mask sets those scores to −∞ before the softmax, so their weights are exactly 0."))),
        Step("mlm", T("The masked-LM objective"), T(
            "BERT is pre-trained by corrupting 15% of the tokens — 80% replaced by `[MASK]`, 10% by a random "
            "token, 10% left alone — and predicting the originals from both sides. Below is that recipe applied to "
            "your sentence, and what the loaded model predicts (a masked LM fills in `[MASK]`; a causal LM guesses "
            "the next token; a sentence encoder such as MiniLM has no prediction head: it was fine-tuned for "
            "sentence similarity)."), "mlm",
            _q(T("Why does BERT leave 10% of the chosen tokens unchanged?"),
               [T("To save computation"), T("Because [MASK] never appears when the model is used later"),
                T("By accident")], 1,
               T("Fine-tuning inputs contain no [MASK]; keeping some real tokens as targets makes the model build good "
                 "representations of every token, not only of masks."))),
        Step("nsp", T("Next-sentence prediction"), T(
            "BERT also read **pairs** of sentences, `[CLS] A [SEP] B [SEP]`, with segment embeddings 0 and 1, and "
            "learned to tell whether B really followed A (the `[CLS]` vector feeds this classifier). Later work "
            "(RoBERTa) found this objective unnecessary. The table shows how the pair below is encoded."),
            "nsp",
            _q(T("Which token's vector does BERT use to classify a sentence pair?"),
               [T("[CLS]"), T("The last [SEP]"), T("The average of all tokens")], 0,
               T("The [CLS] vector, through the pooler (a dense layer with tanh), feeds the pre-training and fine-tuning classifiers."))),
        Step("encdec", T("Encoder-decoder: T5 and BART"), T(
            "The third family has both halves. An **encoder** reads the source in both directions (like BERT); a "
            "**decoder** writes the target left to right (a causal mask, like GPT-2) and, in every layer, looks at the "
            "encoder's output through **cross-attention**: one row per target token, one column per source token. "
            "T5 is pre-trained by *span corruption* — spans of the input become sentinels `<extra_id_0>`, "
            "`<extra_id_1>`, … and the decoder writes the missing spans — and BART by rewriting a corrupted input. "
            "With an encoder-decoder loaded (t5-small, facebook/bart-base), the three maps below are read from its "
            "own attention weights for your sentence (a `[MASK]` becomes its sentinel or mask token); the target so "
            "far is the decoder's input."), "encdec",
            _q(T("In cross-attention, what does a target token attend to?"),
               [T("The source tokens, as the encoder left them"),
                T("The target tokens written so far"), T("Both at once")], 0,
               T("Cross-attention takes its queries from the decoder and its keys and values from the encoder's output; "
                 "the target so far is read by the decoder's own (causal) self-attention."))),
        Step("generate", T("Generating text, one token at a time"), T(
            "A causal LM writes by predicting a distribution over its whole vocabulary for the next token, choosing "
            "one, appending it and predicting again. **Greedy** decoding always takes the most likely token; "
            "**sampling** draws one at random. The **temperature** T divides the scores (logits) before the "
            "softmax, and **top-k** / **top-p** cut off the unlikely tail. A masked LM has the same kind of "
            "distribution at its `[MASK]`, but it does not write left to right. The Generation page does this "
            "step by step."),
            "generation",
            _q(T("What happens to the distribution at temperature 2?"),
               [T("It gets flatter: unlikely tokens gain probability"),
                T("It gets sharper: the top token gains probability"),
                T("Nothing changes")], 0,
               T("softmax(z / T) with T > 1 shrinks the differences between the scores, so the probability spreads over "
                 "more tokens and the entropy rises; T < 1 sharpens it, and T → 0 is greedy decoding."))),
    ),
    (
        (T("masked language model (MLM)"), T("Predicts hidden tokens from both sides (BERT).")),
        (T("encoder-decoder"), T("An encoder reads the source, a decoder writes the target and reads the source through cross-attention (T5, BART).")),
        (T("cross-attention"), T("Attention whose queries are target tokens and whose keys and values are the encoder's outputs.")),
        (T("causal / autoregressive LM"), T("Predicts each next token from the tokens before it (GPT-2).")),
        (T("causal mask"), T("Sets scores of future tokens to −∞ so their attention weight is 0.")),
        (T("next-sentence prediction (NSP)"), T("BERT's second objective: does sentence B follow sentence A?")),
        (T("temperature"), T("Logits are divided by T before the softmax: T > 1 flattens the distribution, T < 1 sharpens it.")),
        (T("top-k / top-p sampling"), T("Draw only from the k most likely tokens / from the smallest set whose probability reaches p (nucleus).")),
    ),
    "The cat sat on the [MASK] because it was tired.",
)

LESSON_5 = Lesson(
    5, "transfer", T("Fine-tuning and transfer"),
    T("Train a classifier in seconds on top of a frozen pretrained encoder, then explain it on the other pages."),
    (
        Step("data", T("A handful of labelled sentences"), T(
            "Pretraining gave the encoder general knowledge of language. **Transfer learning** reuses it: we keep "
            "the encoder **frozen** and train only a small **head** on top. Edit the examples (one per line, "
            "`label<TAB>sentence` or `label: sentence`); 40 sentiment sentences ship with the app."), "data",
            _q(T("With only 40 examples, will a classifier on a frozen encoder be better than chance on new sentences?"),
               [T("No, 40 examples are far too few"), T("Yes, clearly")], 1,
               T("The held-out accuracy in the next step is measured on sentences the head never saw."))),
        Step("train", T("Train the head"), T(
            "Each sentence is encoded once by the frozen model. A new linear layer (logistic regression) is fitted "
            "on those vectors — the shared model itself is never changed. BERT's classifier reads the **pooler** "
            "output (tanh of a dense layer on `[CLS]`), so we train on exactly that; we also report what a head on "
            "**mean-pooled** vectors (how MiniLM was trained) would score, measured by stratified k-fold cross-validation "
            "(every fold keeps the label proportions), with precision, recall and F1 per label and the confusion "
            "matrix."), "train",
            _q(T("Training accuracy will be near 100%. Does that prove the classifier is good?"),
               [T("Yes"), T("No: only held-out accuracy tells")], 1,
               T("With 384 features and 40 examples a linear head can fit almost anything; look at the cross-validated accuracy."))),
        Step("use", T("A real classifier"), T(
            "Try the classifier on your own sentence, then save it: the folder is a standard "
            "`BertForSequenceClassification` (the encoder's weights, its pooler and your head). Switch the app to it "
            "and the Attribution, Masking and Compare pages explain *your* classifier, and the Evaluate page scores it on "
            "a labelled set."), "use",
            _q(T("Will the saved folder, loaded as a normal model, give the same probabilities as the head here?"),
               [T("Yes, exactly"), T("Only roughly")], 0,
               T("It contains the very same weights and computes the same pooler → linear → softmax; the app checks it."))),
    ),
    (
        (T("transfer learning"), T("Reusing a model trained on one task (language modelling) for another.")),
        (T("frozen encoder"), T("Its weights are not updated; only the new head learns.")),
        (T("classification head"), T("A small layer mapping the sentence vector to class scores.")),
        (T("pooler"), T("BERT's tanh(dense([CLS])) layer whose output the classifier reads.")),
        (T("cross-validation"), T("Each example is predicted by a model trained without it.")),
    ),
    "A lovely, funny film with a clever plot.",
    text_label=T("Sentence to classify"),
)

LESSON_6 = Lesson(
    6, "explanation", T("Is attention an explanation?"),
    T("Put attention weights next to an attribution method on the same sentence and compare."),
    (
        Step("compare", T("Attention next to attribution"), T(
            "Attention tells where a head *looked*; **attribution** asks how much each input token *changed the "
            "output*. Below: the attention the `[CLS]` position receives in the last layer (heads averaged), "
            "attention rollout through all layers, and an attribution method on the same sentence. The rank "
            "correlation says how far they agree."),
            "attention_vs_attribution",
            _q(T("Will the most-attended token also be the most important one by attribution?"),
               [T("Always"), T("Often not")], 1,
               T("Jain & Wallace (2019) found attention often disagrees with gradient and leave-one-out importance; "
                 "Wiegreffe & Pinter (2019) argue it can still be one explanation among several. Check the correlation."))),
        Step("discuss", T("What would count as an explanation?"), T(
            "An explanation should be **faithful** (reflect what the model really used) and **plausible** (make "
            "sense to people). Attention is plausible-looking but one head among many, followed by value vectors "
            "and feed-forward layers; attributions test the whole model. Try a sentence where one word flips the "
            "meaning (“not”), and see which view picks it out."),
            "attention_vs_attribution",
            _q(T("Which is the stronger test that a token mattered?"),
               [T("A high attention weight on it"), T("The output changes when it is removed")], 1,
               T("Removing or perturbing the token and watching the output is a causal test; a weight is not."))),
    ),
    (
        (T("attribution"), T("A score per input token for how much it contributed to the output.")),
        (T("occlusion / leave-one-out"), T("Mask one token at a time and measure how the output changes.")),
        (T("attention rollout"), T("Multiplies head-averaged attention (plus the residual) through the layers.")),
        (T("faithfulness"), T("Whether an explanation reflects the model's actual computation.")),
        (T("Spearman correlation"), T("Correlation of ranks: 1 = same order, 0 = unrelated, −1 = reversed.")),
    ),
    "The film was not good at all.",
)

LESSON_7 = Lesson(
    7, "bias", T("A guided bias probe"),
    T("Fill templates with occupations and measure what the model associates with gender."),
    (
        Step("probe", T("Templates and occupations"), T(
            "A **template probe** keeps the sentence fixed and changes one slot. For each occupation we compare the "
            "model's association with *he/man* versus *she/woman*: for a masked or causal LM, the probability of “he” "
            "versus “she” at `[MASK]` in “[MASK] works as a nurse.” (or as the next word after “the nurse said "
            "that”); for a sentence encoder, the cosine similarity of “the nurse is here.” with “the man is here.” "
            "minus with “the woman is here.”. Positive bars lean male, negative lean female."), "bias_probe",
            _q(T("Which way will “nurse” lean in a model trained on web text?"),
               [T("Towards she/woman"), T("Towards he/man"), T("Neither")], 0,
               T("Models absorb the statistics of their training text, including occupational stereotypes. Look at the bars for the "
                 "actual value in this model (a random tiny model shows noise)."))),
        Step("caveats", T("What a probe can and cannot show"), T(
            "One template is fragile: change “is here” to “works late” and the numbers move. Good probes average "
            "many templates, report the spread, and test whether the bias shows up in a downstream task. A score "
            "near zero on one template does **not** show a model is fair."), "bias_probe",
            _q(T("A model scores 0.00 on one template. Is it unbiased?"),
               [T("Yes"), T("Not shown: try more templates")], 1,
               T("Absence of evidence on one template is not evidence of absence; compare the templates in the chart."))),
    ),
    (
        (T("template probe"), T("A fixed sentence with a slot filled by different words.")),
        (T("stereotype"), T("An over-generalised belief about a group, often present in training text.")),
        (T("association score"), T("Here: similarity or probability for he/man minus for she/woman.")),
    ),
    "nurse, engineer, teacher, doctor, secretary, programmer",
    text_label=T("Occupations (comma-separated)"),
)

LESSON_8 = Lesson(
    8, "ffn", T("The other half of a layer: feed-forward networks and the residual stream"),
    T("A Transformer layer is self-attention **and** a feed-forward network; both add to one residual stream, "
      "which the output head reads."),
    (
        Step("halves", T("Two halves: moving and transforming"), T(
            "Every layer has two blocks. **Attention moves information between tokens**: each token's output is a "
            "weighted mix of the other tokens' values. The **feed-forward network (FFN)** then **transforms each "
            "token on its own**: the same two matrices, W_in then W_out with a non-linearity between, applied at "
            "every position, with no view of the other tokens. Below: how much each layer's attention and each "
            "layer's FFN added to the prediction's logit (computed live from the loaded model)."), "inside_halves",
            _q(T("Which half of a layer can copy information from one token to another?"),
               [T("Attention"), T("The feed-forward network"), T("Both")], 0,
               T("Only attention mixes positions. The FFN reads one token's vector and writes back to that same "
                 "token; what it knows about other tokens came through attention in this or an earlier layer."))),
        Step("residual", T("One residual stream"), T(
            "Neither block replaces the token's vector: each **adds** its output to it (the *residual connection*). "
            "So the vector the head finally reads is a sum: the embeddings, plus every attention head's output, "
            "plus every FFN block's output. With each norm's scale frozen at this run (norms are the only "
            "non-linear step on that path), the logit splits exactly into one share per part. The table adds them up "
            "and compares the sum with the model's own logit."), "inside_residual",
            _q(T("If we add up the shares of the embeddings, every head and every FFN block (and the biases), what do "
                 "we get?"),
               [T("Exactly the model's logit"), T("Roughly the logit, within a few percent"),
                T("Nothing in particular: the parts interact")], 0,
               T("The residual stream is a sum and, with the norms' scales frozen, the head is linear: the parts add "
                 "up to the logit to float rounding. Patching (Inside the model page) measures what a part changes "
                 "downstream, which this split leaves out."))),
        Step("neurons", T("What an FFN neuron writes"), T(
            "An FFN block has many **neurons** (often 4 × the hidden size). Neuron *i* fires with activation a_i and "
            "adds a_i × (its output vector) to the stream. Read that vector through the output head and it "
            "**promotes some tokens**: the FFN works like a key-value memory (Geva et al., 2021). Below: the "
            "neurons of the last layer that fire most at the predicted position, their effect on the logit, and "
            "the tokens each one promotes."), "inside_neurons",
            _q(T("A neuron's output vector is fixed after training. What changes from one input to the next?"),
               [T("How strongly it fires (its activation)"), T("The tokens it promotes"),
                T("Nothing: it always adds the same amount")], 0,
               T("The vector, and so the tokens it promotes, is a weight; the input only sets the activation that "
                 "scales it (and its sign)."))),
        Step("lens", T("Reading the stream: the logit lens"), T(
            "Because every layer only adds to the stream, we can read it **before the last layer** through the "
            "final norm and the head, as if the model stopped there: the *logit lens* (nostalgebraist, 2020). "
            "Below: the rank of the model's final prediction after each layer."), "inside_lens",
            _q(T("After the first layers, is the final prediction already the top token?"),
               [T("Usually not: it rises to the top in later layers"), T("Yes, from the embeddings on"),
                T("It is never the top before the last layer")], 0,
               T("Early layers read like the input token's neighbours; the answer usually climbs the ranking in "
                 "the middle and later layers, as attention and FFN blocks add to the stream."))),
    ),
    (
        (T("feed-forward network (FFN, MLP)"), T("The per-token half of a layer: W_out · act(W_in · x), the same weights at every position.")),
        (T("residual stream"), T("The vector of each token that every block adds its output to; the head reads it after the last layer.")),
        (T("neuron"), T("One hidden unit of an FFN: its activation scales one output vector added to the stream.")),
        (T("direct logit attribution"), T("A part's output read straight through the head (norm scales frozen): its share of a logit.")),
        (T("logit lens"), T("Reading an intermediate layer's residual stream through the final norm and the head.")),
    ),
    "The capital of France is",
)

LESSONS: tuple[Lesson, ...] = (LESSON_1, LESSON_2, LESSON_3, LESSON_4, LESSON_5, LESSON_6, LESSON_7,
                              LESSON_8)
VIEWS = frozenset(step.view for lesson in LESSONS for step in lesson.steps)


def get_lesson(number: int) -> Lesson:
    """Lesson 1…7 (clamped into range, so a hand-edited link still opens a lesson)."""
    return LESSONS[min(max(int(number), 1), len(LESSONS)) - 1]
