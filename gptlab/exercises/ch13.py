"""Chapter 13 (evaluation): perplexity per token, BLEU's parts, a multiple-choice scorer (build)."""
# fmt: off

import math
from collections import Counter

import torch

from gptlab.exercises import Exercise, tiny_gpt


def token_perplexity(nats_per_char, chars_per_token):
    return math.exp(nats_per_char * chars_per_token)  # a token carries chars_per_token chars
token_perplexity = Exercise(13, "token_perplexity", "recall", 5,
    "token_perplexity(nats_per_char, chars_per_token): the perplexity per token of a model whose "
    "loss is nats_per_char per character, with tokens of chars_per_token characters on average.",
    token_perplexity, lambda: [(1.4, 3.1), (2.5, 1.0), (0.9, 4.25)],
    hint_text="How many nats does one token carry if each character carries nats_per_char?",
    mistakes=[(lambda loss, cpt: math.exp(loss), "exp(nats per char) is the perplexity per "
               "character; a token's loss is the per-character loss times chars_per_token."),
        (lambda loss, cpt: math.exp(loss / cpt), "a token is longer than a character, so its "
         "loss is larger: multiply by chars_per_token."),
        (lambda loss, cpt: 2.0 ** (loss * cpt), "the loss is in nats: undo it with exp, not 2**.")])

def brevity_penalty(hyp_len, ref_len):
    return 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
brevity_penalty = Exercise(13, "brevity_penalty", "apply", 5,
    "brevity_penalty(hyp_len, ref_len): BLEU's brevity penalty for a hypothesis of hyp_len words "
    "(c) against a reference of ref_len words (r).",
    brevity_penalty, lambda: [(10, 12), (12, 10), (7, 7), (3, 20), (1, 2)],
    hint_text="No penalty when c > r; otherwise exp(1 - r / c) (Papineni et al., 2002).",
    mistakes=[(lambda c, r: 1.0 if c > r else math.exp(1 - c / r), "the ratio is upside down: "
               "exp(1 - r / c) (reference length over hypothesis length)."),
        (lambda c, r: math.exp(1 - max(c, r) / min(c, r)), "longer hypotheses are not "
         "penalised: the penalty is 1 when c > r."),
        (lambda c, r: min(1.0, c / r), "the penalty is exponential, exp(1 - r / c), not linear.")])

def clipped_precision(hyp, ref, n):
    h, r = (Counter(tuple(w[i:i + n]) for i in range(len(w) - n + 1)) for w in (hyp, ref))
    return sum(min(c, r[g]) for g, c in h.items()) / max(1, sum(h.values()))  # clip at ref's count
clipped_precision = Exercise(13, "clipped_precision", "apply", 5,
    "clipped_precision(hyp, ref, n): BLEU's modified n-gram precision of a hypothesis against one "
    "reference, both lists of words.",
    clipped_precision, lambda: [(h.split(), r.split(), n) for h, r, n in [
        ("the the the the the the the", "the cat is on the mat", 1), ("a b c d", "a b c d", 3),
        ("the cat the cat on the mat", "the cat is on the mat", 2), ("x y z", "z y x", 1)]],
    hint_text="Count the hypothesis's n-grams (collections.Counter); credit each at most as often "
    "as it occurs in the reference; divide by the number of n-grams in the hypothesis.",
    mistakes=[(lambda h, r, n: sum(g in set(zip(*(r[i:] for i in range(n)))) for g in zip(*(
        h[i:] for i in range(n)))) / max(1, len(h) - n + 1), "a repeated n-gram is credited at "
         "most as often as it occurs in the reference: min(count, count in the reference)."),
        (lambda h, r, n: clipped_precision.reference(h, r, n) * (len(h) + 1 - n) / (len(r) + 1 - n),
         "divide by the hypothesis's number of n-grams (precision), not the reference's (recall)."),
        (lambda h, r, n: clipped_precision.reference(h[:-1], r[:-1], n), "a list of L words has "
         "L - n + 1 n-grams: range(len(words) - n + 1), or the last one is missed.")])

def choice_scores(model, prompt_ids, choices_ids, normalize="sum"):
    scores = []
    for choice in choices_ids:
        ids = torch.tensor([prompt_ids + choice])
        logp = model(ids[:, :-1])[0].log_softmax(dim=-1)[0]  # (T-1, V): t predicts token t + 1
        start = len(prompt_ids) - 1  # the position that predicts the choice's first token
        picked = logp[start:].gather(-1, ids[0, start + 1:, None]).squeeze(-1)  # the choice only
        scores.append(picked.sum().item() if normalize == "sum" else picked.mean().item())
    return scores
def _run_scores(answer, seed, normalize):
    model = tiny_gpt(seed, vocab_size=50, block_size=16)
    prompt = torch.randint(0, 50, (5 + seed,)).tolist()
    choices = [torch.randint(0, 50, (n,)).tolist() for n in (1, 3, 2)]
    return torch.no_grad()(answer)(model, prompt, choices, normalize)  # no warning on float()
def _scorer(pick):  # a wrong scorer: pick(logits (T, V) of prompt + choice, its ids, P) -> (n, 1)
    return lambda model, prompt, choices, normalize="sum": [
        getattr(pick(model(ids[None])[0][0], ids, len(prompt)), normalize)().item()
        for ids in (torch.tensor(prompt + c) for c in choices)]
choice_scores = Exercise(13, "choice_scores", "build", 20,
    "choice_scores(model, prompt_ids, choices_ids, normalize='sum'): ln P(choice | prompt) for "
    "each choice, summed over its tokens ('sum') or averaged per token ('mean').",
    choice_scores, lambda: [(1, "sum"), (2, "mean"), (3, "sum")], run=_run_scores,
    forbidden=("gptlab.evaluate.score_choices", "gptlab.evaluate._choice_scores"),
    hint_text="Run the model on prompt + choice; log_softmax; the choice's k-th token (from 0) is "
    "predicted at position len(prompt) - 1 + k; add (or average) those log-probabilities.",
    mistakes=[(_scorer(lambda lg, ids, P: lg.log_softmax(-1)[:-1].gather(-1, ids[1:, None])),
               "you scored the prompt's tokens too: only the choice's tokens count."),
        (_scorer(lambda lg, ids, P: lg.log_softmax(-1)[P:].gather(-1, ids[P:, None])), "off by "
         "one: the token at position t is predicted by the logits at position t - 1."),
        (_scorer(lambda lg, ids, P: lg[P - 1:-1].gather(-1, ids[P:, None])), "logits are not "
         "log-probabilities: take log_softmax over the vocabulary first."),
        (_scorer(lambda lg, ids, P: lg.softmax(-1)[P - 1:-1].gather(-1, ids[P:, None])), "add "
         "LOG-probabilities (log_softmax), not probabilities."),
        (lambda model, prompt, choices, normalize="sum": choice_scores.reference(model, prompt,
         choices), "with normalize='mean', divide each choice's sum by its number of tokens.")])
