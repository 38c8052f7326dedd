"""Grounding metrics: is the answer backed by the passages, and did retrieval bring them?

Our own code after published definitions (each class names its source):
- `faithfulness` — RAGAS (Es et al. 2023, "RAGAS: Automated Evaluation of Retrieval Augmented
  Generation"): claims from the answer, each checked against the passages; we keep
  "contradicted" apart from "not found".
- `answer_relevancy` — RAGAS: questions written back from the answer, cosine to the question.
- `context_precision` / `context_recall` — RAGAS, with the reference-based and judge-based
  variants chosen by what the case has.
- `citation_recall` / `citation_precision` — ALCE (Gao et al. 2023, "Enabling Large Language
  Models to Generate Text with Citations").

Judges are local or remote chat models (`Judge`) reading pinned, versioned prompts whose replies
are held to a JSON Schema; a reply that does not fit is outcome "unparsable", never a score.
Every judge-based result records the judge, its prompts' hashes and whether decoding was
constrained, beside its per-claim (or per-passage, per-sentence) verdicts.
"""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from promptkit.errors import UserError
from promptkit.evaluation.judges import Judge
from promptkit.evaluation.metrics_base import Metric, MetricResult, case_field, is_gold

CLAIMS_PROMPT = "judge-claims@1"
VERDICTS_PROMPT = "judge-verdicts@2"
RELEVANCE_PROMPT = "judge-relevance@1"
QUESTIONS_PROMPT = "judge-questions@1"
SUFFICIENCY_PROMPT = "judge-sufficiency@1"
VERDICTS = ("supported", "contradicted", "not_found")
# Reply budget per claim: a quote of up to 400 characters and its verdict, in JSON.
TOKENS_PER_VERDICT = 160
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?…])")


class Unparsable(Exception):
    """A judge reply that did not fit its schema; becomes an "unparsable" MetricResult."""

    def __init__(self, step: str, structured):
        self.step, self.structured = step, structured
        super().__init__(structured.reason)

    def result(self, **detail: Any) -> MetricResult:
        return MetricResult.unparsable(f"{self.step}: {self.structured.reason}", **detail,
                                       raw=self.structured.text[:500])


# ---------------------------------------------------------------- shared pieces

def passages_of(case: Any) -> list[dict]:
    """The passages the answer was given, in prompt order, each with its citation `number`."""
    raw = case_field(case, "passages") or case_field(case, "contexts") or []
    out = []
    for i, p in enumerate(raw, start=1):
        p = {"text": p} if isinstance(p, str) else dict(p)
        p["text"] = str(p.get("text") or "")
        p["number"] = p.get("position") or p.get("number") or i
        out.append(p)
    return out


def numbered(passages: Sequence[dict]) -> str:
    return "\n\n".join(f"[{p['number']}] {p['text'].strip()}" for p in passages)


def fixed_length(schema: dict, key: str, n: int) -> dict:
    """A copy of `schema` whose array property `key` must have exactly `n` items, so that a
    constrained judge gives one verdict per claim (or passage), no more, no fewer."""
    out = copy.deepcopy(schema)
    prop = out["properties"][key]
    prop["minItems"] = prop["maxItems"] = n
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences without their [n] markers (the project's splitter, as citations use)."""
    from promptkit.pipeline.attribution import MARKER, sentences

    out = []
    for unit in sentences(text):
        clean = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(MARKER.sub(" ", unit).split()))
        if clean:
            out.append(clean)
    return out


def check_claims(judge: Judge, claims: Sequence[str], context: str, *,
                 attempt: int = 0) -> list[dict]:
    """One verdict per claim against `context` (judge-verdicts); Unparsable if the reply
    does not fit."""
    spec = judge.prompt(VERDICTS_PROMPT)
    schema = fixed_length(spec.output_schema, "verdicts", len(claims))
    listed = "\n".join(f"{i}. {c}" for i, c in enumerate(claims, start=1))
    reply = judge.ask(VERDICTS_PROMPT, {"context": context, "claims": listed}, schema=schema,
                      attempt=attempt, min_tokens=TOKENS_PER_VERDICT * len(claims))
    if not reply.ok:
        raise Unparsable("verdicts", reply)
    rows = []
    for c, v in zip(claims, reply.value["verdicts"], strict=True):
        if "quote" not in v:        # a verdict prompt that gives reasons, not quotes
            rows.append({"claim": c, "verdict": v["verdict"], "reason": v["reason"]})
            continue
        verdict, check = check_quote(c, v["quote"], v["verdict"], context,
                                     closeness=judge.closeness)
        row = {"claim": c, "verdict": verdict, "quote": v["quote"], "reason": check or
               (f'quotes "{v["quote"]}"' if v["quote"] else "quotes nothing")}
        if check:
            row["judge_verdict"] = v["verdict"]
        rows.append(row)
    return rows


# ---------------------------------------------------------------- quote checks

# Words that turn a statement into its opposite, English and Spanish, accents folded ("n't"
# is rewritten to " not" first). What is compared is whether a claim and the quote it rests on
# are negated at all, not how many such words they hold ("No vino nadie" is one negation).
_NEGATIONS = frozenset("not no never none nor neither nobody nothing cannot nunca jamas ni "
                       "tampoco ninguno ninguna ningunos ningunas ningun nadie nada".split())
# ... except where they do not negate: "not only", "no solo", "No. 1" (a number's "No.").
_NOT_NEGATING_NEXT = frozenset({"only", "solo", "solamente", "just", "merely"})
_NT = re.compile(r"n[’']t\b", re.IGNORECASE)
# A number with its thousands groups ("200 000", "2,410", "2.410") and decimals ("1,5"); digits
# joined by other marks ("1881–1973", "1954-01-07", "10:30", "3-2") are separate numbers.
_NUMBER = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:[ \u00a0\u202f.,]\d{3})+|\d+)(?:[.,]\d+)?(?!\d)")
_NUM_TOKEN = re.compile(r"^nx\d+(?:d\d+)?$")
# Number words a claim may use for a figure the passages write in digits, or the other way
# round (not "one"/"un": they are as often pronouns and articles).
_NUMBER_WORDS = {w: str(n) for n, ws in enumerate([
    "zero cero", "", "two dos", "three tres", "four cuatro", "five cinco", "six seis",
    "seven siete", "eight ocho", "nine nueve", "ten diez", "eleven once", "twelve doce",
    "thirteen trece", "fourteen catorce", "fifteen quince", "sixteen dieciseis",
    "seventeen diecisiete", "eighteen dieciocho", "nineteen diecinueve", "twenty veinte"])
    for w in ws.split()}
_NUMBER_WORDS.update({w: str(n) for n, ws in ((30, "thirty treinta"), (40, "forty cuarenta"),
                                              (50, "fifty cincuenta"), (60, "sixty sesenta"),
                                              (70, "seventy setenta"), (80, "eighty ochenta"),
                                              (90, "ninety noventa"), (100, "hundred cien"))
                      for w in ws.split()})
_SHINGLE = 3           # words per shingle when looking a quote up in the passages
_QUOTE_PIECES = re.compile(r"(?<=[.!?;])\s+|\s*(?:\.\.\.|…)\s*|\n+")
QUOTE_FOUND = 0.8      # share of the quote's shingles that must be in the passages


def _number_token(raw: str) -> str:
    """One spelling per number: "200 000", "200,000", "200.000" -> nx200000; "1,5" and "1.5"
    -> nx1d5; "07" -> nx7; "3.0" -> nx3."""
    groups = re.split(r"[ \u00a0\u202f.,]", raw)
    if len(groups) > 1 and len(groups[-1]) != 3:
        whole, decimals = "".join(groups[:-1]), groups[-1].rstrip("0")
    else:
        whole, decimals = "".join(groups), ""
    whole = whole.lstrip("0") or "0"
    return f" nx{whole}d{decimals} " if decimals else f" nx{whole} "


def _words(text: str) -> list[str]:
    """Accent-, case- and punctuation-folded words, with numbers (digits or number words) as
    one token each, so that the same figure matches however it is written."""
    from promptkit.evaluation.metrics import normalize_multi
    from promptkit.pipeline.attribution import MARKER

    text = _NUMBER.sub(lambda m: _number_token(m.group(0)), MARKER.sub(" ", text))
    words = normalize_multi(_NT.sub(" not", text)).split()
    return [f"nx{_NUMBER_WORDS[w]}" if w in _NUMBER_WORDS else w for w in words]


def _numbers(words: Sequence[str]) -> set[str]:
    return {w for w in words if _NUM_TOKEN.match(w)}


def numbers_in(text: str) -> set[str]:
    """The numbers a text states, one token each (see `_number_token`)."""
    return _numbers(_words(text))


def negated(words: Sequence[str]) -> bool:
    """Whether a sentence (folded words) is negated."""
    for i, w in enumerate(words):
        if w not in _NEGATIONS:
            continue
        after = words[i + 1] if i + 1 < len(words) else ""
        if after in _NOT_NEGATING_NEXT or (w == "no" and _NUM_TOKEN.match(after)):
            continue
        return True
    return False


def quoted_pieces(quote: str, context: str) -> list[list[str]] | None:
    """The pieces of the judge's quote, each as the words of it the passages hold; None when
    the quote is not there. A quote may join several sentences (from one passage or more, or
    cut with "..."); each piece is looked up by its 3-word shingles — at least QUOTE_FOUND of
    them must be in the passages (accents, case, punctuation and articles ignored) — so that a
    re-punctuated quote still counts and one the judge wrote itself does not. Only words inside
    a shingle found in the passages are kept: a word the judge slipped into an otherwise copied
    sentence ("not", another year) is not evidence."""
    c = _words(context)
    have = {tuple(c[i:i + _SHINGLE]) for i in range(len(c) - _SHINGLE + 1)}
    joined = f" {' '.join(c)} "
    pieces = [w for w in (_words(p) for p in _QUOTE_PIECES.split(quote)) if w]
    if not pieces:
        return None
    kept: list[list[str]] = []
    for q in pieces:
        if len(q) < _SHINGLE:
            if f" {' '.join(q)} " not in joined:
                return None
            kept.append(q)
            continue
        found = [tuple(q[i:i + _SHINGLE]) in have for i in range(len(q) - _SHINGLE + 1)]
        if sum(found) / len(found) < QUOTE_FOUND:
            return None
        kept.append([w for j, w in enumerate(q) if any(
            found[i] for i in range(max(0, j - _SHINGLE + 1), min(j + 1, len(found))))])
    return kept


def _passages(context: str) -> list[str]:
    """The numbered passages of a context (as `numbered` joins them)."""
    return re.split(r"\n\s*\n(?=\[\d+\])", context)


def _context_sentences(context: str) -> list[tuple[int, list[str]]]:
    """(passage index, folded words) of every sentence of the numbered passages."""
    from promptkit.pipeline.attribution import sentences

    out = []
    for n, passage in enumerate(_passages(context)):
        out += [(n, w) for w in (_words(u) for u in sentences(passage)) if w]
    return out


def _around(pieces: list[list[str]], context: str) -> list[str]:
    """The words of the passage sentences each quote piece sits in, with the sentence before
    and after it: a claim often joins a figure from one sentence to the fact of the next
    ("The ALPAC report of 1966 led to cuts" from "... the ALPAC report of 1966. ... funding
    was cut")."""
    units = _context_sentences(context)
    words: list[str] = []
    for piece in pieces:
        width = min(_SHINGLE, len(piece))
        shingles = {tuple(piece[i:i + width]) for i in range(len(piece) - width + 1)}
        hits = [i for i, (_, u) in enumerate(units)
                if shingles & {tuple(u[j:j + width]) for j in range(len(u) - width + 1)}]
        for i in hits:
            words += [w for k in (i - 1, i, i + 1) if 0 <= k < len(units)
                      and units[k][0] == units[i][0] for w in units[k][1]]
    return words


def _closest_passage(claim: str, context: str,
                     closeness: Callable[[str, list[str]], list[float]] | None
                     ) -> list[list[str]]:
    """The sentences of the passage that supports the claim best, when it supports it at
    least as well as an attributed source must (attribution.THRESHOLD); else none."""
    from promptkit.pipeline.attribution import THRESHOLD

    if closeness is None:
        return []
    passages = [p for p in _passages(context) if _words(p)]
    if not passages:
        return []
    scores = closeness(claim, passages)
    best = max(range(len(passages)), key=scores.__getitem__)
    if scores[best] < THRESHOLD:
        return []
    return [w for n, w in _context_sentences(passages[best])]


def check_quote(claim: str, quote: str, verdict: str, context: str, *,
                closeness: Callable[[str, list[str]], list[float]] | None = None,
                ) -> tuple[str, str | None]:
    """The verdict a "supported" keeps after its quote is checked, and why it changed (None
    when it stands). Only "supported" is checked. The evidence is the quote when it is in the
    passages, with the sentences either side of it for figures; when it is not (a small
    judge often "quotes" the claim itself, in its own words), it is the passage `closeness`
    scores best for the claim if that score reaches attribution.THRESHOLD, and without one
    the verdict is not_found. What of the evidence the passages really say must state every
    number of the claim (else contradicted when it states other numbers, not_found when
    none), and its sentence closest to the claim must be negated exactly when the claim is
    (else contradicted)."""
    if verdict != "supported":
        return verdict, None
    pieces = quoted_pieces(quote, context)
    around: list[str] = []     # a closest passage is whole already: nothing around it
    if pieces is not None:
        around = _around(pieces, context)
    elif not (pieces := _closest_passage(claim, context, closeness)):
        return "not_found", ("judged supported, but its quote is not in the passages and no "
                             "passage says as much")
    claim_words = _words(claim)
    wanted, given = _numbers(claim_words), _numbers([w for p in pieces for w in p] + around)
    if missing := wanted - given:
        shown = ", ".join(sorted(m[2:].replace("d", ".") for m in missing))
        return ("contradicted" if given else "not_found",
                f"judged supported, but its quote does not state {shown}")
    closest = max(pieces, key=lambda p: len(set(p) & set(claim_words)))
    if negated(claim_words) != negated(closest):
        return "contradicted", "judged supported, but the claim and its quote differ in negation"
    return verdict, None


def _choice(value: str, allowed: Sequence[str], metric: str, option: str) -> str:
    if value not in allowed:
        raise UserError(f"metric '{metric}': {option} must be one of {', '.join(allowed)}, "
                        f"got {value!r}")
    return value


def _gold_names(case: Any) -> set[str]:
    gold = case_field(case, "gold_ids") or []
    return {str(g) for g in (gold.keys() if isinstance(gold, dict) else gold)}


def from_gold(passage: dict, gold: set[str]) -> bool:
    """A passage is gold when its chunk id, or its document's file name, is listed."""
    return is_gold(passage.get("id"), passage.get("source"), gold)


def holds_evidence(passage: dict, gold: set[str], answers: Sequence[str]) -> bool:
    """The reference test of a relevant passage: from a gold document (when the case lists
    gold) and holding a reference answer (when it has answers)."""
    return ((not gold or from_gold(passage, gold))
            and (not answers or contains_answer(str(passage.get("text") or ""), answers)))


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """Whole-word match of any reference answer, accent- and punctuation-folded (the
    `contains_any` metric's test)."""
    from promptkit.evaluation.metrics import answer_found

    return answer_found(text, answers) is not None


def _prediction_error(prediction: Any) -> MetricResult | None:
    if prediction is None:
        return MetricResult.error("no prediction (generation failed or was skipped)")
    return None


# ---------------------------------------------------------------- faithfulness

class Faithfulness(Metric):
    """Share of the answer's claims that the passages support (RAGAS faithfulness).

    Claims come from the judge (`claims="judge"`, RAGAS's statement step, prompt judge-claims)
    or from a sentence split (`claims="sentences"`, no model); each claim is then judged
    supported / contradicted / not_found against the numbered passages (judge-verdicts).
    Score = supported / claims. An answer with no claims ("I don't know") has no score
    (outcome "error", reason given): there is nothing to be faithful about.
    """

    name = "faithfulness"

    def __init__(self, judge: Judge | str | None = None, *, claims: str = "judge",
                 constrain: bool = True):
        self.claims = _choice(claims, ("judge", "sentences"), self.name, "claims")
        self.judge = Judge.of(judge, constrain=constrain)

    def evaluate(self, prediction, case):
        if (bad := _prediction_error(prediction)) is not None:
            return bad
        passages = passages_of(case)
        if not passages:
            return MetricResult.error("no passages to check the answer against")
        return self.score(str(prediction), str(case_field(case, "question", "")),
                          numbered(passages))

    def score(self, answer: str, question: str, context: str, *, attempt: int = 0) -> MetricResult:
        """Faithfulness of `answer` to `context` (numbered passages); `attempt` > 0 re-asks."""
        refs = (CLAIMS_PROMPT, VERDICTS_PROMPT) if self.claims == "judge" else (VERDICTS_PROMPT,)
        about = {"claims_from": self.claims, **self.judge.describe(*refs)}
        try:
            claims = self.split(answer, question, attempt=attempt)
            if not claims:
                return MetricResult.error("the answer states no claims to check", claims=[],
                                          **about)
            rows = check_claims(self.judge, claims, context, attempt=attempt)
        except Unparsable as exc:
            return exc.result(**about)
        counts = Counter(r["verdict"] for r in rows)
        return MetricResult(counts["supported"] / len(rows),
                            detail={"claims": rows, **{v: counts[v] for v in VERDICTS}, **about})

    def split(self, answer: str, question: str, *, attempt: int = 0) -> list[str]:
        if self.claims == "sentences":
            return split_sentences(answer)
        reply = self.judge.ask(CLAIMS_PROMPT, {"question": question, "answer": answer},
                               attempt=attempt)
        if not reply.ok:
            raise Unparsable("claims", reply)
        # Small judges sometimes repeat a claim: each is checked (and counted) once.
        return list(dict.fromkeys(c.strip() for c in reply.value["claims"] if c.strip()))


# ---------------------------------------------------------------- answer relevancy

class AnswerRelevancy(Metric):
    """Mean cosine between the question and `n_questions` questions the judge writes back from
    the answer (RAGAS answer relevancy); 0 when the judge finds the answer noncommittal.

    Always judge-based (it needs no reference); embeddings from `embedder` (the project's
    multilingual default, so Spanish questions compare with Spanish ones).
    """

    name = "answer_relevancy"

    def __init__(self, judge: Judge | str | None = None, *, embedder: str | None = None,
                 n_questions: int = 3, constrain: bool = True):
        if not isinstance(n_questions, int) or not 1 <= n_questions <= 5:
            raise UserError(f"metric '{self.name}': n_questions must be 1 to 5, got "
                            f"{n_questions!r}")
        self.judge = Judge.of(judge, constrain=constrain)
        if embedder is None:
            from promptkit.embedders import DEFAULT

            embedder = DEFAULT
        self.embedder, self.n_questions = embedder, n_questions

    def evaluate(self, prediction, case):
        if (bad := _prediction_error(prediction)) is not None:
            return bad
        question = str(case_field(case, "question", ""))
        if not question.strip():
            return MetricResult.error("case has no question")
        spec = self.judge.prompt(QUESTIONS_PROMPT)
        reply = self.judge.ask(QUESTIONS_PROMPT, {"answer": str(prediction),
                                                  "count": str(self.n_questions)},
                               schema=fixed_length(spec.output_schema, "questions",
                                                   self.n_questions))
        about = {"embedder": self.embedder, **self.judge.describe(QUESTIONS_PROMPT)}
        if not reply.ok:
            return Unparsable("questions", reply).result(**about)
        written = [q for q in reply.value["questions"] if q.strip()]
        detail = {"questions": written, "noncommittal": reply.value["noncommittal"], **about}
        if reply.value["noncommittal"]:
            return MetricResult(0.0, detail=detail)
        sims = self._cosines(question, written)
        detail["cosines"] = [round(s, 4) for s in sims]
        return MetricResult(max(-1.0, min(1.0, math.fsum(sims) / len(sims))), detail=detail)

    def _cosines(self, question: str, written: Sequence[str]) -> list[float]:
        import numpy as np

        from promptkit.embedders import get_embedder

        emb = get_embedder(self.embedder)
        q = np.asarray(emb.embed_query(question), dtype=np.float64)
        out = []
        for text in written:
            g = np.asarray(emb.embed_query(text), dtype=np.float64)
            norm = float(np.linalg.norm(q) * np.linalg.norm(g))
            out.append(float(q @ g) / norm if norm else 0.0)
        return out


# ---------------------------------------------------------------- context precision / recall

def rank_weighted_precision(relevant: Sequence[bool]) -> float:
    """RAGAS context precision: sum over ranks k of precision@k x v_k, over the relevant count
    (0 when nothing retrieved is relevant)."""
    hits, total = 0, 0.0
    for k, rel in enumerate(relevant, start=1):
        if rel:
            hits += 1
            total += hits / k
    return total / hits if hits else 0.0


class _ReferenceOrJudge(Metric):
    """A context metric computed from the references when the case has them, else judged."""

    def __init__(self, judge: Judge | str | None = None, *, method: str = "auto",
                 constrain: bool = True):
        self.method = _choice(method, ("auto", "reference", "judge"), self.name, "method")
        self.judge = Judge.of(judge, constrain=constrain)

    def _method(self, gold, answers) -> str:
        if self.method == "auto":
            return "reference" if gold or answers else "judge"
        return self.method


class ContextPrecision(_ReferenceOrJudge):
    """Whether the relevant retrieved passages are ranked first (RAGAS context precision).

    `method="reference"`: a passage is relevant when it comes from a gold document (when the
    case lists gold) and contains a reference answer (when it has answers) — no model.
    `method="judge"`: the judge says whether each passage is useful for answering (RAGAS's LLM
    variant; given the reference answer when there is one, else the answer itself).
    `auto` (default): reference when the case has gold or answers, else judge.
    """

    name = "context_precision"

    def evaluate(self, prediction, case):
        passages = sorted(passages_of(case), key=lambda p: (p.get("rank") or p["number"]))
        if not passages:
            return MetricResult.error("no retrieved passages")
        gold, answers = _gold_names(case), [str(a) for a in case_field(case, "answers", [])]
        method = self._method(gold, answers)
        if method == "reference":
            if not gold and not answers:
                return MetricResult.error("method 'reference' needs gold ids or answers")
            relevant = [holds_evidence(p, gold, answers) for p in passages]
            about: dict = {"method": "reference"}
        else:
            try:
                relevant = self._judged(prediction, case, passages, answers)
            except Unparsable as exc:
                return exc.result(method="judge", **self.judge.describe(RELEVANCE_PROMPT))
            about = {"method": "judge", **self.judge.describe(RELEVANCE_PROMPT)}
        return MetricResult(rank_weighted_precision(relevant),
                            detail={"relevant": relevant, **about})

    def _judged(self, prediction, case, passages, answers) -> list[bool]:
        reference = answers[0] if answers else str(prediction or "")
        spec = self.judge.prompt(RELEVANCE_PROMPT)
        reply = self.judge.ask(RELEVANCE_PROMPT, {
            "question": str(case_field(case, "question", "")), "reference": reference,
            "context": numbered(passages)},
            schema=fixed_length(spec.output_schema, "verdicts", len(passages)))
        if not reply.ok:
            raise Unparsable("relevance", reply)
        return [bool(v["useful"]) for v in reply.value["verdicts"]]


class ContextRecall(_ReferenceOrJudge):
    """How much of what the answer needs the retrieved passages hold (RAGAS context recall).

    `method="reference"`: with reference answers, 1 when a passage contains one of them
    (whole words, accent-folded), else 0; with only gold ids, the share of gold retrieved.
    `method="judge"`: with answers, the reference is checked against the passages like an
    answer's claims (RAGAS: share of reference claims the passages support); without, the
    judge says whether the passages suffice to answer (Joren et al. 2024, sufficient context).
    `auto` (default): reference when the case has answers or gold, else judge.
    """

    name = "context_recall"

    def evaluate(self, prediction, case):
        passages = passages_of(case)
        if not passages:
            return MetricResult.error("no retrieved passages")
        gold, answers = _gold_names(case), [str(a) for a in case_field(case, "answers", [])]
        method = self._method(gold, answers)
        if method == "reference":
            return self._reference(passages, gold, answers)
        question = str(case_field(case, "question", ""))
        try:
            return self._judged(question, passages, answers)
        except Unparsable as exc:
            return exc.result(method="judge")

    @staticmethod
    def _reference(passages, gold, answers) -> MetricResult:
        if answers:
            found = [p["number"] for p in passages if contains_answer(p["text"], answers)]
            return MetricResult(float(bool(found)),
                                detail={"method": "reference", "answer_in": found})
        if not gold:
            return MetricResult.error("method 'reference' needs answers or gold ids")
        got = {g for g in gold if any(from_gold(p, {g}) for p in passages)}
        return MetricResult(len(got) / len(gold),
                            detail={"method": "reference", "gold_retrieved": sorted(got)})

    def _judged(self, question, passages, answers) -> MetricResult:
        context = numbered(passages)
        if not answers:
            reply = self.judge.ask(SUFFICIENCY_PROMPT, {"question": question, "context": context})
            if not reply.ok:
                raise Unparsable("sufficiency", reply)
            return MetricResult(float(reply.value["sufficient"]), detail={
                "method": "judge", "reason": reply.value["reason"],
                **self.judge.describe(SUFFICIENCY_PROMPT)})
        reference = answers[0].strip()
        claims = split_sentences(reference)
        if len(claims) <= 1 and len(reference.split()) < 12:
            # A short answer ("1947") is no claim on its own: it is one with its question.
            claims = [f"{question} {reference}"]
        rows = check_claims(self.judge, claims, context)
        supported = sum(r["verdict"] == "supported" for r in rows)
        return MetricResult(supported / len(rows), detail={
            "method": "judge", "claims": rows, **self.judge.describe(VERDICTS_PROMPT)})


# ---------------------------------------------------------------- citations (ALCE)

class _Citations(Metric):
    """ALCE's citation recall and precision over an answer's `[n]` markers.

    Sentences come from the project's splitter; a sentence's markers name passages by their
    number in the prompt. Per sentence (markers removed from the text judged):
    - no marker, or one naming no passage shown: unsupported, and its markers are not counted;
    - otherwise (at most `at_most` markers) it is supported when the cited passages together
      entail it. recall = supported sentences / sentences.
    - a citation is precise when its sentence is supported and it is needed: with several
      markers, one whose passage does not entail the sentence alone while the others do
      without it is over-citation. precision = precise citations / citations (0 without any).
    Entailment is the judge's "supported" verdict (`support="judge"`, ALCE uses an NLI model),
    or the share of the sentence's content words found in the passages (`support="lexical"`,
    no model; the attribution threshold).
    """

    def __init__(self, judge: Judge | str | None = None, *, support: str = "judge",
                 at_most: int = 3, constrain: bool = True):
        self.support = _choice(support, ("judge", "lexical"), self.name, "support")
        if not isinstance(at_most, int) or at_most < 1:
            raise UserError(f"metric '{self.name}': at_most must be a positive integer")
        self.at_most = at_most
        self.judge = Judge.of(judge, constrain=constrain)

    def evaluate(self, prediction, case):
        if (bad := _prediction_error(prediction)) is not None:
            return bad
        by_number = {p["number"]: p for p in passages_of(case)}
        if not by_number:
            return MetricResult.error("no passages the answer could cite")
        about = {"support": self.support}
        if self.support == "judge":
            about.update(self.judge.describe(VERDICTS_PROMPT))
        try:
            counts = self.alce(str(prediction), by_number)
        except Unparsable as exc:
            return exc.result(**about)
        if counts is None:
            return MetricResult.error("the answer has no sentences")
        return self.value(counts, about)

    def value(self, counts: dict, about: dict) -> MetricResult:
        raise NotImplementedError

    def alce(self, answer: str, by_number: dict[int, dict]) -> dict | None:
        from promptkit.pipeline.attribution import marker_numbers, sentences

        units = sentences(answer)
        if not units:
            return None
        rows, precise_total, cited_total = [], 0, 0
        for unit in units:
            target = split_sentences(unit)
            target = target[0] if target else unit
            refs = list(dict.fromkeys(marker_numbers(unit)))
            row = {"sentence": target, "citations": refs, "supported": False, "precise": []}
            rows.append(row)
            if not refs or any(n not in by_number for n in refs):
                continue
            refs = row["citations"] = refs[:self.at_most]
            cited_total += len(refs)
            row["supported"] = self._entails(target, [by_number[n] for n in refs])
            if not row["supported"]:
                continue
            for n in refs:
                needed = (len(refs) == 1 or self._entails(target, [by_number[n]])
                          or not self._entails(target, [by_number[m] for m in refs if m != n]))
                if needed:
                    row["precise"].append(n)
            precise_total += len(row["precise"])
        return {"sentences": rows, "supported": sum(r["supported"] for r in rows),
                "n_sentences": len(rows), "precise": precise_total, "citations": cited_total}

    def _entails(self, claim: str, passages: list[dict]) -> bool:
        if self.support == "lexical":
            from promptkit.pipeline.attribution import THRESHOLD, content_words

            words = content_words(claim)
            found = content_words(" ".join(p["text"] for p in passages))
            return bool(words) and len(words & found) / len(words) >= THRESHOLD
        (row,) = check_claims(self.judge, [claim], numbered(passages))
        return row["verdict"] == "supported"


class CitationRecall(_Citations):
    name = "citation_recall"

    def value(self, counts, about):
        return MetricResult(counts["supported"] / counts["n_sentences"],
                            detail={**counts, **about})


class CitationPrecision(_Citations):
    name = "citation_precision"

    def value(self, counts, about):
        value = counts["precise"] / counts["citations"] if counts["citations"] else 0.0
        return MetricResult(value, detail={**counts, **about})


GROUNDING_METRICS = {
    "faithfulness": Faithfulness,
    "answer_relevancy": AnswerRelevancy,
    "context_precision": ContextPrecision,
    "context_recall": ContextRecall,
    "citation_recall": CitationRecall,
    "citation_precision": CitationPrecision,
}

__all__ = ["GROUNDING_METRICS", "AnswerRelevancy", "CitationPrecision", "CitationRecall",
           "ContextPrecision", "ContextRecall", "Faithfulness", "check_claims", "numbered",
           "passages_of", "rank_weighted_precision", "split_sentences"]
