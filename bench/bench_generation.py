"""Generation speed through the pipeline vs raw llama-cpp-python on the same rendered prompt.

    python bench/bench_generation.py [--rounds 5] [--max-tokens 128] [--model SPEC]

The model defaults to the library's default (the most capable packaged model installed).

Both sides use the same in-process Llama object, the same chat messages (rendered by the
pipeline from demo-corpus passages given as oracle contexts, so no store or embedder is
involved) and the same sampling settings; runs alternate so background load hits both alike.
Target: pipeline tokens/s >= 0.95 x raw.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUESTION = "Explain in detail how BERT is pre-trained and what its limitations are."


def demo_passages(n: int = 3) -> list[dict]:
    from promptkit.paths import demo_corpus_dir

    corpus = demo_corpus_dir()
    files = sorted(corpus.glob("bert-*.md"))[:n] or sorted(corpus.glob("*"))[:n]
    # The first ~100 words of each file: realistic passage sizes.
    return [{"id": f.stem, "source": f.name, "text": " ".join(f.read_text().split()[:100])}
            for f in files]


def raw_run(llm, messages, params) -> tuple[float, float, float]:
    """(CPU seconds, wall seconds, seconds to first token) with llama-cpp-python directly."""
    llm.reset()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    first = None
    finish = None
    for part in llm.create_chat_completion(messages=messages, temperature=params.temperature,
                                           top_p=params.top_p, max_tokens=params.max_tokens,
                                           seed=params.seed,
                                           repeat_penalty=params.repeat_penalty or 1.0,
                                           stream=True):
        choice = part["choices"][0]
        if choice["delta"].get("content") and first is None:
            first = time.perf_counter() - t0
        finish = choice.get("finish_reason") or finish
    return time.process_time() - cpu0, time.perf_counter() - t0, first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--model", default=None, help="a llamacpp: spec (default: the default model)")
    args = ap.parse_args()

    from promptkit.llm import get_model
    from promptkit.llm.specs import default_spec
    from promptkit.pipeline import Pipeline

    model = get_model(args.model or default_spec(), cache_mode="off")
    pipe = Pipeline(model=model, collection=None, mode="oracle", max_tokens=args.max_tokens)
    contexts = demo_passages()
    warm = pipe.ask(QUESTION, contexts=contexts)  # loads the model, renders the messages
    messages, params = warm.trace["messages"], pipe.params
    n_tokens = warm.trace["usage"]["completion_tokens"]
    llm = model.llm

    ours, raw, ours_decode, raw_decode, ours_cpu, raw_cpu = [], [], [], [], [], []
    def run_raw() -> None:
        cpu, secs, first = raw_run(llm, messages, params)
        raw_cpu.append(n_tokens / cpu)
        raw.append(n_tokens / secs)
        raw_decode.append((n_tokens - 1) / (secs - first))

    def run_ours() -> None:
        cpu0 = time.process_time()
        answer = pipe.ask(QUESTION, contexts=contexts)
        ours_cpu.append(n_tokens / (time.process_time() - cpu0))
        assert answer.trace["usage"]["completion_tokens"] == n_tokens, "outputs diverged"
        lat = answer.trace["latency"]
        ours.append(n_tokens / lat["total_s"])
        ours_decode.append((n_tokens - 1) / (lat["generate_s"] - lat["first_token_s"]))

    for i in range(args.rounds):
        # Alternate who goes first, so neither side always runs right after the other.
        for run in ((run_raw, run_ours) if i % 2 == 0 else (run_ours, run_raw)):
            run()

    med = statistics.median
    print(f"prompt: {warm.trace['usage']['prompt_tokens']} tokens, answer: {n_tokens} tokens, "
          f"rounds: {args.rounds} (median), model: {model.spec}")
    # Wall-clock rates swing with other processes on the machine; tokens per CPU-second of
    # this process is the steadier measure of promptkit's own overhead.
    print("                        end-to-end tok/s   decode-only tok/s   tok per CPU-s")
    print(f"raw llama-cpp-python :  {med(raw):10.1f}        {med(raw_decode):10.1f}"
          f"        {med(raw_cpu):10.1f}")
    print(f"promptkit pipeline   :  {med(ours):10.1f}        {med(ours_decode):10.1f}"
          f"        {med(ours_cpu):10.1f}")
    ratios = (med(ours) / med(raw), med(ours_decode) / med(raw_decode),
              med(ours_cpu) / med(raw_cpu))
    print(f"ratio pipeline/raw   :  {ratios[0]:10.3f}        {ratios[1]:10.3f}"
          f"        {ratios[2]:10.3f}   (target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
