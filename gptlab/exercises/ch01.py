"""Chapter 01 (language models): perplexity, bits per char, add-k smoothing, bigram NLL (build)."""
# fmt: off

import math

import torch

from gptlab.exercises import Exercise


def perplexity_from_loss(loss):
    return math.exp(loss)  # the loss is a mean of -ln p: undo the natural logarithm
perplexity = Exercise(1, "perplexity", "recall", 3,
    "perplexity_from_loss(loss): the perplexity of a model whose mean loss is `loss` nats.",
    perplexity_from_loss, lambda: [(0.0,), (math.log(2),), (1.0,), (2.5084,), (math.log(84),)],
    hint_text="The loss is an average of -ln p. Undo the logarithm, in the same base.",
    mistakes=[(lambda loss: 2 ** loss, "the loss is in nats (natural log): use exp, not 2 **."),
        (lambda loss: loss, "that is the loss itself: perplexity is e raised to the loss."),
        (lambda loss: math.exp(-loss), "exp(-loss) is the mean probability (geometric mean); "
         "perplexity is its inverse, exp(loss), the number of equally likely choices.")])

def bits_per_char_from_tokens(loss_per_token, n_tokens, n_chars):
    total_nats = loss_per_token * n_tokens  # the loss of the whole text
    return total_nats / n_chars / math.log(2)  # per character, then nats -> bits
bits_per_char = Exercise(1, "bits_per_char", "apply", 5,
    "bits_per_char_from_tokens(loss_per_token, n_tokens, n_chars): a loss in nats per token, on "
    "a text of n_tokens tokens and n_chars characters, in bits per character.",
    bits_per_char_from_tokens, lambda: [(3.3, 1000, 3070), (4.0, 120, 480), (1.2, 7, 3)],
    forbidden=("gptlab.metrics.bits_per_char", "gptlab.metrics.per_char_loss",
               "gptlab.metrics.nats_to_bits"),  # the last two: also when imported by name
    hint_text="Find the total loss in nats, share it out over the characters, convert to bits.",
    mistakes=[(lambda loss, t, c: loss * t / c, "this is still in nats: divide by ln 2 for bits."),
        (lambda loss, t, c: loss * c / t / math.log(2), "you scaled by n_chars / n_tokens: the "
         "total loss is loss_per_token * n_tokens; share that out over n_chars characters."),
        (lambda loss, t, c: loss / math.log(2), "that is bits per token, not per char."),
        (lambda loss, t, c: loss * t / c * math.log(2), "one bit is ln 2 nats: divide by ln 2.")])

def add_k_probs(counts, k):
    counts = counts.double()
    return (counts + k) / (counts.sum() + k * len(counts))  # V counts each grew by k
add_k_smoothing = Exercise(1, "add_k_smoothing", "apply", 5,
    "add_k_probs(counts, k): add-k smoothed next-token probabilities from one row of bigram "
    "counts (a 1-D tensor of length V).",
    add_k_probs, lambda: [(torch.tensor(c), k) for c, k in [([5, 0, 3, 0, 12, 0], 1.0),
                          ([0, 0, 7, 1], 0.5), ([2, 2, 9], 0.01), ([0, 4, 0, 0, 0, 0, 0, 0], 2.0)]],
    hint_text="Add k to every count. The result must still sum to 1: how much did the total "
    "grow when you added k to V entries?",
    mistakes=[(lambda c, k: (c.double() + k) / (c.sum() + k), "the probabilities do not sum to "
               "1: you added k to each of the V counts, so the total grows by k * V, not by k."),
        (lambda c, k: (c.double() + k) / c.sum(), "the probabilities do not sum to 1: divide by "
         "the new total, sum(counts) + k * V."),
        (lambda c, k: c.double() / c.sum(), "these are the unsmoothed frequencies: unseen "
         "tokens must get a probability above zero.")])

def bigram_nll(train_ids, test_ids, vocab_size, k):
    counts = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    counts.index_put_((train_ids[:-1], train_ids[1:]), torch.ones(len(train_ids) - 1,
                      dtype=torch.float64), accumulate=True)  # counts[a, b] = N(a, b)
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab_size)  # P(next | a)
    return -probs[test_ids[:-1], test_ids[1:]].log().mean().item()  # nats per transition
def _nll_with(table=lambda c, k: (c + k) / (c + k).sum(1, keepdim=True),
              score=lambda p, a, b: -p[a, b].log().mean()):  # bigram_nll with one step changed
    return lambda tr, te, V, k: float(score(table(torch.bincount(
        tr[:-1] * V + tr[1:], minlength=V * V).view(V, V).double(), k), te[:-1], te[1:]))
bigram_nll = Exercise(1, "bigram_nll", "build", 20,
    "bigram_nll(train_ids, test_ids, vocab_size, k): count the bigrams of train_ids, smooth "
    "with add-k, and return the mean negative log-likelihood (nats) of test_ids' transitions.",
    bigram_nll, lambda: [(torch.randint(0, V, (n,)), torch.randint(0, V, (m,)), V, k) for n, m, V, k
                         in [(400, 50, 7, 1.0), (60, 30, 12, 0.5), (2000, 200, 20, 0.1)]],
    forbidden=("gptlab.bigram.bigram_counts", "gptlab.bigram.BigramModel.__init__",
               "gptlab.bigram._as_ids"),  # the last catches a bigram_counts imported by name
    hint_text="A (V, V) table of counts N(a, b) over consecutive pairs of train_ids; add k; "
    "divide each ROW by its sum; average -log P(b | a) over the len(test_ids) - 1 pairs.",
    mistakes=[
        (_nll_with(lambda c, k: (c + k) / (c + k).sum(0)), "you normalised the columns: row a "
         "holds P(next | a), so divide by the row sums (sum over dim=1, keepdim=True)."),
        (_nll_with(lambda c, k: c / c.sum(1, keepdim=True)), "without smoothing an unseen pair "
         "has probability 0 and the loss is infinite (or NaN): add k to every count first."),
        (_nll_with(lambda c, k: c / c.sum(1, keepdim=True) + k), "you added k after normalising, "
         "so the rows no longer sum to 1: add k to the counts, then divide by the row sums."),
        (_nll_with(score=lambda p, a, b: -p[a, b].log2().mean()), "that is in bits: use the "
         "natural log for nats."),
        (_nll_with(score=lambda p, a, b: -p[b, a].log().mean()), "you looked up P(a | b): the "
         "row is the previous token, the column the next one, probs[test_ids[:-1], test_ids[1:]]."),
        (_nll_with(score=lambda p, a, b: -p[a, b].log().sum() / len(p)), "you divided by the "
         "vocabulary size: average over the len(test_ids) - 1 transitions.")])
