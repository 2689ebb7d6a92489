"""The lessons' text (English and Chinese), predict-then-reveal questions and glossaries.

A lesson is a sequence of steps; each step names a *view* (the live computation the UI shows beside the text,
from :mod:`plm_core.lessons.compute`). The text is plain data so it can be tested and translated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")


@dataclass(frozen=True)
class Text:
    en: str
    zh: str

    def __call__(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


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


T = Text


def _q(prompt: Text, options: list[Text], answer: int, explanation: Text) -> Question:
    return Question(prompt, tuple(options), answer, explanation)


LESSON_1 = Lesson(
    1, "tokens", T("Tokens and embeddings", "词元与嵌入"),
    T("How text becomes the vectors a model reads: sub-words, special tokens, positions.",
      "文本如何变成模型读取的向量：子词、特殊词元与位置。"),
    (
        Step("split", T("From text to tokens", "从文本到词元"), T(
            "A model never sees letters or whole words. Its **tokenizer** cuts the text into *tokens* from a fixed "
            "vocabulary. Rare words are split into **sub-words** (BERT marks a continuation with `##`), so any word "
            "can be written with a vocabulary of about 30,000 pieces. BERT-style models add **special tokens**: "
            "`[CLS]` at the start and `[SEP]` at the end of each sentence.",
            "模型从不直接看到字母或整词。**分词器**把文本切成来自固定词表的*词元*。少见的词会被拆成**子词**"
            "（BERT 用 `##` 标记词的后续部分），因此大约 3 万个片段就能拼出任何词。BERT 类模型还会加入**特殊词元**："
            "句首的 `[CLS]` 和每句末尾的 `[SEP]`。"), "tokens",
            _q(T("How many tokens will BERT's tokenizer make of the single word “unbelievably”?",
                 "BERT 的分词器会把单词 “unbelievably” 切成几个词元？"),
               [T("1 — it is one word", "1 个——它是一个词"), T("More than 1 — it is split into sub-words", "多于 1 个——它会被拆成子词"),
                T("One per letter", "每个字母一个")], 1,
               T("Common words are single tokens; a long, rarer word is built from sub-words. The table shows the real split.",
                 "常见词是一个词元；较长、较少见的词由子词拼成。右边的表给出真实的切分。"))),
        Step("tables", T("Looking up embeddings", "查嵌入表"), T(
            "Each token id selects one row of the **token embedding table** (vocabulary × hidden size). BERT adds "
            "a row of the **position table** (where the token is) and of the **segment table** (first or second "
            "sentence), then normalises the sum with **LayerNorm**. GPT-2 adds token and position rows only. "
            "Below, we look up the rows ourselves and check that we get exactly the vectors the model fed to its "
            "first layer.",
            "每个词元 id 选中**词元嵌入表**（词表大小 × 隐藏维度）中的一行。BERT 再加上**位置表**（词元在哪里）和"
            "**段落表**（第一句还是第二句）中的一行，然后用 **LayerNorm** 归一化这个和。GPT-2 只加词元和位置两行。"
            "下面我们自己查表相加，并检查结果与模型送入第一层的向量完全相同。"), "embedding_tables",
            _q(T("The word “the” appears twice in a sentence. Are its two input vectors identical?",
                 "句子里 “the” 出现两次。它的两个输入向量相同吗？"),
               [T("Yes: same token, same vector", "相同：同一个词元，同一个向量"),
                T("No: the position embedding differs", "不同：位置嵌入不一样")], 1,
               T("The token rows are identical, but each occurrence gets a different position row, so the sums differ.",
                 "词元那一行相同，但两次出现的位置行不同，所以相加后的向量不同。"))),
        Step("positions", T("Positions", "位置"), T(
            "Self-attention by itself ignores order: shuffle the tokens and every weight is the same. Position "
            "embeddings put order back. In BERT they are *learned*; the heat map shows how similar the position "
            "vectors of nearby positions are (compare the diagonal band with far-apart positions).",
            "自注意力本身不看顺序：打乱词元，每个权重都不变。位置嵌入把顺序信息加回来。BERT 的位置嵌入是*学出来的*；"
            "热图显示相邻位置的向量有多相似（对比对角线附近与相距很远的位置）。"), "positions",
            _q(T("Which positions have the most similar position embeddings?", "哪些位置的位置嵌入最相似？"),
               [T("Neighbouring positions", "相邻的位置"), T("Positions far apart", "相距很远的位置"),
                T("All are equally similar", "都一样相似")], 0,
               T("Learned position vectors change smoothly: neighbours are more alike than distant positions.",
                 "学到的位置向量变化平滑：相邻位置比远处位置更相似。"))),
        Step("contextual", T("Static versus contextual embeddings", "静态嵌入与上下文嵌入"), T(
            "Word2Vec, GloVe and FastText give every word **one** vector, whatever the sentence: a *static* "
            "embedding. A transformer starts the same way — the token-embedding row of “bank” is the same in “the "
            "bank of the river” and in “a bank loan” — but every layer mixes in the other tokens, so the word's "
            "vectors drift apart: *contextual* embeddings. Below: the cosine similarity of the word's vectors in the "
            "two sentences, first the token-embedding rows, then after each layer (computed live).",
            "Word2Vec、GloVe 和 FastText 给每个词**一个**向量，不论它出现在什么句子里：这是*静态*嵌入。Transformer 的起点"
            "相同——“bank” 在 “the bank of the river” 和 “a bank loan” 中的词元嵌入行完全一样——但每一层都会混入其他词元"
            "的信息，于是这个词的两个向量渐渐分开：这是*上下文*嵌入。下面是它在两个句子中的向量的余弦相似度：先是词元"
            "嵌入行，然后是每一层之后（实时计算）。"), "contextual",
            _q(T("“bank” by a river and “bank” of a loan: after the last layer, how similar are its two vectors?",
                 "河边的 “bank” 和贷款的 “bank”：经过最后一层后，它的两个向量有多相似？"),
               [T("Identical (cosine 1): same word, same vector", "完全相同（余弦为 1）：同一个词，同一个向量"),
                T("Less similar than at the input: the context changed them", "比输入时更不相似：上下文改变了它们"),
                T("Unrelated (cosine near 0)", "毫无关系（余弦接近 0）")], 1,
               T("The token-embedding rows are identical (cosine 1), as a static embedding would be; each layer adds "
                 "context, so the vectors move apart — but stay related, since both are still the word “bank”.",
                 "两个词元嵌入行完全相同（余弦为 1），和静态嵌入一样；每一层加入上下文，向量随之分开——但仍然相关，"
                 "因为它们都还是 “bank” 这个词。"))),
    ),
    (
        (T("token", "词元 (token)"), T("A piece of text from the model's vocabulary: a word, a sub-word or a symbol.", "模型词表中的一段文本：一个词、子词或符号。")),
        (T("sub-word", "子词 (sub-word)"), T("Part of a word; WordPiece marks continuations with ##, BPE marks word starts with a space.", "词的一部分；WordPiece 用 ## 标记后续片段，BPE 用空格标记词首。")),
        (T("special token", "特殊词元"), T("[CLS], [SEP], [MASK], [PAD]: tokens with a structural role, not from the text.", "[CLS]、[SEP]、[MASK]、[PAD]：起结构作用、不来自原文的词元。")),
        (T("embedding", "嵌入 (embedding)"), T("The vector a token id is mapped to: one row of a learned table.", "词元 id 映射到的向量：学习得到的表中的一行。")),
        (T("LayerNorm", "层归一化 (LayerNorm)"), T("Rescales a vector to mean 0 and variance 1, then applies a learned scale and shift.", "把向量缩放到均值 0、方差 1，再施加学习到的缩放与平移。")),
        (T("static / contextual embedding", "静态 / 上下文嵌入"), T("One vector per word whatever the sentence (Word2Vec, GloVe) / a vector that depends on the sentence (a transformer's layer outputs).", "无论在什么句子里，每个词只有一个向量（Word2Vec、GloVe）/ 随句子变化的向量（Transformer 各层的输出）。")),
    ),
    "The unbelievably quick brown fox jumps over the lazy dog.",
)

LESSON_2 = Lesson(
    2, "self_attention", T("Self-attention, step by step", "一步一步看自注意力"),
    T("Q, K, V, the scaled scores, the softmax and the weighted sum — for one head, from the model's own numbers.",
      "Q、K、V、缩放后的分数、softmax 与加权和——针对一个注意力头，全部来自模型自己的数值。"),
    (
        Step("qkv", T("Queries, keys and values", "查询、键与值"), T(
            "Each token's vector **x** is multiplied by three learned matrices: **q = x·W_Q** (what am I looking "
            "for?), **k = x·W_K** (what do I offer?), **v = x·W_V** (what do I pass on?). A head works in a small "
            "space of d_k dimensions (hidden size ÷ number of heads). These Q, K and V were captured from the model "
            "while it read your sentence.",
            "每个词元的向量 **x** 乘以三个学到的矩阵：**q = x·W_Q**（我在找什么？）、**k = x·W_K**（我能提供什么？）、"
            "**v = x·W_V**（我传递什么？）。一个头在 d_k 维的小空间里工作（隐藏维度 ÷ 头数）。这里的 Q、K、V 是模型读你的"
            "句子时截获的。"), "qkv",
            _q(T("MiniLM has hidden size 384 and 12 heads. What is d_k, the size of one head's query?",
                 "MiniLM 的隐藏维度是 384，有 12 个头。一个头的查询向量维度 d_k 是多少？"),
               [T("384", "384"), T("32", "32"), T("12", "12")], 1,
               T("384 ÷ 12 = 32: the heads split the hidden vector between them.", "384 ÷ 12 = 32：各个头把隐藏向量分开使用。"))),
        Step("scores", T("Scores: QKᵀ / √d_k", "分数：QKᵀ / √d_k"), T(
            "The score of query token *i* for key token *j* is the dot product **q_i · k_j**, divided by **√d_k** so "
            "the numbers do not grow with the dimension (large scores would make the softmax almost one-hot and "
            "the gradients vanish). Below the matrix, the **neuron view** takes one query token and shows how its "
            "query vector meets each key: the products q_d·k_d of every dimension (red pushes the score up, blue "
            "down) add up to the dot product.",
            "查询词元 *i* 对键词元 *j* 的分数是点积 **q_i · k_j**，再除以 **√d_k**，使数值不随维度增大"
            "（分数太大会让 softmax 几乎变成独热，梯度消失）。矩阵下方的**神经元视图**选一个查询词元，显示它的查询向量"
            "如何与每个键相遇：每一维的乘积 q_d·k_d（红色把分数推高，蓝色拉低）加起来就是点积。"), "scores",
            _q(T("Is the score matrix symmetric (score i→j equal to j→i)?", "分数矩阵是对称的吗（i→j 等于 j→i）？"),
               [T("Yes, a dot product is symmetric", "是，点积是对称的"), T("No, queries and keys are different projections", "不是，查询和键是不同的投影")], 1,
               T("q_i·k_j uses W_Q for i and W_K for j; swapping them gives q_j·k_i, a different number.",
                 "q_i·k_j 对 i 用 W_Q、对 j 用 W_K；交换后是 q_j·k_i，数值不同。"))),
        Step("softmax", T("Softmax: scores become weights", "Softmax：分数变成权重"), T(
            "Each row of scores goes through a **softmax**: exponentiate, divide by the row's sum. Every weight is "
            "between 0 and 1 and **each row sums to 1** — a token's attention is a budget spread over all tokens. "
            "We compare our softmax with the attention weights the model returned.",
            "每一行分数经过 **softmax**：取指数，再除以该行之和。每个权重都在 0 与 1 之间，且**每一行之和为 1**——一个词元的"
            "注意力是一份分配给所有词元的预算。我们把自己算的 softmax 与模型返回的注意力权重对比。"), "softmax",
            _q(T("What does each row of the attention matrix add up to?", "注意力矩阵每一行加起来是多少？"),
               [T("0", "0"), T("1", "1"), T("The number of tokens", "词元个数")], 1,
               T("Softmax normalises each row: the weights are a probability distribution over keys.", "softmax 对每一行归一化：权重是键上的概率分布。"))),
        Step("weighted_sum", T("The weighted sum of V", "V 的加权和"), T(
            "The head's output for token *i* is the weighted average of all value vectors: **z_i = Σ_j a_ij v_j**. "
            "We computed it ourselves and compare it with the vector the model fed into its output projection.",
            "这个头对词元 *i* 的输出是所有值向量的加权平均：**z_i = Σ_j a_ij v_j**。我们自己算出它，并与模型送入输出投影的"
            "向量比较。"), "weighted_sum",
            _q(T("Will our step-by-step result match the model's own output?", "我们一步步算的结果会和模型自己的输出一致吗？"),
               [T("Exactly, up to rounding (< 1e-5)", "完全一致，只差舍入误差（< 1e-5）"), T("Roughly, within 10%", "大致一致，误差 10% 以内"),
                T("No, the model does something more", "不一致，模型还做了别的")], 0,
               T("Self-attention is exactly these four steps; the difference is floating-point rounding.",
                 "自注意力就是这四步；差别只是浮点舍入。"))),
    ),
    (
        (T("query / key / value", "查询 / 键 / 值"), T("Three linear projections of each token: what it looks for, what it offers, what it passes on.", "每个词元的三个线性投影：它在找什么、能提供什么、传递什么。")),
        (T("d_k", "d_k"), T("The dimension of one head's queries and keys (hidden size ÷ heads).", "一个头的查询与键的维度（隐藏维度 ÷ 头数）。")),
        (T("softmax", "softmax"), T("exp(x_i) / Σ exp(x_j): turns scores into positive weights that sum to 1.", "exp(x_i) / Σ exp(x_j)：把分数变成和为 1 的正权重。")),
        (T("attention head", "注意力头"), T("One set of W_Q, W_K, W_V: one attention pattern in a layer.", "一组 W_Q、W_K、W_V：一层中的一种注意力模式。")),
    ),
    "The cat sat on the mat because it was tired.",
)

LESSON_3 = Lesson(
    3, "multi_head", T("Multi-head attention", "多头注意力"),
    T("Many heads look at the same sentence in different ways; their outputs are concatenated and projected.",
      "多个头以不同方式看同一句子；它们的输出被拼接并投影。"),
    (
        Step("heads", T("Heads side by side", "并排看各个头"), T(
            "A layer runs all its heads in parallel, each with its own W_Q, W_K, W_V. Some heads attend to the "
            "previous or next token, some to `[SEP]` or `[CLS]` (a “no-op”), some to related words.",
            "一层里的所有头并行运行，各有自己的 W_Q、W_K、W_V。有的头关注前一个或后一个词元，有的关注 `[SEP]` 或 `[CLS]`"
            "（相当于“什么都不做”），有的关注相关的词。"), "heads",
            _q(T("Do different heads of the same layer attend in the same way?", "同一层的不同头注意力模式一样吗？"),
               [T("Yes, they are copies", "一样，它们是副本"), T("No, each learns its own pattern", "不一样，各自学到自己的模式")], 1,
               T("Each head has its own weights, trained from different random starts; the grid shows how different they are.",
                 "每个头有自己的权重，从不同的随机初值训练而来；网格显示它们有多不同。"))),
        Step("concat", T("Concatenate and project", "拼接与投影"), T(
            "Each head returns d_k numbers per token. The heads' outputs are put **side by side** (concatenated) "
            "back to the hidden size, then multiplied by the **output projection W_O** (plus a bias). We do both "
            "steps ourselves and compare with the output of the model's projection layer.",
            "每个头对每个词元输出 d_k 个数。各头的输出**并排**拼接回隐藏维度，再乘以**输出投影 W_O**（加偏置）。"
            "我们自己做这两步，并与模型投影层的输出比较。"), "concat",
            _q(T("After concatenating 12 heads of size 32, how long is each token's vector?", "把 12 个 32 维的头拼接后，每个词元的向量多长？"),
               [T("32", "32"), T("384", "384"), T("12", "12")], 1,
               T("12 × 32 = 384, the hidden size again, so the layer can add it back to its input (the residual).",
                 "12 × 32 = 384，回到隐藏维度，因此这一层能把它加回输入（残差连接）。"))),
    ),
    (
        (T("multi-head attention", "多头注意力"), T("Several attention heads in parallel, concatenated and projected by W_O.", "多个注意力头并行，拼接后由 W_O 投影。")),
        (T("output projection W_O", "输出投影 W_O"), T("A hidden × hidden matrix that mixes the heads' outputs.", "一个 隐藏维度 × 隐藏维度 的矩阵，混合各头的输出。")),
        (T("residual connection", "残差连接"), T("The layer's input is added to its output, so information can skip a layer.", "层的输入被加到输出上，信息可以跳过这一层。")),
    ),
    "The cat sat on the mat because it was tired.",
)

LESSON_4 = Lesson(
    4, "pretraining", T("Masked LM versus autoregressive", "掩码语言模型与自回归模型"),
    T("BERT reads in both directions and fills in blanks; GPT-2 reads left to right and predicts the next token; "
      "T5 and BART do both, joined by cross-attention.",
      "BERT 双向阅读并填空；GPT-2 从左到右阅读并预测下一个词元；T5 和 BART 两者兼有，由交叉注意力相连。"),
    (
        Step("masks", T("Who may look at whom?", "谁能看到谁？"), T(
            "In **BERT** every token may attend to every other token, before and after it: *bidirectional*. In "
            "**GPT-2** a **causal mask** hides the future: token *i* sees only tokens 0…i, so it can be trained to "
            "predict token i+1. The left map is read from the loaded model's own attention weights (a cell is on "
            "if any head gives it weight); the right map is the other family's mask.",
            "在 **BERT** 中，每个词元都能关注其他所有词元，无论前后：*双向*。在 **GPT-2** 中，**因果掩码**遮住未来："
            "词元 *i* 只能看到 0…i，因此可以训练它预测第 i+1 个词元。左图读自当前模型自己的注意力权重（只要有头给了"
            "权重就点亮）；右图是另一类模型的掩码。"), "masks",
            _q(T("In GPT-2, how much attention can the first token give to the last token?", "在 GPT-2 中，第一个词元能给最后一个词元多少注意力？"),
               [T("None: the future is masked", "零：未来被遮住了"), T("Some, like any other token", "有一些，和其他词元一样")], 0,
               T("The causal mask sets those scores to −∞ before the softmax, so their weights are exactly 0.",
                 "因果掩码在 softmax 之前把这些分数设为 −∞，所以权重恰好为 0。"))),
        Step("mlm", T("The masked-LM objective", "掩码语言模型目标"), T(
            "BERT is pre-trained by corrupting 15% of the tokens — 80% replaced by `[MASK]`, 10% by a random "
            "token, 10% left alone — and predicting the originals from both sides. Below is that recipe applied to "
            "your sentence, and what the loaded model predicts (a masked LM fills in `[MASK]`; a causal LM guesses "
            "the next token; a sentence encoder such as MiniLM has no prediction head: it was fine-tuned for "
            "sentence similarity).",
            "BERT 的预训练方法是破坏 15% 的词元——其中 80% 换成 `[MASK]`、10% 换成随机词元、10% 保持不变——再从两侧"
            "预测原词。下面是把这个方法用在你的句子上的结果，以及当前模型的预测（掩码语言模型填 `[MASK]`；因果语言模型"
            "猜下一个词元；像 MiniLM 这样的句子编码器没有预测头：它被微调用于句子相似度）。"), "mlm",
            _q(T("Why does BERT leave 10% of the chosen tokens unchanged?", "BERT 为什么让 10% 被选中的词元保持不变？"),
               [T("To save computation", "为了省计算"), T("Because [MASK] never appears when the model is used later", "因为之后使用模型时从不出现 [MASK]"),
                T("By accident", "偶然")], 1,
               T("Fine-tuning inputs contain no [MASK]; keeping some real tokens as targets makes the model build good "
                 "representations of every token, not only of masks.",
                 "微调时的输入没有 [MASK]；保留一些真实词元作为目标，让模型为每个词元都学好表示，而不只是 [MASK]。"))),
        Step("nsp", T("Next-sentence prediction", "下一句预测"), T(
            "BERT also read **pairs** of sentences, `[CLS] A [SEP] B [SEP]`, with segment embeddings 0 and 1, and "
            "learned to tell whether B really followed A (the `[CLS]` vector feeds this classifier). Later work "
            "(RoBERTa) found this objective unnecessary. The table shows how the pair below is encoded.",
            "BERT 还读**句子对** `[CLS] A [SEP] B [SEP]`，段落嵌入为 0 和 1，并学习判断 B 是否真的接在 A 之后"
            "（`[CLS]` 的向量送入这个分类器）。后来的研究（RoBERTa）发现这个目标并非必要。表格显示下面这对句子如何编码。"),
            "nsp",
            _q(T("Which token's vector does BERT use to classify a sentence pair?", "BERT 用哪个词元的向量给句子对分类？"),
               [T("[CLS]", "[CLS]"), T("The last [SEP]", "最后一个 [SEP]"), T("The average of all tokens", "所有词元的平均")], 0,
               T("The [CLS] vector, through the pooler (a dense layer with tanh), feeds the pre-training and fine-tuning classifiers.",
                 "[CLS] 向量经过池化层（带 tanh 的全连接层）送入预训练和微调的分类器。"))),
        Step("encdec", T("Encoder-decoder: T5 and BART", "编码器-解码器：T5 与 BART"), T(
            "The third family has both halves. An **encoder** reads the source in both directions (like BERT); a "
            "**decoder** writes the target left to right (a causal mask, like GPT-2) and, in every layer, looks at the "
            "encoder's output through **cross-attention**: one row per target token, one column per source token. "
            "T5 is pre-trained by *span corruption* — spans of the input become sentinels `<extra_id_0>`, "
            "`<extra_id_1>`, … and the decoder writes the missing spans — and BART by rewriting a corrupted input. "
            "With an encoder-decoder loaded (t5-small, facebook/bart-base), the three maps below are read from its "
            "own attention weights for your sentence (a `[MASK]` becomes its sentinel or mask token); the target so "
            "far is the decoder's input.",
            "第三类模型两半都有。**编码器**双向读取源文本（像 BERT）；**解码器**从左到右写出目标（因果掩码，像 GPT-2），"
            "并在每一层通过**交叉注意力**查看编码器的输出：每个目标词元一行，每个源词元一列。T5 用*片段破坏*预训练——"
            "输入中的片段被替换成哨兵 `<extra_id_0>`、`<extra_id_1>`……由解码器写出缺失的片段——BART 则是改写被破坏的输入。"
            "加载编码器-解码器模型（t5-small、facebook/bart-base）后，下面三张图读自它对你的句子的注意力权重"
            "（`[MASK]` 会换成它的哨兵或掩码词元）；已写出的目标是解码器的输入。"), "encdec",
            _q(T("In cross-attention, what does a target token attend to?", "在交叉注意力中，目标词元关注什么？"),
               [T("The source tokens, as the encoder left them", "源词元（编码器的输出）"),
                T("The target tokens written so far", "已经写出的目标词元"), T("Both at once", "两者同时")], 0,
               T("Cross-attention takes its queries from the decoder and its keys and values from the encoder's output; "
                 "the target so far is read by the decoder's own (causal) self-attention.",
                 "交叉注意力的查询来自解码器，键和值来自编码器的输出；已写出的目标由解码器自己的（因果）自注意力读取。"))),
        Step("generate", T("Generating text, one token at a time", "逐个词元生成文本"), T(
            "A causal LM writes by predicting a distribution over its whole vocabulary for the next token, choosing "
            "one, appending it and predicting again. **Greedy** decoding always takes the most likely token; "
            "**sampling** draws one at random. The **temperature** T divides the scores (logits) before the "
            "softmax, and **top-k** / **top-p** cut off the unlikely tail. A masked LM has the same kind of "
            "distribution at its `[MASK]`, but it does not write left to right. The Generation page does this "
            "step by step.",
            "因果语言模型这样写作：预测下一个词元在整个词表上的分布，选一个，接到末尾，再预测下一个。**贪心**解码总是取"
            "最可能的词元；**采样**则随机抽一个。在 softmax 之前，分数（logits）先除以**温度** T；**top-k** / **top-p** "
            "截掉不太可能的长尾。掩码语言模型在 `[MASK]` 处也有同样的分布，但它不从左到右写作。“生成”页面会一步一步演示。"),
            "generation",
            _q(T("What happens to the distribution at temperature 2?", "温度为 2 时，分布会怎样变化？"),
               [T("It gets flatter: unlikely tokens gain probability", "变得更平：不太可能的词元获得更多概率"),
                T("It gets sharper: the top token gains probability", "变得更尖：最可能的词元获得更多概率"),
                T("Nothing changes", "没有变化")], 0,
               T("softmax(z / T) with T > 1 shrinks the differences between the scores, so the probability spreads over "
                 "more tokens and the entropy rises; T < 1 sharpens it, and T → 0 is greedy decoding.",
                 "T > 1 时 softmax(z / T) 缩小了分数之间的差距，概率分散到更多词元上，熵升高；T < 1 让分布更尖，"
                 "T → 0 就是贪心解码。"))),
    ),
    (
        (T("masked language model (MLM)", "掩码语言模型 (MLM)"), T("Predicts hidden tokens from both sides (BERT).", "从两侧预测被遮住的词元（BERT）。")),
        (T("encoder-decoder", "编码器-解码器"), T("An encoder reads the source, a decoder writes the target and reads the source through cross-attention (T5, BART).", "编码器读取源文本，解码器写出目标并通过交叉注意力读取源文本（T5、BART）。")),
        (T("cross-attention", "交叉注意力"), T("Attention whose queries are target tokens and whose keys and values are the encoder's outputs.", "查询是目标词元、键和值是编码器输出的注意力。")),
        (T("causal / autoregressive LM", "因果 / 自回归语言模型"), T("Predicts each next token from the tokens before it (GPT-2).", "根据前面的词元预测下一个词元（GPT-2）。")),
        (T("causal mask", "因果掩码"), T("Sets scores of future tokens to −∞ so their attention weight is 0.", "把未来词元的分数设为 −∞，使其注意力权重为 0。")),
        (T("next-sentence prediction (NSP)", "下一句预测 (NSP)"), T("BERT's second objective: does sentence B follow sentence A?", "BERT 的第二个目标：句子 B 是否接在句子 A 之后？")),
        (T("temperature", "温度"), T("Logits are divided by T before the softmax: T > 1 flattens the distribution, T < 1 sharpens it.", "softmax 之前把 logits 除以 T：T > 1 让分布变平，T < 1 让它变尖。")),
        (T("top-k / top-p sampling", "top-k / top-p 采样"), T("Draw only from the k most likely tokens / from the smallest set whose probability reaches p (nucleus).", "只从最可能的 k 个词元中抽取 / 只从概率之和达到 p 的最小集合（核）中抽取。")),
    ),
    "The cat sat on the [MASK] because it was tired.",
)

LESSON_5 = Lesson(
    5, "transfer", T("Fine-tuning and transfer", "微调与迁移学习"),
    T("Train a classifier in seconds on top of a frozen pretrained encoder, then explain it on the other pages.",
      "在冻结的预训练编码器之上几秒钟训练一个分类器，再到其他页面解释它。"),
    (
        Step("data", T("A handful of labelled sentences", "少量带标签的句子"), T(
            "Pretraining gave the encoder general knowledge of language. **Transfer learning** reuses it: we keep "
            "the encoder **frozen** and train only a small **head** on top. Edit the examples (one per line, "
            "`label<TAB>sentence` or `label: sentence`); 40 sentiment sentences ship with the app.",
            "预训练让编码器获得了通用的语言知识。**迁移学习**就是重用它：编码器保持**冻结**，只在上面训练一个小的**分类头**。"
            "编辑下面的样例（每行一条，`标签<TAB>句子` 或 `标签: 句子`）；应用自带 40 条情感句子。"), "data",
            _q(T("With only 40 examples, will a classifier on a frozen encoder be better than chance on new sentences?",
                 "只有 40 个样例，冻结编码器上的分类器在新句子上会比随机猜测好吗？"),
               [T("No, 40 examples are far too few", "不会，40 个太少了"), T("Yes, clearly", "会，明显更好")], 1,
               T("The held-out accuracy in the next step is measured on sentences the head never saw.",
                 "下一步的留出准确率是在分类头从未见过的句子上测得的。"))),
        Step("train", T("Train the head", "训练分类头"), T(
            "Each sentence is encoded once by the frozen model. A new linear layer (logistic regression) is fitted "
            "on those vectors — the shared model itself is never changed. BERT's classifier reads the **pooler** "
            "output (tanh of a dense layer on `[CLS]`), so we train on exactly that; we also report what a head on "
            "**mean-pooled** vectors (how MiniLM was trained) would score, measured by 5-fold cross-validation.",
            "每个句子由冻结的模型编码一次。在这些向量上拟合一个新的线性层（逻辑回归）——共享的模型本身从不改变。"
            "BERT 的分类器读取**池化层**输出（`[CLS]` 上全连接层再取 tanh），所以我们正是在它上面训练；同时给出在"
            "**平均池化**向量（MiniLM 训练时用的方式）上训练的分类头的成绩，用 5 折交叉验证测量。"), "train",
            _q(T("Training accuracy will be near 100%. Does that prove the classifier is good?", "训练准确率会接近 100%。这能证明分类器好吗？"),
               [T("Yes", "能"), T("No: only held-out accuracy tells", "不能：只有留出准确率才说明问题")], 1,
               T("With 384 features and 40 examples a linear head can fit almost anything; look at the cross-validated accuracy.",
                 "384 个特征、40 个样例，线性分类头几乎能拟合任何东西；要看交叉验证的准确率。"))),
        Step("use", T("A real classifier", "一个真正的分类器"), T(
            "Try the classifier on your own sentence, then save it: the folder is a standard "
            "`BertForSequenceClassification` (the encoder's weights, its pooler and your head). Switch the app to it "
            "and the Attribution, Masking and Compare pages explain *your* classifier.",
            "用你自己的句子试试这个分类器，然后保存：保存的文件夹是标准的 `BertForSequenceClassification`（编码器的权重、"
            "池化层和你的分类头）。把应用切换到它，归因、遮蔽和对比页面就会解释*你的*分类器。"), "use",
            _q(T("Will the saved folder, loaded as a normal model, give the same probabilities as the head here?",
                 "保存的文件夹作为普通模型加载后，给出的概率会与这里的分类头相同吗？"),
               [T("Yes, exactly", "会，完全相同"), T("Only roughly", "只是大致相同")], 0,
               T("It contains the very same weights and computes the same pooler → linear → softmax; the app checks it.",
                 "它包含完全相同的权重，计算同样的 池化层 → 线性层 → softmax；应用会检查这一点。"))),
    ),
    (
        (T("transfer learning", "迁移学习"), T("Reusing a model trained on one task (language modelling) for another.", "把在一个任务（语言建模）上训练的模型用于另一个任务。")),
        (T("frozen encoder", "冻结的编码器"), T("Its weights are not updated; only the new head learns.", "其权重不更新；只有新的分类头学习。")),
        (T("classification head", "分类头"), T("A small layer mapping the sentence vector to class scores.", "把句子向量映射成类别分数的小网络层。")),
        (T("pooler", "池化层 (pooler)"), T("BERT's tanh(dense([CLS])) layer whose output the classifier reads.", "BERT 的 tanh(dense([CLS])) 层，分类器读取其输出。")),
        (T("cross-validation", "交叉验证"), T("Each example is predicted by a model trained without it.", "每个样例都由没见过它的模型来预测。")),
    ),
    "A lovely, funny film with a clever plot.",
)

LESSON_6 = Lesson(
    6, "explanation", T("Is attention an explanation?", "注意力是一种解释吗？"),
    T("Put attention weights next to an attribution method on the same sentence and compare.",
      "在同一个句子上把注意力权重与归因方法并排比较。"),
    (
        Step("compare", T("Attention next to attribution", "注意力与归因并排"), T(
            "Attention tells where a head *looked*; **attribution** asks how much each input token *changed the "
            "output*. Below: the attention the `[CLS]` position receives in the last layer (heads averaged), "
            "attention rollout through all layers, and an attribution method on the same sentence. The rank "
            "correlation says how far they agree.",
            "注意力说明一个头*看向*哪里；**归因**问每个输入词元*改变输出*多少。下面是：最后一层中 `[CLS]` 位置给出的"
            "注意力（各头平均）、贯穿所有层的注意力汇聚（rollout），以及同一句子上的一种归因方法。秩相关系数说明它们有多一致。"),
            "attention_vs_attribution",
            _q(T("Will the most-attended token also be the most important one by attribution?", "被关注最多的词元，也会是归因最重要的词元吗？"),
               [T("Always", "总是"), T("Often not", "经常不是")], 1,
               T("Jain & Wallace (2019) found attention often disagrees with gradient and leave-one-out importance; "
                 "Wiegreffe & Pinter (2019) argue it can still be one explanation among several. Check the correlation.",
                 "Jain 与 Wallace（2019）发现注意力常与梯度和留一法的重要性不一致；Wiegreffe 与 Pinter（2019）认为它仍可以是"
                 "多种解释之一。看看相关系数。"))),
        Step("discuss", T("What would count as an explanation?", "什么才算解释？"), T(
            "An explanation should be **faithful** (reflect what the model really used) and **plausible** (make "
            "sense to people). Attention is plausible-looking but one head among many, followed by value vectors "
            "and feed-forward layers; attributions test the whole model. Try a sentence where one word flips the "
            "meaning (“not”), and see which view picks it out.",
            "解释应当**忠实**（反映模型真正用到的信息）且**可信**（人能理解）。注意力看起来可信，但它只是众多头中的一个，"
            "之后还有值向量和前馈层；归因检验的是整个模型。试一个由一个词（“not”）翻转意思的句子，看哪种视图能把它找出来。"),
            "attention_vs_attribution",
            _q(T("Which is the stronger test that a token mattered?", "哪一个更能证明某个词元重要？"),
               [T("A high attention weight on it", "它得到很高的注意力权重"), T("The output changes when it is removed", "去掉它后输出发生变化")], 1,
               T("Removing or perturbing the token and watching the output is a causal test; a weight is not.",
                 "去掉或扰动词元并观察输出是因果检验；一个权重不是。"))),
    ),
    (
        (T("attribution", "归因"), T("A score per input token for how much it contributed to the output.", "为每个输入词元打分，表示它对输出贡献多少。")),
        (T("occlusion / leave-one-out", "遮挡 / 留一法"), T("Mask one token at a time and measure how the output changes.", "一次遮住一个词元，测量输出变化。")),
        (T("attention rollout", "注意力汇聚 (rollout)"), T("Multiplies head-averaged attention (plus the residual) through the layers.", "把各头平均的注意力（加上残差）逐层相乘。")),
        (T("faithfulness", "忠实性"), T("Whether an explanation reflects the model's actual computation.", "解释是否反映模型的真实计算。")),
        (T("Spearman correlation", "斯皮尔曼相关"), T("Correlation of ranks: 1 = same order, 0 = unrelated, −1 = reversed.", "秩的相关：1 = 顺序相同，0 = 无关，−1 = 相反。")),
    ),
    "The film was not good at all.",
)

LESSON_7 = Lesson(
    7, "bias", T("A guided bias probe", "有引导的偏见探测"),
    T("Fill templates with occupations and measure what the model associates with gender.",
      "用职业填充模板，测量模型把什么与性别联系在一起。"),
    (
        Step("probe", T("Templates and occupations", "模板与职业"), T(
            "A **template probe** keeps the sentence fixed and changes one slot. For each occupation we compare the "
            "model's association with *he/man* versus *she/woman*: for a masked LM, the probability of “he” versus "
            "“she” at `[MASK]` in “[MASK] is a nurse.”; for a sentence encoder, the cosine similarity of “The nurse "
            "is here.” with “He is here.” minus with “She is here.”. Positive bars lean male, negative lean female.",
            "**模板探测**固定句子，只换一个槽位。对每个职业，我们比较模型与 *he/man* 和 *she/woman* 的关联：对掩码语言模型，"
            "比较 “[MASK] is a nurse.” 中 `[MASK]` 处 “he” 与 “she” 的概率；对句子编码器，比较 “The nurse is here.” 与 "
            "“He is here.” 的余弦相似度减去与 “She is here.” 的相似度。正值偏男性，负值偏女性。"), "bias_probe",
            _q(T("Which way will “nurse” lean in a model trained on web text?", "在网络文本上训练的模型里，“nurse” 会偏向哪边？"),
               [T("Towards she/woman", "偏向 she/woman"), T("Towards he/man", "偏向 he/man"), T("Neither", "都不偏")], 0,
               T("Models absorb the statistics of their training text, including occupational stereotypes. Look at the bars for the "
                 "actual value in this model (a random tiny model shows noise).",
                 "模型会吸收训练文本的统计规律，包括职业刻板印象。看柱状图中这个模型的实际数值（随机的小模型只显示噪声）。"))),
        Step("caveats", T("What a probe can and cannot show", "探测能说明什么、不能说明什么"), T(
            "One template is fragile: change “is here” to “works late” and the numbers move. Good probes average "
            "many templates, report the spread, and test whether the bias shows up in a downstream task. A score "
            "near zero on one template does **not** show a model is fair.",
            "单个模板很脆弱：把 “is here” 换成 “works late”，数值就会变。好的探测会平均许多模板、报告离散程度，并检验偏见是否"
            "出现在下游任务中。一个模板上接近零的分数**不**能说明模型公平。"), "bias_probe",
            _q(T("A model scores 0.00 on one template. Is it unbiased?", "某个模型在一个模板上得分 0.00。它就没有偏见吗？"),
               [T("Yes", "是"), T("Not shown: try more templates", "不能说明：多试几个模板")], 1,
               T("Absence of evidence on one template is not evidence of absence; compare the templates in the chart.",
                 "一个模板上没有证据不等于没有偏见；对比图中的多个模板。"))),
    ),
    (
        (T("template probe", "模板探测"), T("A fixed sentence with a slot filled by different words.", "一个固定句子，其中一个槽位换成不同的词。")),
        (T("stereotype", "刻板印象"), T("An over-generalised belief about a group, often present in training text.", "对某个群体过度概括的看法，常见于训练文本中。")),
        (T("association score", "关联分数"), T("Here: similarity or probability for he/man minus for she/woman.", "这里指：与 he/man 的相似度或概率减去与 she/woman 的。")),
    ),
    "nurse, engineer, teacher, doctor, secretary, programmer",
)

LESSONS: tuple[Lesson, ...] = (LESSON_1, LESSON_2, LESSON_3, LESSON_4, LESSON_5, LESSON_6, LESSON_7)
VIEWS = frozenset(step.view for lesson in LESSONS for step in lesson.steps)


def get_lesson(number: int) -> Lesson:
    """Lesson 1…7 (clamped into range, so a hand-edited link still opens a lesson)."""
    return LESSONS[min(max(int(number), 1), len(LESSONS)) - 1]
