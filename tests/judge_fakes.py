"""A rule-based fake judge for the grounding-metric tests: it reads the judge prompts it is sent
and answers in their JSON shapes, so the metrics' plumbing is tested without a model."""

from __future__ import annotations

import json
import re

from promptkit.testing.fakes import FunctionChatModel

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+")
_STOP = {"the", "a", "an", "of", "in", "is", "was", "by", "and", "to", "it", "el", "la", "de",
         "en", "y", "que", "un", "una", "with"}


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def verdict(claim: str, passages: str) -> str:
    """Supported when every word of the claim is in the passages; a number the passages lack
    contradicts; anything else is not found."""
    found = words(passages)
    if any(n not in found for n in _NUMBER.findall(claim)):
        return "contradicted"
    if " not " in f" {claim.lower()} ":
        return "contradicted" if " not " not in f" {passages.lower()} " else "supported"
    return "supported" if words(claim) <= found else "not_found"


def quote(claim: str, passages: str) -> str:
    """The passage sentence sharing the most words with the claim ("" when none shares any),
    as judge-verdicts@2 asks."""
    text = re.sub(r"\[\d+\]\s*", "", passages)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    best = max(sentences, key=lambda s: len(words(s) & words(claim)), default="")
    if not best or not words(best) & words(claim):
        return ""
    # A claim resting on two sentences (a name in one, its year in another) quotes both.
    more = [s for s in sentences if s != best
            and any(n in words(s) and n not in words(best) for n in _NUMBER.findall(claim))]
    return " ".join([best, *more])


def _section(user: str, start: str, end: str | None = None) -> str:
    text = user.split(start, 1)[1]
    return text.split(end, 1)[0].strip() if end else text.strip()


def reply(messages: list[dict], params) -> str:
    system, user = messages[0]["content"], messages[-1]["content"]
    if system.startswith("You split an answer"):
        answer = _section(user, "Answer:")
        claims = [s.strip() for s in re.split(r"(?<=[.!?])\s+", answer) if s.strip()]
        return json.dumps({"claims": claims})
    if system.startswith("You check claims"):
        passages = _section(user, "Passages:", "Claims:")
        claims = [re.sub(r"^\d+\.\s*", "", line) for line in
                  _section(user, "Claims:").splitlines() if line.strip()]
        return json.dumps({"verdicts": [
            {"claim": i, "quote": quote(c, passages), "verdict": verdict(c, passages)}
            for i, c in enumerate(claims, start=1)]})
    if system.startswith("You judge retrieved passages"):
        reference = _section(user, "Answer:", "Passages:")
        blocks = re.split(r"\n\n(?=\[\d+\])", _section(user, "Passages:"))
        return json.dumps({"verdicts": [
            {"passage": i, "reason": "rule", "useful": bool(words(reference) & words(b))}
            for i, b in enumerate(blocks, start=1)]})
    if system.startswith("Read an answer"):
        answer = _section(user, "Answer:")
        n = int(re.search(r"write (\d+)", system).group(1))
        noncommittal = "don't know" in answer.lower() or "no lo sé" in answer.lower()
        return json.dumps({"questions": [f"What is said: {answer}?"] * n,
                           "noncommittal": noncommittal})
    if system.startswith("Decide whether the passages"):
        question = _section(user, "Question:", "Passages:")
        passages = _section(user, "Passages:")
        return json.dumps({"reason": "rule",
                           "sufficient": len(words(question) & words(passages)) >= 2})
    raise AssertionError(f"unexpected judge prompt: {system[:60]}")


def fake_judge(**kwargs) -> FunctionChatModel:
    return FunctionChatModel(reply, spec="fake:rule-judge", can_constrain=True, **kwargs)
