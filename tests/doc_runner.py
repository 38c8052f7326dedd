"""Run one page's examples in order, in the current folder: `python doc_runner.py PLAN RESULT`.

PLAN is a JSON list of {"where", "lang", "code"}. Shell blocks run in bash with -e and
pipefail; Python blocks run in this process, each in a fresh namespace (modules stay loaded,
as in a notebook); "pytest" blocks are written to a test module that pytest runs.
RESULT receives one {"where", "ok", "seconds"} per block run; the first failure stops the
page. Output goes to stdout, each block's after a `=== where` line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

STEP_TIMEOUT_S = 240


def run_shell(code: str) -> bool:
    try:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code],
                              stdout=sys.stdout, stderr=subprocess.STDOUT,
                              timeout=STEP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        print(f"timed out after {STEP_TIMEOUT_S} s")
        return False
    if proc.returncode:
        print(f"exit code {proc.returncode}")
    return proc.returncode == 0


def run_pytest(code: str, index: int) -> bool:
    module = Path(f"test_doc_example_{index}.py")
    module.write_text(code, encoding="utf-8")
    return run_shell(f'"{sys.executable}" -m pytest -q -p no:cacheprovider {module}')


def run_python(code: str, where: str) -> bool:
    try:
        exec(compile(code, where, "exec"), {"__name__": "__main__"})  # noqa: S102 - the docs
    except SystemExit as exc:
        return exc.code in (None, 0)
    except BaseException:  # noqa: BLE001 - report any failure of the example
        traceback.print_exc(file=sys.stdout)
        return False
    return True


def main() -> int:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    results = []
    for index, step in enumerate(plan):
        print(f"=== {step['where']}", flush=True)
        start = time.perf_counter()
        if step["lang"] == "pytest":
            ok = run_pytest(step["code"], index)
        elif step["lang"] == "python":
            ok = run_python(step["code"], step["where"])
        else:
            ok = run_shell(step["code"])
        sys.stdout.flush()
        results.append({"where": step["where"], "ok": ok,
                        "seconds": round(time.perf_counter() - start, 2)})
        Path(sys.argv[2]).write_text(json.dumps(results), encoding="utf-8")
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
