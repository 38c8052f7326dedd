"""The smallest useful regression suite, as YAML text: one grounded case about Ada Lovelace."""

ONE_CASE_SUITE = """\
name: {name}
prompts: [{prompt}]
model: {model}
cases:
  - id: ok
    question: Who wrote the first program?
    context: ["Ada Lovelace wrote the first program."]
    answers: [Lovelace]
    assert: [{{type: icontains-any}}]
"""


def one_case_suite(name: str, *, prompt: str = "rag-answer@2", model: str = "fake:echo") -> str:
    return ONE_CASE_SUITE.format(name=name, prompt=prompt, model=model)
