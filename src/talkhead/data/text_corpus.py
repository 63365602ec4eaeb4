"""The unlabeled text MicroAlbert is distilled on: real sentences, augmented variants, held-out splits.

Sources, all offline:
- `chatterbot`: the English conversation files of the `chatterbot-corpus` wheel (BSD-3-Clause): greetings,
  emotion, psychology, humour, small talk… one line per utterance (code blocks and one-word lines dropped);
- `demo`: the sentences the demo's speakers say (talkhead.demo.clips.SENTENCES);
- `file`: the user's own text files (params `microalbert.corpus_files`, one sentence per line), e.g. the
  transcripts of their clips.

A few thousand real lines teach a student little vocabulary, so the corpus is augmented the way TinyBERT
augments its distillation data (Jiao et al. 2020): each real sentence gets `augment_per_sentence` variants
(a word or two swapped for affect words, an intensifier or "not" inserted, the ending turned into "!" or
"?", an affect clause added), every word of VADER's lexicon is a row of its own (`lexicon_words`; its word
list only, the teacher labels everything), and `template_sentences` short affect sentences are built from
templates and those words. The split is by the
*real* sentence a row comes from (a stable hash), so a held-out sentence's variants are held out with it:
`source` says which rows are real, and the evaluation reports real and augmented held-out rows apart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

SPLITS = ("train", "val", "test")
MIN_WORDS, MAX_WORDS = 2, 40

_INTENSIFIERS = ("really", "very", "so", "extremely", "totally", "not", "never", "quite", "barely", "absolutely")
_OPENERS = ("Honestly,", "Oh no,", "Wow,", "Ugh,", "Well,", "Sadly,", "Thank goodness,", "Listen,", "Look,",
            "Please,", "Hey!", "Oh,", "Seriously,", "Unfortunately,", "Luckily,", "Right now,")
_CLAUSES = ("and I love it.", "and I hate it.", "and I am scared.", "that is an order!", "please help me.",
            "calm down.", "I am so tired.", "this is amazing!", "I can't take it anymore.", "do it now!",
            "it makes me sad.", "I feel great.", "nobody listens to me.", "I am in charge here.", "hurry up!",
            "it is so boring.", "what a relief.", "I am furious!", "I don't know what to do.", "we did it!")
_TEMPLATES = ("I am so {w}.", "This is {w}!", "That was {w}, honestly.", "You are {w}.", "Why are you so {w}?",
              "We feel {w} today.", "It is not {w}.", "Stop being so {w}!", "I have never felt this {w}.",
              "How {w}!", "Everyone here is {w}.", "Do not be {w}, please.", "I think it is {w} and {w2}.",
              "The whole day was {w}.", "She looked {w} when she saw it.", "He said it was {w}.",
              "What a {w} thing to say.", "I feel {w} and {w2}.", "Are we {w} now?", "My job makes me {w}.",
              "Thank you, that is {w}.", "Listen to me, this is {w}!", "They were {w}, and then {w2}.",
              "It sounds {w} to me.")


def chatterbot_lines() -> list[str]:
    """The English utterances of the chatterbot-corpus wheel (each conversation's lines, code dropped)."""
    import chatterbot_corpus

    root = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    lines = []
    for path in sorted(root.glob("*.yml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        for conversation in data.get("conversations") or []:
            lines += [s for s in conversation if isinstance(s, str)]
    return lines


def clean_lines(lines: Iterable[str]) -> list[str]:
    """One-line sentences of MIN_WORDS..MAX_WORDS words, whitespace collapsed, without code, deduplicated in order."""
    out, seen = [], set()
    for line in lines:
        if "```" in line or "\n" in line.strip() or re.search(r"[{}<>=_\\]|\(\)", line):
            continue
        text = " ".join(line.split())
        if not MIN_WORDS <= len(text.split()) <= MAX_WORDS or text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append(text)
    return out


def affect_words() -> list[str]:
    """The alphabetic words of VADER's lexicon (vaderSentiment's vader_lexicon.txt), ≥ 4 letters with a vowel."""
    import vaderSentiment

    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    words = [line.split("\t")[0] for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    return sorted({w for w in words if re.fullmatch(r"[a-z]{4,}", w) and re.search("[aeiouy]", w)})


def split_of(key: str, val_fraction: float, test_fraction: float) -> str:
    """train / val / test from a stable hash of `key` (a row's real sentence)."""
    u = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16) / float(1 << 48)
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def augment(text: str, words: list[str], rng: np.random.Generator) -> str:
    """One variant of `text`: a word swap, an inserted intensifier, a new ending, an opener or a clause."""
    tokens = text.split()
    op = int(rng.integers(5))
    if op == 0:  # swap one or two longer words for affect words
        slots = [i for i, t in enumerate(tokens) if re.fullmatch(r"[A-Za-z]{4,}[.,!?]?", t)] or [len(tokens) - 1]
        for i in rng.choice(slots, size=min(len(slots), int(rng.integers(1, 3))), replace=False):
            tail = tokens[i][-1] if tokens[i][-1] in ".,!?" else ""
            tokens[int(i)] = str(rng.choice(words)) + tail
    elif op == 1:  # an intensifier or a negation before a word
        tokens.insert(int(rng.integers(len(tokens))), str(rng.choice(_INTENSIFIERS)))
    elif op == 2:  # the ending
        tokens[-1] = tokens[-1].rstrip(".!?") + str(rng.choice(["!", "!!!", "?", "..."]))
    elif op == 3:
        tokens.insert(0, str(rng.choice(_OPENERS)))
    else:
        tokens.append(str(rng.choice(_CLAUSES)))
    return " ".join(tokens)


def template_sentence(words: list[str], rng: np.random.Generator) -> str:
    """A short affect sentence from a template and one or two lexicon words."""
    template = str(rng.choice(_TEMPLATES))
    return template.format(w=rng.choice(words), w2=rng.choice(words))


def build_corpus(extra_files: list[str], augment_per_sentence: int, template_sentences: int, val_fraction: float,
                 test_fraction: float, seed: int, lexicon_words: bool = True) -> pd.DataFrame:
    """Rows (text, source, base, split): source ∈ chatterbot, demo, file, augmented, lexicon, template; `base` is the
    real sentence a row derives from (itself for real rows), which decides the split. Deterministic for a seed."""
    from talkhead.demo.clips import SENTENCES

    real: list[tuple[str, str]] = [(t, "chatterbot") for t in clean_lines(chatterbot_lines())]
    real += [(t, "demo") for t in SENTENCES]
    for name in extra_files:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"microalbert.corpus_files: {path}: no such file")
        real += [(t, "file") for t in clean_lines(path.read_text(encoding="utf-8").splitlines())]
    seen, rows = set(), []
    for text, source in real:
        if text.lower() not in seen:
            seen.add(text.lower())
            rows.append((text, source, text))
    words = affect_words()
    rng = np.random.default_rng(seed)
    for text, _, _ in list(rows):
        for _ in range(augment_per_sentence):
            variant = augment(text, words, rng)
            if variant.lower() not in seen:
                seen.add(variant.lower())
                rows.append((variant, "augmented", text))
    for word in words if lexicon_words else []:  # each affect word alone: the student meets every word it may hear
        if word not in seen:
            seen.add(word)
            rows.append((word, "lexicon", word))
    for _ in range(template_sentences):
        sentence = template_sentence(words, rng)
        if sentence.lower() not in seen:
            seen.add(sentence.lower())
            rows.append((sentence, "template", sentence))
    table = pd.DataFrame(rows, columns=["text", "source", "base"])
    table["split"] = [split_of(b, val_fraction, test_fraction) for b in table["base"]]
    return table
