"""Text for a new prompt version: the latest one with its version bumped and labels cleared."""

from __future__ import annotations

import yaml

# A fresh prompt when the name does not exist yet: grounded QA, the most common case.
FRESH = """\
name: {name}
version: 1
kind: zero-shot
description: What this prompt is for (edit me).
system: |-
  Answer the question using only the numbered context passages.
  Cite the passages you use like [1]. Answer in the language of the question.
template: |-
  Context:
  {{context}}

  Question: {{question}}
  Answer:
params:
  temperature: 0.0
  max_tokens: 256
labels: []
"""


def fresh_text(name: str) -> str:
    return FRESH.format(name=name)


def next_version_text(text: str, new_version: int) -> str:
    """Edit the YAML text in place (comments and layout survive): new version, no labels.

    Labels stay with the released version; moving `production` is a deliberate later step.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    edits: list[tuple[int, int, str]] = []
    for key, value in root.value:
        if key.value == "version":
            edits.append((value.start_mark.index, value.end_mark.index, str(new_version)))
        elif key.value == "labels":
            # A block list's own end mark lies at the next key, past any comment lines in
            # between; its last item's end keeps those lines (and the line break).
            block = isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value
            end = value.value[-1].end_mark.index if block else value.end_mark.index
            edits.append((key.start_mark.index, end, "labels: []"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text
