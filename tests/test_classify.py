"""gptlab.finetune.classify: splits by work, passages, classifier, freezing, training, metrics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gptlab import data
from gptlab.finetune import classify as C
from gptlab.model import GPT, GPTConfig


def tiny_gpt(seed: int = 0, vocab_size: int = 40, block_size: int = 16) -> GPT:
    torch.manual_seed(seed)
    return GPT(
        GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=16)
    )


class ByteTokenizer:
    """A stand-in tokenizer: one id per byte (fast, needs no training)."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Splits and passages
# --------------------------------------------------------------------------------------------


def test_every_work_is_in_exactly_one_split_and_test_is_held_out_from_pretraining():
    split = C.split_works()
    seen = [slug for slugs in split.values() for slug in slugs]
    assert sorted(seen) == sorted(w.slug for w in data.WORKS)  # each work once, none missing
    assert set(split["test"]) == set(data.VAL_WORKS)
    genre = {w.slug: w.genre for w in data.WORKS}
    for name in ("train", "val", "test"):  # every genre is represented in every split
        assert {genre[s] for s in split[name]} == set(data.GENRES), name
    assert C.split_works() == split  # deterministic
    assert C.split_works(seed=1) != split and C.split_works(seed=1)["test"] == split["test"]


def test_genre_passages_never_share_a_work_and_labels_match_the_table():
    tok = ByteTokenizer()
    genre = {w.slug: w.genre for w in data.WORKS}
    sets = {s: C.genre_passages(s, tok, length=32, max_per_work=5) for s in C.SPLITS}
    works = {s: set(d.works) for s, d in sets.items()}
    assert not works["train"] & works["val"] and not works["train"] & works["test"]
    assert not works["val"] & works["test"]
    assert works["test"] == set(data.VAL_WORKS)
    for d in sets.values():
        assert d.ids.shape == (len(d), 32) and d.labels.shape == (len(d),)
        assert d.ids.dtype == torch.long and d.labels.dtype == torch.long
        assert d.classes == data.GENRES
        assert all(
            data.GENRES[y] == genre[w] for y, w in zip(d.labels.tolist(), d.works, strict=True)
        )
        assert int(d.counts().sum()) == len(d)


def test_windows_are_non_overlapping_and_evenly_thinned():
    w = C.windows(list(range(23)), 5)
    assert torch.equal(w, torch.arange(20).view(4, 5))  # the 3-token tail is dropped
    thin = C.windows(list(range(100)), 5, max_windows=3)  # 20 windows -> first, middle, last
    assert torch.equal(thin[:, 0], torch.tensor([0, 50, 95]))


def test_short_texts_and_unknown_splits_are_clear_errors():
    with pytest.raises(
        ValueError, match=r"'b' has only 3 tokens, shorter than the requested passage length 4"
    ):
        C.windows(ByteTokenizer().encode("abc"), 4, name="work 'b'")
    with pytest.raises(ValueError, match="split must be one of"):
        C.genre_passages("dev", ByteTokenizer())


# --------------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------------


def test_shapes_features_and_loss_equal_cross_entropy():
    gpt = tiny_gpt().eval()
    clf = C.GPTClassifier(gpt, 4).eval()
    idx = torch.randint(40, (3, 10))
    labels = torch.tensor([0, 3, 1])
    logits, loss = clf(idx, labels)
    assert logits.shape == (3, 4) and loss.shape == ()
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    assert clf(idx)[1] is None
    # the features are GPT's final hidden state (after ln_f) at the last position
    hidden: dict = {}
    gpt.ln_f.register_forward_hook(
        lambda m, i, o: hidden.update(h=o)
    )  # returns None: output unchanged
    gpt(idx)
    last = hidden["h"][:, -1, :]  # (B, C)
    torch.testing.assert_close(clf.features(idx), last)
    torch.testing.assert_close(logits, clf.head(last))


def test_class_weights_enter_the_loss_as_in_cross_entropy():
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    w = C.class_weights(labels, 3)
    torch.testing.assert_close(w, torch.tensor([6 / 9, 6 / 3, 6 / 6]))
    clf = C.GPTClassifier(tiny_gpt(), 3, class_weights=w).eval()
    idx = torch.randint(40, (6, 8))
    logits, loss = clf(idx, labels)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels, weight=w))
    with pytest.raises(ValueError, match="no examples"):
        C.class_weights(torch.tensor([0, 0]), 2)


def test_balanced_probabilities_give_each_class_equal_mass():
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    p = C.balanced_probabilities(labels)
    assert p.sum().item() == pytest.approx(1.0)
    for k in range(3):
        assert p[labels == k].sum().item() == pytest.approx(1 / 3)


def test_bad_labels_name_the_label_and_the_valid_set():
    clf = C.GPTClassifier(tiny_gpt(), 4, classes=data.GENRES)
    idx = torch.randint(40, (2, 5))
    with pytest.raises(ValueError, match=r"label 4 is not in the label set.*0\.\.3.*3: poem"):
        clf(idx, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="label -1"):
        clf(idx, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="integer"):
        clf(idx, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="longer than block_size"):
        clf(torch.randint(40, (2, 17)))
    with pytest.raises(ValueError, match="n_classes"):
        C.GPTClassifier(tiny_gpt(), 1)


# --------------------------------------------------------------------------------------------
# Freezing
# --------------------------------------------------------------------------------------------


def _trainable_names(clf) -> set[str]:
    return {name for name, p in clf.named_parameters() if p.requires_grad}


def test_freezing_modes_train_exactly_the_expected_parameters():
    clf = C.GPTClassifier(tiny_gpt(), 4)
    every = {name for name, _ in clf.named_parameters()}
    head = {"head.weight", "head.bias"}
    last = {n for n in every if n.startswith(("gpt.h.1.", "gpt.ln_f."))}
    assert len(last) == 14  # 2 LayerNorms x 2 + attention 2 x 2 + MLP 2 x 2 in h.1, ln_f x 2

    n = C.set_trainable(clf, "head")
    assert _trainable_names(clf) == head and n == 16 * 4 + 4
    n = C.set_trainable(clf, "last_block")
    assert _trainable_names(clf) == head | last
    assert n == 16 * 4 + 4 + sum(p.numel() for p in clf.gpt.h[1].parameters()) + 2 * 16
    n = C.set_trainable(clf, "full")
    assert _trainable_names(clf) == every and n == sum(p.numel() for p in clf.parameters())
    assert C.set_trainable(clf, "head") == 68  # going back to a smaller mode refreezes
    with pytest.raises(ValueError, match="mode must be one of head, last_block, full"):
        C.set_trainable(clf, "all")


def test_fit_changes_only_trainable_parameters_and_learns_an_easy_task():
    # class = whether the last token is in the lower or upper half of the vocabulary
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(40, (256, 8), generator=g)
    labels = (ids[:, -1] >= 20).long()
    clf = C.GPTClassifier(tiny_gpt(), 2)
    C.set_trainable(clf, "last_block")
    before = {n: p.detach().clone() for n, p in clf.named_parameters()}
    result = C.fit(
        clf,
        (ids, labels),
        (ids, labels),
        steps=40,
        lr=3e-3,
        batch_size=32,
        generator=torch.Generator().manual_seed(1),
        balanced=True,
        eval_every=20,
    )
    for name, p in clf.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == p.requires_grad, name
    assert len(result.history) == 40 and result.train_s > 0 and result.steps == 40
    assert (
        "val_accuracy" in result.history[19]
        and result.history[-1]["val_accuracy"] == result.val_accuracy
    )
    assert result.trainable == C.count_trainable(clf)
    assert result.val_accuracy > 0.75  # chance is about 0.5; measured 0.86
    assert result.history[0]["lr"] < result.history[6]["lr"]  # warmup
    assert result.history[-1]["lr"] < result.history[10]["lr"]  # decay


def test_fit_errors():
    clf = C.GPTClassifier(tiny_gpt(), 2)
    empty = (torch.zeros(0, 8, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="training set is empty"):
        C.fit(clf, empty, steps=1)
    ids = torch.randint(40, (4, 8))
    with pytest.raises(ValueError, match="label 2 is not in the label set"):
        C.fit(clf, (ids, torch.tensor([0, 1, 2, 0])), steps=1)
    for p in clf.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        C.fit(clf, (ids, torch.tensor([0, 1, 1, 0])), steps=1)
    clf.head.requires_grad_(True)
    with pytest.raises(ValueError, match="larger than the 4 passages"):
        C.fit(clf, (ids, torch.tensor([0, 1, 1, 0])), steps=1, batch_size=5)
    with pytest.raises(ValueError, match="steps must be a positive whole number"):
        C.fit(clf, (ids, torch.tensor([0, 1, 1, 0])), steps=0, batch_size=2)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        C.fit(clf, (ids, torch.tensor([0, 1, 1, 0])), steps=1, batch_size=2, lr=-1.0)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def test_accuracy_and_confusion_matrix_on_a_known_example():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3])
    preds = torch.tensor([0, 1, 1, 1, 2, 2, 3, 0])
    assert C.accuracy(preds, labels) == pytest.approx(5 / 8)
    cm = C.confusion_matrix(preds, labels, 4)
    expected = torch.tensor(
        [
            [1, 1, 0, 0],  # row: true class, column: predicted class
            [0, 2, 1, 0],
            [0, 0, 1, 0],
            [1, 0, 0, 1],
        ]
    )
    assert torch.equal(cm, expected)
    assert int(cm.trace()) == 5 and int(cm.sum()) == 8
    assert C.majority_baseline(labels) == pytest.approx(3 / 8)  # always class 1
    assert C.majority_baseline(labels, train_labels=torch.tensor([3, 3, 0])) == pytest.approx(2 / 8)
    with pytest.raises(ValueError, match="empty dataset"):
        C.accuracy(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match="label 4 is not in the label set"):
        C.confusion_matrix(preds, torch.tensor([0, 0, 1, 1, 1, 2, 3, 4]), 4)
    with pytest.raises(ValueError, match="must both be"):
        C.accuracy(preds, labels[:3])


def test_predict_matches_the_argmax_of_the_logits():
    clf = C.GPTClassifier(tiny_gpt(), 4)
    ids = torch.randint(40, (10, 6))
    preds = C.predict(clf, ids, batch_size=3)
    assert torch.equal(preds, clf(ids)[0].argmax(-1))
    assert clf.training  # predict restores the mode
