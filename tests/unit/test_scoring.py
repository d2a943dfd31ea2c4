"""Batched continuation log-likelihoods against a plain forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_llm.scoring import loglikelihoods, max_positions, score, score_groups

PAIRS = [
    ("The nurse said that", " she"),
    ("The engineer said that", " he was ready for work."),
    ("The pilot", " said that she liked the new job."),
    ("The mechanic said that he", " was happy."),
    ("A", " b"),
    ("The secretary said that she took the course. The nurse said that", " he"),
]


@pytest.fixture
def model(make_tiny_model):
    return make_tiny_model(seed=0)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def manual_ll(model, context_ids: list[int], cont_ids: list[int]) -> float:
    """Sum of log-softmax log-probs of the continuation tokens, from one unbatched forward pass."""
    inputs = torch.tensor([(context_ids + cont_ids)[:-1]])  # the last token is only a target
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=inputs).logits[0].double(), dim=-1)
    start = len(context_ids)
    return float(sum(logprobs[start + k - 1, tok] for k, tok in enumerate(cont_ids)))


def test_loglikelihoods_equal_the_manual_sum(model, tiny_tokenizer):
    got = loglikelihoods(model, tiny_tokenizer, PAIRS, batch_size=4)
    assert got.shape == (len(PAIRS),)
    for (context, continuation), value in zip(PAIRS, got, strict=True):
        ctx, cont = ids(tiny_tokenizer, context), ids(tiny_tokenizer, continuation)
        # these pairs split cleanly at a space, so the lm-eval split is context | continuation
        assert ids(tiny_tokenizer, context + continuation) == ctx + cont
        assert value == pytest.approx(manual_ll(model, ctx, cont), abs=1e-4)
        assert value < 0


def test_scored_carries_token_count_and_greedy_flag(model, tiny_tokenizer):
    scored = score(model, tiny_tokenizer, PAIRS, batch_size=2)
    for (context, continuation), s in zip(PAIRS, scored, strict=True):
        ctx, cont = ids(tiny_tokenizer, context), ids(tiny_tokenizer, continuation)
        assert s.n_tokens == len(cont)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ctx + cont])).logits[0]
        predicted = logits[len(ctx) - 1 : len(ctx) + len(cont) - 1].argmax(-1).tolist()
        assert s.is_greedy == (predicted == cont)


def test_greedy_flag_is_true_for_the_models_own_prediction(model, tiny_tokenizer):
    greedy_requests, other_requests = [], []
    for context, _ in PAIRS:
        ctx = ids(tiny_tokenizer, context)
        with torch.no_grad():
            ranked = model(input_ids=torch.tensor([ctx])).logits[0, -1].argsort(descending=True).tolist()
        for rank, target in ((0, greedy_requests), (1, other_requests)):
            continuation = tiny_tokenizer.decode([ranked[rank]])
            if ids(tiny_tokenizer, context + continuation)[len(ctx) :] == [ranked[rank]]:
                target.append((context, continuation))
    assert greedy_requests and other_requests
    assert all(s.is_greedy for s in score(model, tiny_tokenizer, greedy_requests))
    assert not any(s.is_greedy for s in score(model, tiny_tokenizer, other_requests))


def test_batch_size_does_not_change_results_and_order_is_kept(model, tiny_tokenizer):
    requests = PAIRS + [(c + " and", " she") for c, _ in PAIRS] + [("The nurse", " said that he was happy.")]
    runs = [loglikelihoods(model, tiny_tokenizer, requests, batch_size=b) for b in (1, 3, 16)]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-4)
    np.testing.assert_allclose(runs[0], runs[2], atol=1e-4)
    one_by_one = [loglikelihoods(model, tiny_tokenizer, [r], batch_size=1)[0] for r in requests]
    np.testing.assert_allclose(runs[2], one_by_one, atol=1e-4)
    assert len(set(np.round(runs[2], 3))) > len(requests) // 2  # not one value repeated


def test_trailing_space_moves_to_the_continuation(model, tiny_tokenizer):
    a = loglikelihoods(model, tiny_tokenizer, [("The nurse said that ", "she")])
    b = loglikelihoods(model, tiny_tokenizer, [("The nurse said that", " she")])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_empty_context_is_conditioned_on_bos(model, tiny_tokenizer):
    text = "The nurse said that she was happy."
    (got,) = loglikelihoods(model, tiny_tokenizer, [("", text)])
    bos = tiny_tokenizer.bos_token_id
    assert bos is not None
    expected = manual_ll(model, [bos], ids(tiny_tokenizer, text))
    assert got == pytest.approx(expected, abs=1e-4)
    # a different start token gives a different value: BOS really is the condition
    other = manual_ll(model, [ids(tiny_tokenizer, "A")[0]], ids(tiny_tokenizer, text))
    assert abs(other - expected) > 1e-3
    (s,) = score(model, tiny_tokenizer, [("", text)])
    assert s.n_tokens == len(ids(tiny_tokenizer, text))


def test_continuation_longer_than_the_window_raises(model, tiny_tokenizer):
    window = max_positions(model)
    assert window == 64
    assert len(ids(tiny_tokenizer, " she" * (window + 1))) == window + 1
    with pytest.raises(ValueError, match="does not fit"):
        score(model, tiny_tokenizer, [("The nurse said that", " she" * (window + 1))])


def test_long_context_is_cut_from_the_left(model, tiny_tokenizer):
    window = max_positions(model)
    context = "The nurse said that" + " he" * 100
    continuation = " she" * (window - 10)
    (got,) = loglikelihoods(model, tiny_tokenizer, [(context, continuation)])
    ctx, cont = ids(tiny_tokenizer, context), ids(tiny_tokenizer, continuation)
    keep = window + 1 - len(cont)  # the model sees `window` tokens: the last `keep` context tokens
    assert got == pytest.approx(manual_ll(model, ctx[-keep:], cont), abs=1e-4)


def test_empty_continuation_raises(model, tiny_tokenizer):
    with pytest.raises(ValueError, match="empty continuation"):
        score(model, tiny_tokenizer, [("The nurse", "")])


def test_whitespace_only_context_is_conditioned_on_bos(model, tiny_tokenizer):
    other = ("The nurse said that she was happy and the engineer", " he")
    expected = loglikelihoods(model, tiny_tokenizer, [("", " she")])[0]
    got = loglikelihoods(model, tiny_tokenizer, [(" ", "she"), other], batch_size=2)[0]
    assert got == pytest.approx(expected, abs=1e-4)


GROUPS = [
    # one context, several choices: the context is encoded once
    [("The nurse said that", " she"), ("The nurse said that", " he"), ("The nurse said that", " she was happy.")],
    # sentence pairs with an empty context share the tokens before their first difference
    [("", "The nurse said that she was happy."), ("", "The nurse said that he was happy.")],
    # one choice is a prefix of the other; identical choices
    [("The pilot", " said"), ("The pilot", " said that she liked the new job.")],
    [("The pilot said", " that"), ("The pilot said", " that")],
    # no common first token: scored one by one
    [("The mechanic", " was happy."), ("A", " b")],
    [("The secretary said that she took the course.", " The nurse said that he was ready for work.")],
]


def test_rows_are_deduplicated_and_grouped_by_shared_prefix():
    from causal_llm.scoring import _encode_requests, _group_rows

    class Tok:  # one token per character: the shared prefix is visible in the lengths
        bos_token_id, eos_token_id = 0, 0

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    requests = [("abcdef", " x"), ("abcdef", " y"), ("abcdef", " yz"), ("", "hello"), ("", "help"), ("q", " r")]
    rows, reqs = _encode_requests(Tok(), requests, 99)
    assert [r.row for r in reqs] == [0, 0, 1, 2, 3, 4]  # " x" and " y" read the same inputs: one row
    assert [r.first for r in reqs] == [5, 5, 5, 0, 0, 0] and reqs[2].targets == [ord(" "), ord("y"), ord("z")]
    groups = sorted(_group_rows(rows), key=lambda g: g.rows)
    assert [(sorted(g.rows), g.prefix) for g in groups] == [([0, 1], 7), ([2, 3], 4), ([4], 2)]


@pytest.mark.parametrize("min_saved", [0.0, 0.3, 1.01])  # always share a prefix / when it pays / never
def test_score_groups_equals_scoring_each_request_alone(model, tiny_tokenizer, monkeypatch, min_saved):
    monkeypatch.setattr("causal_llm.scoring.MIN_SAVED_FRACTION", min_saved)
    grouped = score_groups(model, tiny_tokenizer, GROUPS, batch_size=4)
    assert [len(g) for g in grouped] == [len(g) for g in GROUPS]
    for requests, results in zip(GROUPS, grouped, strict=True):
        for (context, continuation), result in zip(requests, results, strict=True):
            alone = score(model, tiny_tokenizer, [(context, continuation)], batch_size=1)[0]
            ctx = [tiny_tokenizer.bos_token_id] if not context else ids(tiny_tokenizer, context)
            assert result.loglikelihood == pytest.approx(
                manual_ll(model, ctx, ids(tiny_tokenizer, continuation)), abs=1e-4
            )
            assert result.loglikelihood == pytest.approx(alone.loglikelihood, abs=1e-4)
            assert (result.n_tokens, result.is_greedy) == (alone.n_tokens, alone.is_greedy)
    assert grouped[3][0].loglikelihood == grouped[3][1].loglikelihood
    assert grouped[0][0].loglikelihood != pytest.approx(grouped[0][1].loglikelihood, abs=1e-3)


def test_score_groups_is_batch_size_invariant_and_deterministic(model, tiny_tokenizer, monkeypatch):
    monkeypatch.setattr("causal_llm.scoring.MIN_SAVED_FRACTION", 0.0)  # exercise the cached second pass
    groups = GROUPS * 3 + [[(c, x) for c, x in PAIRS]]
    runs = [
        np.array([s.loglikelihood for g in score_groups(model, tiny_tokenizer, groups, batch_size=b) for s in g])
        for b in (1, 2, 5, 64)
    ]
    for run in runs[1:]:
        np.testing.assert_allclose(run, runs[0], atol=1e-4)
    again = [s.loglikelihood for g in score_groups(model, tiny_tokenizer, groups, batch_size=5) for s in g]
    assert again == list(runs[2])


def test_scoring_without_logits_to_keep_gives_the_same_values(model, tiny_tokenizer, monkeypatch):
    import causal_llm.scoring as scoring

    sliced = [s.loglikelihood for g in score_groups(model, tiny_tokenizer, GROUPS, batch_size=3) for s in g]
    monkeypatch.setattr(scoring, "_accepts_logits_to_keep", lambda m: False)
    full = [s.loglikelihood for g in score_groups(model, tiny_tokenizer, GROUPS, batch_size=3) for s in g]
    np.testing.assert_allclose(sliced, full, atol=1e-5)


def test_rows_near_the_window_share_a_second_pass_with_long_tails(model, tiny_tokenizer, monkeypatch):
    """A long prefix and a long tail in one chunk: padding positions must stay inside the window."""
    monkeypatch.setattr("causal_llm.scoring.MIN_SAVED_FRACTION", 0.0)
    window = max_positions(model)
    long_context = " ".join(["The nurse said that she was happy."] * 6)
    requests = [(long_context, " she was happy."), (long_context, " he was happy.")]
    requests += [("The pilot", " said that" + " he" * 30), ("The pilot", " said that" + " she" * 30)]
    assert len(ids(tiny_tokenizer, long_context)) + 30 > window
    together = loglikelihoods(model, tiny_tokenizer, requests, batch_size=8)
    alone = [loglikelihoods(model, tiny_tokenizer, [r], batch_size=1)[0] for r in requests]
    np.testing.assert_allclose(together, alone, atol=1e-4)
