"""The distillation corpus: real sentences from installed packages, augmentation, splits by the real sentence."""

from talkhead.data.text_corpus import build_corpus, clean_lines, split_of


def test_corpus_is_deterministic_and_splits_by_the_real_sentence(tmp_path):
    extra = tmp_path / "mine.txt"
    extra.write_text("I cannot believe we finally made it home.\nx\n", encoding="utf-8")
    a = build_corpus([str(extra)], 2, 50, 0.1, 0.1, seed=3, lexicon_words=False)
    b = build_corpus([str(extra)], 2, 50, 0.1, 0.1, seed=3, lexicon_words=False)
    assert a.equals(b)
    assert {"chatterbot", "demo", "file", "augmented", "template"} <= set(a["source"])
    assert (a["source"] == "file").sum() == 1  # the one-word line is dropped
    assert a["text"].str.lower().is_unique
    real = a[a["source"].isin(["chatterbot", "demo", "file"])]
    assert (real["base"] == real["text"]).all() and len(real) > 1000
    split_of_base = dict(zip(real["text"], real["split"]))
    variants = a[a["source"] == "augmented"]
    assert (variants["split"] == variants["base"].map(split_of_base)).all()  # a held-out sentence's variants too
    assert set(a["split"]) == {"train", "val", "test"}
    with_words = build_corpus([], 0, 0, 0.1, 0.1, seed=3)
    assert (with_words["source"] == "lexicon").sum() > 5000


def test_clean_lines_drops_code_and_duplicates():
    lines = ["Hello there, friend.", "hello there, friend.", "```python\nprint(1)\n```", "x = {1: 2}", "Hi",
             "  Spaces   collapse here  "]
    assert clean_lines(lines) == ["Hello there, friend.", "Spaces collapse here"]


def test_split_is_stable_and_near_its_fractions():
    splits = [split_of(f"sentence {i}", 0.1, 0.2) for i in range(4000)]
    assert splits == [split_of(f"sentence {i}", 0.1, 0.2) for i in range(4000)]
    assert abs(splits.count("test") / 4000 - 0.2) < 0.03 and abs(splits.count("val") / 4000 - 0.1) < 0.03
