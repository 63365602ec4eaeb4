"""MicroAlbert's own tokenizer: a WordPiece vocabulary learned from the training text, and batch encoding.

Lower-cased, accents stripped, BERT's pre-tokenisation (words and punctuation apart: "!" carries arousal),
`[CLS] … [SEP]` around each text, truncated to the model's `max_tokens`. Encoding is the `tokenizers`
library's WordPiece (greedy longest match, "##" continuations); the tokenizer is saved as one
tokenizer.json beside the weights, and the ONNX graph takes the ids it produces, so a deployment ships both.

The vocabulary is chosen here, not by the library's trainer, whose ties between equally frequent merges
fall by hash order and differ from run to run (a resumed run must see the ids the interrupted one saw):
the special tokens, every character seen (alone and as a "##" continuation), then the most frequent whole
words and the most frequent word beginnings and "##" endings (2–5 characters, counted over the words that
hold them), each list ordered by count and then alphabetically.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")  # ids 0..3; [PAD] = 0 is the embedding's padding index
TOKENIZER_FILE = "tokenizer.json"


WORD_SHARE = 0.6  # of the vocabulary left after the characters: whole words; the rest word pieces


def _vocabulary(counts: Counter, vocab_size: int) -> list[str]:
    """The token list (id order) for word counts: specials, characters, frequent words, frequent pieces."""
    chars = sorted({c for word in counts for c in word})
    vocab = dict.fromkeys([*SPECIAL, *chars, *(f"##{c}" for c in chars)])
    room = vocab_size - len(vocab)
    if room < 0:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the {len(vocab)} special and character tokens")
    by_count = sorted(counts, key=lambda w: (-counts[w], w))
    for word in by_count:
        if len(vocab) >= len(SPECIAL) + 2 * len(chars) + int(room * WORD_SHARE):
            break
        vocab.setdefault(word)
    pieces: Counter = Counter()
    for word, n in counts.items():
        for k in range(2, min(6, len(word))):
            pieces[word[:k]] += n
            pieces[f"##{word[-k:]}"] += n
    for piece in sorted(pieces, key=lambda p: (-pieces[p], p)):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault(piece)
    return list(vocab)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A WordPiece tokenizer of at most `vocab_size` entries learned from `texts`; the same texts give the same
    tokenizer in every process."""
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    pre = pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = _vocabulary(counts, vocab_size)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer, tok.decoder = normalizer, pre, decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls),
                                                                                                ("[SEP]", sep)])
    return tok


def load_tokenizer(model_dir: str | Path) -> Tokenizer:
    """The tokenizer.json of a model folder (or the file itself)."""
    path = Path(model_dir)
    path = path / TOKENIZER_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no MicroAlbert tokenizer (tokenizer.json) there")
    return Tokenizer.from_file(str(path))


def token_rows(tok: Tokenizer, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    """The ids of each text, at most `max_tokens`; truncation keeps [CLS] and [SEP]."""
    rows = [enc.ids for enc in tok.encode_batch(list(texts))]
    return [ids[:max_tokens - 1] + ids[-1:] if len(ids) > max_tokens else ids for ids in rows]


def encode(tok: Tokenizer, texts: Sequence[str], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, mask), each (B, L) int64, L = the longest encoding in the batch (≤ max_tokens; token_rows)."""
    rows = token_rows(tok, texts, max_tokens)
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = r, 1
    return ids, mask
