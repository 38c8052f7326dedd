"""Sources for every answer: `[n]` markers checked, unmarked sentences attributed.

A sentence that carries `[n]` markers is `cited`: each number must name a passage the model
was shown (others are ignored); a cited passage that hardly supports its sentence is reported
as a weak marker, and so is one far below another passage given that supports the sentence
well. A sentence without markers, or whose markers are all weak, is `attributed` to the
passage that supports it best, if any supports it well enough.
Support mixes two signals, each in [0, 1]:
- lexical: the share of the sentence's content words (accents folded, Spanish and English
  function words dropped) that occur in the passage; numbers and names weigh most here;
- semantic: the cosine between the sentence (embedded as a query) and the passage, when an
  embedder is at hand (the collection's own; passages are then usually cached by content).
The weights and the threshold were set on the demo QA set's answers (bench/answer_quality.py
reports the resulting source rates); an answer no passage supports gets no source, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from promptkit.pipeline.pack import Packing
from promptkit.retrieval.bm25 import fold

CITED, ATTRIBUTED = "cited", "attributed"
# Weighted support needed for an attribution; see the module docstring.
THRESHOLD = 0.45
# A cited passage whose support is below this is reported as a weak marker (the trace's
# `unsupported_markers`), and the sentence is also attributed like an unmarked one. The marker
# itself stays: it is what the model wrote, and support is only promptkit's estimate.
CITED_MIN = 0.2
# A marker is also reported as weak when another passage given supports the sentence well
# (at least THRESHOLD) and by this much more than the one named: the model copied the sentence
# from [1] and wrote [3]. Measured on a fresh `ask`: 0.84 for the copied passage, 0.30 cited.
MISPLACED_MARGIN = 0.3
LEXICAL_WEIGHT = 0.6
# multilingual-e5's cosines crowd into [0.7, 1]; rescale so unrelated text lands near 0.
COSINE_FLOOR = 0.75

# "[2]", "[1, 3]", "[1][2]", "[2; 4]": numbers inside square brackets, comma/semicolon lists.
MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]\s*)+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
# A full stop after a lone capital may be an initial ("Aidan N. Gomez", "P. Kevin Castel").
_INITIAL_END = re.compile(r"(?:^|[\s(])[A-Z]\.$")
_ABBREVIATION_END = re.compile(r"\b(?:et al|e\.g|i\.e|cf|vs|approx|aprox|p\. ej)\.$",
                               re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset("""
a al algo ante antes como con contra cual cuando de del desde donde durante e el ella ellas
ellos en entre era eran es esa ese eso esta este esto estos fue fueron ha han hay la las le les
lo los mas me mi muy ni no nos o otra otro para pero por porque que se segun ser si sin sobre
son su sus tambien tiene tienen un una uno unos y ya
an and are as at be been but by can did do does for from had has have he her his how i if in
into is it its may more most no not of on or our she so such than that the their them then
there these they this those to was we were what when where which who why will with would you
answer passage passages context pasaje pasajes contexto respuesta
""".split())


@dataclass
class Citation:
    """A source of an answer: which passage, how it was found, and how well it supports."""

    n: int             # the passage's number in the prompt ([n])
    chunk_id: str      # chunk id in the store
    source: str
    kind: str = CITED  # cited: the model wrote [n]; attributed: matched by support
    score: float | None = None

    @property
    def number(self) -> int:
        return self.n

    @property
    def id(self) -> str:
        return self.chunk_id


def content_words(text: str) -> set[str]:
    words = _WORD.findall(fold(MARKER.sub(" ", text)))
    return {w for w in words if w not in _STOP and (len(w) > 1 or w.isdigit())}


def sentences(text: str) -> list[str]:
    """Sentences, with a marker written after the full stop ("... 1954. [3]") kept with the
    sentence it closes."""
    units: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        lead = _LEADING_MARKERS.match(part)
        if units and lead:
            units[-1] = f"{units[-1]} {lead.group(0).strip()}"
            part = part[lead.end():].strip()
        if part and units and _not_a_sentence_end(units[-1], part):
            units[-1] = f"{units[-1]} {part}"
        elif part:
            units.append(part)
    return units


def _not_a_sentence_end(before: str, after: str) -> bool:
    """An initial followed by a name ("N. Gomez") is not a sentence end; a lone capital
    before an ordinary word ("vitamin C. They", "Plan B. El plan") is. Nor is "et al." or
    "e.g." before a word in lower case or a year in brackets ("Kojima et al. (2022) found")."""
    if _ABBREVIATION_END.search(before) and (after[:1].islower() or after[:1] == "("):
        return True
    if not _INITIAL_END.search(before):
        return False
    first = _WORD.match(after)
    return bool(first) and first.group(0)[0].isupper() and first.group(0).lower() not in _STOP


def marker_numbers(text: str) -> list[int]:
    numbers = []
    for match in MARKER.finditer(text):
        numbers += [int(part) for part in re.split(r"[,;]", match.group(1))]
    return numbers


def parse_citations(text: str, packing: Packing | None) -> list[Citation]:
    """Citations for the [n] markers that name a passage in the prompt, first mention first.

    Numbers with no passage behind them (a model inventing "[7]" when it saw four) are ignored:
    a citation must point at something the model was actually shown.
    """
    if packing is None:
        return []
    found: dict[int, Citation] = {}
    for n in marker_numbers(text):
        packed = packing.chunk_for(n)
        if packed is not None and n not in found:
            found[n] = Citation(n, packed.chunk.id, packed.chunk.source)
    return list(found.values())


class Attributor:
    """Scores how well each passage supports each sentence of an answer."""

    def __init__(self, embedder=None, *, threshold: float = THRESHOLD,
                 lexical_weight: float = LEXICAL_WEIGHT):
        self.embedder = embedder
        self.threshold = threshold
        self.lexical_weight = lexical_weight
        self.unsupported: list[int] = []   # markers of the last answer no passage backed

    def support(self, units: Sequence[str], passages: Sequence[str]) -> np.ndarray:
        """(units × passages) support scores in [0, 1]."""
        lexical = np.zeros((len(units), len(passages)))
        passage_words = [content_words(p) for p in passages]
        for i, unit in enumerate(units):
            words = content_words(unit)
            if words:
                lexical[i] = [len(words & pw) / len(words) for pw in passage_words]
        semantic = self._semantic(units, passages)
        if semantic is None:
            return lexical
        w = self.lexical_weight
        return w * lexical + (1 - w) * semantic

    def _semantic(self, units, passages) -> np.ndarray | None:
        if self.embedder is None or not units or not passages:
            return None
        clean = [MARKER.sub(" ", u) for u in units]
        queries = np.stack([self.embedder.embed_query(u) for u in clean])
        docs = self.embedder.embed_documents(list(passages))
        cosine = queries @ docs.T
        return np.clip((cosine - COSINE_FLOOR) / (1 - COSINE_FLOOR), 0.0, 1.0)

    def citations(self, text: str, packing: Packing | None) -> list[Citation]:
        """Cited sources for marked sentences, attributed ones for the rest, in answer order,
        except that a marker weak wherever it was written comes after the sources that do
        support the answer (the first source shown is one to check the answer against)."""
        if packing is None or not packing.chunks or not text.strip():
            return []
        units = sentences(text) or [text]
        passages = [p.chunk.text for p in packing.chunks]
        numbers = [p.number for p in packing.chunks]
        scores = self.support(units, passages)
        found: dict[int, Citation] = {}
        weak_somewhere: list[int] = []
        backed: set[int] = set()   # passages that support at least one sentence they are on
        for i, unit in enumerate(units):
            marked = [n for n in dict.fromkeys(marker_numbers(unit))
                      if packing.chunk_for(n) is not None]
            support = {n: scores[i][numbers.index(n)] for n in marked}
            for n in marked:
                self._add(found, n, CITED, support[n], packing)
            best = int(np.argmax(scores[i]))
            clearly_better = (scores[i][best] >= self.threshold
                              and numbers[best] not in marked)
            weak = [n for n in marked if support[n] < CITED_MIN
                    or (clearly_better and scores[i][best] - support[n] >= MISPLACED_MARGIN)]
            weak_somewhere += weak
            backed.update(n for n in marked if n not in weak)
            # A sentence whose every marker is weak is also attributed, so the passage that
            # does support it is shown beside the one the model named.
            if (marked and len(weak) < len(marked)) or not content_words(unit):
                continue
            if clearly_better:
                self._add(found, numbers[best], ATTRIBUTED, scores[i][best], packing)
                backed.add(numbers[best])
        # A marker is weak when it supports none of the sentences it is on (a marker on a
        # filler sentence, "This is supported by passage [1].", is not, if [1] supports another).
        self.unsupported = [n for n in dict.fromkeys(weak_somewhere) if n not in backed]
        # Stable: answer order within each group.
        return sorted(found.values(), key=lambda c: c.n not in backed)

    @staticmethod
    def _add(found: dict, n: int, kind: str, score: float, packing: Packing) -> None:
        score = round(float(score), 4)
        old = found.get(n)
        if old is None:
            chunk = packing.chunk_for(n).chunk
            found[n] = Citation(n, chunk.id, chunk.source, kind, score)
        else:   # cited if the model wrote it anywhere; its best support over its sentences
            old.kind = CITED if CITED in (kind, old.kind) else kind
            old.score = max(score, old.score or 0)
