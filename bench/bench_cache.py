"""Response cache: latency of a hit vs a miss (a real SmolLM2 generation), and the cache's own
cost on a miss compared with no cache at all (measured on an instant fake model, so the model's
run-to-run noise does not hide it).

    python bench/bench_cache.py [--prompts 8] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def fake_overhead_ms(recordings: bool, calls: int = 300) -> float:
    """Per-call time with a read-write cache (all misses) minus without, on an instant model.

    `recordings=False`: the default cache in PROMPTKIT_HOME (WAL journal); True: an explicit
    file such as a regression suite's recordings (rollback journal).
    """
    import os

    from promptkit.llm import GenParams
    from promptkit.llm.cache import ResponseCache
    from promptkit.testing.fakes import FakeChatModel

    params = GenParams(max_tokens=64)
    prompts = [[{"role": "system", "content": "Answer from the passages. " * 20},
                {"role": "user", "content": f"Question {i}: " + "context words " * 200}]
               for i in range(calls)]
    with tempfile.TemporaryDirectory() as tmp:
        plain = FakeChatModel(default="An answer of a few words [1].")
        cached = FakeChatModel(default="An answer of a few words [1].")
        os.environ["PROMPTKIT_HOME"] = tmp
        cached.cache = ResponseCache(Path(tmp) / "rec.sqlite" if recordings else None,
                                     "read-write")
        timings = {}
        for name, model in (("plain", plain), ("cached", cached)):
            t0 = time.perf_counter()
            for messages in prompts:
                model.generate(messages, params)
            timings[name] = (time.perf_counter() - t0) / calls
        cached.cache.close()
    return (timings["cached"] - timings["plain"]) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    args = ap.parse_args()

    from promptkit.llm import GenParams, get_model

    params = GenParams(max_tokens=args.max_tokens)
    questions = [[{"role": "user", "content": f"Give one fact about the number {i}."}]
                 for i in range(args.prompts)]
    with tempfile.TemporaryDirectory() as tmp:
        cached = get_model("llamacpp:smollm2-135m", cache_mode="read-write",
                           cache_path=Path(tmp) / "bench-cache.sqlite")
        plain = get_model("llamacpp:smollm2-135m", cache_mode="off")
        plain.generate(questions[0], params)  # load the weights outside the timings

        def timed(model, messages) -> tuple[float, bool]:
            t0 = time.perf_counter()
            gen = model.generate(messages, params)
            return time.perf_counter() - t0, gen.cached

        no_cache, misses, hits = [], [], []
        for messages in questions:
            secs, _ = timed(plain, messages)
            no_cache.append(secs)
            secs, was_hit = timed(cached, messages)
            assert not was_hit
            misses.append(secs)
        for messages in questions:
            secs, was_hit = timed(cached, messages)
            assert was_hit
            hits.append(secs)

    overhead_default, overhead_recordings = fake_overhead_ms(False), fake_overhead_ms(True)
    med = statistics.median
    print(f"{args.prompts} prompts, {args.max_tokens} max tokens, model llamacpp:smollm2-135m; "
          "medians")
    print(f"no cache (baseline)  : {med(no_cache) * 1000:9.2f} ms")
    print(f"cache miss (+ store) : {med(misses) * 1000:9.2f} ms")
    print(f"cache hit            : {med(hits) * 1000:9.2f} ms")
    print(f"speed-up hit vs miss : {med(misses) / med(hits):9.0f}x")
    print("cache cost on a miss (key + lookup + store; instant fake model, 300 calls):")
    print(f"  default cache (WAL)        : {overhead_default:+8.2f} ms per call")
    print(f"  recordings file (journal)  : {overhead_recordings:+8.2f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
