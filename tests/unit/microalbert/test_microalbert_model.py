"""MicroAlbert's architecture and tokenizer: ALBERT's savings, the budget, masking, encoding."""

import numpy as np
import torch

from talkhead.models.microalbert import (MAX_PARAMETERS, MICROALBERT_SIZES, MicroAlbert, MicroAlbertSpec,
                                         parameter_count)
from talkhead.models.microalbert_tokenizer import encode, train_tokenizer

TEXTS = ["I am so happy to see you!", "Please help me.", "Do it now, that is an order.", "Calm down."] * 5


def test_every_size_fits_the_budget_and_depth_shares_one_layer():
    for name, spec in MICROALBERT_SIZES.items():
        assert parameter_count(MicroAlbert(spec, 8000)) <= MAX_PARAMETERS, name
    spec = MICROALBERT_SIZES["small"]
    deeper = MicroAlbertSpec(**{**spec.to_dict(), "layers": spec.layers * 3})
    assert parameter_count(MicroAlbert(deeper, 1000)) == parameter_count(MicroAlbert(spec, 1000))  # cross-layer sharing
    # factorised embeddings: the vocabulary costs E per token, not H
    assert parameter_count(MicroAlbert(spec, 2000)) - parameter_count(MicroAlbert(spec, 1000)) == 1000 * spec.embed
    with_head = MicroAlbert(spec, 1000, teacher_dim=384)  # the training-only head is not part of the student
    assert parameter_count(with_head) == parameter_count(MicroAlbert(spec, 1000))


def test_padding_does_not_change_a_sentence_and_outputs_are_in_range():
    tok = train_tokenizer(TEXTS, 200)
    torch.manual_seed(0)
    model = MicroAlbert(MICROALBERT_SIZES["tiny"], tok.get_vocab_size()).eval()
    ids, mask = encode(tok, TEXTS[:4], 64)
    assert ids.shape[0] == 4 and (mask.sum(1) == [len(tok.encode(t).ids) for t in TEXTS[:4]]).all()
    with torch.no_grad():
        batch = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        alone = np.concatenate([model(*map(torch.from_numpy, encode(tok, [t], 64))).numpy() for t in TEXTS[:4]])
    assert batch.shape == (4, 3) and ((batch > 0) & (batch < 1)).all()
    np.testing.assert_allclose(batch, alone, atol=1e-5)


def test_tokenizer_keeps_cls_and_sep_when_truncating():
    tok = train_tokenizer(TEXTS, 200)
    ids, mask = encode(tok, ["please " * 100], 16)
    assert ids.shape == (1, 16) and mask.all()
    assert ids[0, 0] == tok.token_to_id("[CLS]") and ids[0, -1] == tok.token_to_id("[SEP]")
    assert tok.encode("hello!").tokens[-2] == "!"  # punctuation is a token of its own
