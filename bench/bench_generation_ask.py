"""`promptkit ask` wall time, split into start-up, retrieval and generation, against a bare
llama-cpp-python script that loads the same GGUF and answers the same rendered prompt.

    python bench/bench_generation_ask.py [--runs 3] [--max-tokens 64]

Uses the demo collection in $PROMPTKIT_HOME (built first, untimed, if missing) and runs every
command as a fresh process, as a user would. The cache is off so each run really generates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Several questions, so the runs do not all retrieve the same passages.
QUESTIONS = ["What is BERT and how is it pre-trained?",
             "What does quantization do to a GGUF model?",
             "Why do RNNs struggle with long sentences?", "What is multi-head attention?",
             "How does temperature change sampling?"]

RAW_SCRIPT = """
import json, sys, time
from llama_cpp import Llama
messages, max_tokens, path, n_ctx, repeat_penalty, n_threads = json.loads(sys.stdin.read())
t0 = time.perf_counter()
llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
t1 = time.perf_counter()
out = llm.create_chat_completion(messages=messages, temperature=0.0, top_p=1.0,
                                 max_tokens=max_tokens, seed=0, repeat_penalty=repeat_penalty,
                                 stream=True)
text = "".join(p["choices"][0]["delta"].get("content") or "" for p in out)
print(json.dumps({"load_s": t1 - t0, "generate_s": time.perf_counter() - t1, "text": text}))
"""


def timed(cmd: list[str], stdin: str | None = None, env: dict | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()
    def ask(question: str) -> list[str]:
        return [sys.executable, "-m", "promptkit", "ask", question, "--json", "--cache-mode", "off",
                "--max-tokens", str(args.max_tokens)]

    print(f"PROMPTKIT_HOME={os.environ.get('PROMPTKIT_HOME', '(default ./.promptkit)')}; "
          "warming up (builds the demo collection if needed) ...", flush=True)
    timed(ask("warm-up: what is a transformer?"))
    sys.path.insert(0, str(ROOT))
    from promptkit.llm.llamacpp import resolve_gguf

    rows, raw_walls, prompt_tokens, gen_pairs, same = [], [], [], [], []
    for i in range(args.runs):
        # An empty embedding cache: a first-time question, so the embedder really loads and runs.
        with tempfile.TemporaryDirectory() as empty:
            wall, out = timed(ask(QUESTIONS[i % len(QUESTIONS)]),
                              env={"PROMPTKIT_EMBED_CACHE": empty})
        trace = json.loads(out)["trace"]
        lat = trace["latency"]
        prompt_tokens.append(trace["usage"]["prompt_tokens"])
        _, path, _ = resolve_gguf(trace["model"]["spec"].split(":", 1)[1])
        model = trace["model"]
        # The same threads and OpenMP wait policy as promptkit's in-process model.
        raw_input = json.dumps([trace["messages"], args.max_tokens, str(path),
                                model["context_window"],
                                model["params"].get("repeat_penalty") or 1.0, model["n_threads"]])
        raw_env = {"OMP_WAIT_POLICY": model["omp_wait_policy"]} if model.get(
            "omp_wait_policy") else {}
        rows.append({"wall": wall,
                     "process start-up (python, imports, CLI)": wall - lat["command_s"],
                     "open store, load prompt": lat["command_s"] - lat["total_s"],
                     "retrieval (load embedder, embed, search)": lat["retrieve_s"],
                     "load model + pack context": lat["pack_s"],
                     "generation": lat["generate_s"]})
        raw_wall, raw_out = timed([sys.executable, "-c", RAW_SCRIPT], stdin=raw_input,
                                  env=raw_env)
        raw = json.loads(raw_out)
        raw_walls.append(raw_wall)
        gen_pairs.append((lat["generate_s"], raw["generate_s"]))
        same.append(raw["text"].strip() == json.loads(out)["text"].strip())

    med = statistics.median
    print(f"{args.runs} runs (median), {args.max_tokens} max tokens, "
          f"{med(prompt_tokens):.0f} prompt tokens, model {trace['model']['spec']}")
    for key in rows[0]:
        if key != "wall":
            print(f"  {key:42s} {med(r[key] for r in rows):7.2f} s")
    wall, raw = med(r["wall"] for r in rows), med(raw_walls)
    print(f"  {'promptkit ask, wall':42s} {wall:7.2f} s")
    print(f"  {'bare llama-cpp-python script, wall':42s} {raw:7.2f} s  (same prompt, no retrieval)")
    print(f"  ratio ask/bare: {wall / raw:.2f} (the difference is the store, the embedder and "
          "the CLI)")
    ask_gen, raw_gen = med(a for a, _ in gen_pairs), med(b for _, b in gen_pairs)
    print(f"  generation: promptkit {ask_gen:.2f} s, bare {raw_gen:.2f} s; promptkit's speed "
          f"relative to the bare script {raw_gen / ask_gen:.2f} (1.0 = as fast; same answer in "
          f"{sum(same)} of {len(same)} runs; threads {model['n_threads']}, "
          f"OMP_WAIT_POLICY {model.get('omp_wait_policy')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
