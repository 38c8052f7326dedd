"""kv: Lost in the Middle's synthetic key-value retrieval, the asked key moved to each position.

Each record of a LITM `kv-retrieval-*.jsonl.gz` file holds UUID key-value pairs and the key to
look up. The model sees a JSON object of `n_pairs` pairs (the asked one plus the first others)
and must give the value; the asked pair is put at each position in turn. Analysed and drawn
like `position`.
"""

from __future__ import annotations

import gzip
import hashlib
import json

from promptkit.errors import ConfigError, UserError
from promptkit.evaluation.datasets import Case
from promptkit.experiments import position
from promptkit.experiments.cells import Cell, Context, Plan
from promptkit.experiments.data import make_dataset
from promptkit.safeparse import loads_json

analyse, plot, markdown = position.analyse, position.plot, position.markdown
contrasts = position.contrasts


def _records(path, limit: int | None) -> tuple[list[dict], str]:
    digest = hashlib.sha256()
    out = []
    try:
        with gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                digest.update(line)
                if limit is not None and len(out) >= limit:
                    continue   # keep hashing: the hash stands for the whole file
                rec = loads_json(line)
                if not {"ordered_kv_records", "key", "value"} <= set(rec):
                    raise ConfigError("expected ordered_kv_records, key and value", path=str(path),
                                      line=lineno)
                out.append(rec)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read key-value records: {exc}", path=str(path)) from exc
    return out, digest.hexdigest()


def build(ctx: Context) -> Plan:
    cfg, s = ctx.cfg, ctx.cfg.kv
    n = s.n_pairs
    positions = s.positions if s.positions is not None else sorted({0, n // 4, n // 2,
                                                                   (3 * n) // 4, n - 1})
    bad = [p for p in positions if not 0 <= p < n]
    if bad:
        raise ConfigError(f"positions {bad} are outside 0..{n - 1}", path=cfg.source,
                          field="kv.positions")
    records, digest = _records(cfg.resolve_path(cfg.data.path), ctx.limit)
    if not records:
        raise UserError(f"no key-value records in {cfg.data.path}")
    basis = ctx.basis(digest)
    cells = []
    for p in positions:
        cases = [_case(i, rec, n, p) for i, rec in enumerate(records)]
        cells.append(Cell(f"key-at-{p}", f"key at {p + 1} of {n}",
                          make_dataset(f"key-at-{p}", cases, cfg.data.path, basis), cfg.prompt,
                          cfg.prompt, k=1, group="position", meta={"position": p}))
    position.check_fit(ctx, cells[-1])
    note = f"{len(records)} records, {n} pairs each"
    ctx.notify(f"kv: {note}")
    return Plan(cells, {"n_docs": n, "positions": positions, "unit": "asked key",
                        "items": "key-value pairs",
                        "selection_note": note},
                prefix_order=[f"key-at-{p}" for p in sorted(positions, reverse=True)])


def _case(i: int, rec: dict, n: int, p: int) -> Case:
    others = [kv for kv in rec["ordered_kv_records"] if kv[0] != rec["key"]][:n - 1]
    pairs = others[:p] + [[rec["key"], rec["value"]]] + others[p:]
    text = json.dumps(dict(pairs), indent=1)
    return Case(id=f"kv{i:04d}", question=json.dumps(rec["key"]), answers=[rec["value"]],
                contexts=[{"id": f"kv{i:04d}-at-{p}", "source": "JSON data", "text": text}],
                metadata={"key_position": p})
