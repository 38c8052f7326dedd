"""Rebuild the vectors shipped beside the demo corpus (corpora/demo.<embedder>.npz).

Run after editing the demo corpus or changing the default embedder or its version:

    python scripts/demo_vectors.py [--embedder e5-multilingual]

It ingests corpora/demo into a temporary home with the embedder's cache there, then writes
every cached passage vector. tests/test_demo_vectors.py checks the file matches the corpus.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embedder", default=None, help="default: the library's default embedder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROMPTKIT_HOME"] = tmp
        os.environ.pop("PROMPTKIT_EMBED_CACHE", None)
        from promptkit.embedders import DEFAULT
        from promptkit.paths import demo_corpus_dir
        from promptkit.pipeline.demo import seed_path
        from promptkit.store import open_collection

        name = args.embedder or DEFAULT
        collection = open_collection("demo", embedder=name, create=True)
        print(collection.ingest([demo_corpus_dir()]))
        out = seed_path(collection.embedder.name)
        n = collection.embedder.export_seed(out)
        print(f"wrote {n} vectors to {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
