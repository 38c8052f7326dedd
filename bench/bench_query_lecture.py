"""Which embedder should be the default? Retrieval quality and speed on the Spanish lecture.

For each embedder (and BM25 / hybrid), the share of questions whose answer-bearing chunk is in
the top 3 (hit@3), plus ingest time and median query latency. The questions are ours, about
../shared/seed/de-bert-a-llms.txt: mostly Spanish, some English (users are bilingual).

    .venv/bin/python bench/bench_query_lecture.py [--embedders minilm,e5-multilingual]
                                                  [--chunk-tokens 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ROOT.parent / "shared" / "seed" / "de-bert-a-llms.txt"

# (question, a substring that only an answer-bearing chunk contains)
QUESTIONS = [
    ("¿Qué porcentaje de los tokens se enmascara en el entrenamiento MLM de BERT?", "15%"),
    ("¿Cuántos parámetros tiene BERT large?", "340 million"),
    ("¿Cuántos parámetros tiene la versión base de BERT?", "110 million"),
    ("¿Qué problema causaban las RNN al modelar secuencias?", "desvanecimiento de gradiente"),
    ("¿Hasta cuándo fue LSTM la estrategia estándar para secuencias largas?", "aparición en 2017"),
    ("¿Qué permite el mecanismo de atención durante la decodificación?",
     "centrarse en diferentes partes"),
    ("¿Cuántas capas de LSTM tenían el codificador y el decodificador de GNMT?", "8 capas"),
    ("¿Qué significa ELMo?", "embeddings from language model"),
    ("¿Cuáles son las partes de la arquitectura de BERT?", "BERT consta de 4 partes"),
    ("¿Qué token especial separa los dos segmentos en la predicción de la siguiente oración?",
     "[SEP]"),
    ("¿Cuánto costó entrenar BERT base?", "500 USD"),
    ("¿Qué empresa desarrolla Claude?", "Claude (Anthropic)"),
    ("¿Qué es la ventana de contexto de un LLM?", "número de tokens que el modelo puede tomar"),
    ("¿Qué es el prompt engineering?", "práctica de diseñar y perfeccionar"),
    ("¿Por qué BERT no sirve bien para generar texto?", "no autorregresivo"),
    ("¿Qué ventajas ofrece desplegar un LLM en la nube?", "escalabilidad, flexibilidad"),
    ("¿En qué idioma se entrenó CamemBERT?", "corpus francés"),
    ("¿Quién comparó la traducción con un problema de criptografía?", "Warren Weaver"),
    ("¿Qué es Hugging Face?", "biblioteca de transformadores"),
    ("¿Cuántos parámetros tiene un modelo de lenguaje pequeño (SLM)?", "Los SLM tienen"),
    ("¿Qué tipos de atención hay?", "Self Attention & Cross"),
    ("¿Qué herramientas de contenerización se usan para desplegar LLMs?", "Docker"),
    ("¿Cuándo es accesible el vector de estado en los primeros seq2seq?",
     "sólo es accesible después"),
    ("¿Por qué los transformadores se entrenan más rápido que las RNN?",
     "no tener unidades recurrentes"),
    ("¿Qué es un prompt?", "pide a un LLM que realice una tarea"),
    ("¿Para qué tareas se usan los modelos seq2seq?", "generación de subtítulos"),
    ("What share of tokens does BERT mask during pre-training?", "15%"),
    ("Which company makes the Llama models?", "Llama (Meta)"),
    ("When was statistical machine translation dominant?", "Statistical machine translation"),
    ("How many days did BERT pre-training take?", "tardó 4 días"),
    ("What is the formula of scaled dot-product attention?", "sqrt{d_k}"),
    ("What does on-premise deployment of an LLM give an organisation?", "mayor control"),
    ("Who develops Qwen?", "Qwen (Alibaba)"),
    ("Is BERT an encoder-only or a decoder-only transformer?", "encoder only"),
]


def hit_at(hits, answer: str) -> bool:
    return any(answer in h.text for h in hits)


def measure(embedder: str, chunk_tokens: int, k: int = 3) -> dict:
    from promptkit.store import open_collection

    coll = open_collection(f"lecture-{embedder}".replace("/", "_")[:60], embedder=embedder)
    coll.embedder.embed_query("warm-up")       # load the model outside the timings
    t0 = time.perf_counter()
    coll.ingest([LECTURE], chunk_tokens=chunk_tokens, overlap=chunk_tokens // 8)
    ingest_s = time.perf_counter() - t0
    # Answers must be findable at all with this chunking (a split answer counts as unfindable).
    texts = [h.text for h in coll.get(coll.chroma.get(include=[])["ids"])]
    usable = [(q, a) for q, a in QUESTIONS if any(a in t for t in texts)]
    out = {"embedder": embedder, "chunks": len(texts), "questions": len(usable),
           "ingest_s": ingest_s}
    for mode, opts in (("dense", {}), ("hybrid", {"hybrid": True})):
        lat, hits = [], 0
        for q, a in usable:
            t = time.perf_counter()
            res = coll.search(q, k=k, **opts)
            lat.append(time.perf_counter() - t)
            hits += hit_at(res, a)
        out[f"{mode}_hit@{k}"] = hits / len(usable)
        out[f"{mode}_p50_ms"] = statistics.median(lat) * 1000
    return out


def bm25_only(chunk_tokens: int, k: int = 3) -> float:
    from promptkit.corpus import Chunker, load_file
    from promptkit.embedders import get_embedder
    from promptkit.retrieval.bm25 import BM25Index

    doc = next(d for d in load_file(LECTURE))
    count = get_embedder("minilm").count_tokens
    chunks = Chunker(count, chunk_tokens, chunk_tokens // 8).split(doc)
    index = BM25Index([c.id for c in chunks], [c.text for c in chunks])
    by_id = {c.id: c.text for c in chunks}
    usable = [(q, a) for q, a in QUESTIONS if any(a in c.text for c in chunks)]
    return sum(any(a in by_id[i] for i, _ in index.top(q, k)) for q, a in usable) / len(usable)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedders", default="minilm,e5-multilingual")
    ap.add_argument("--chunk-tokens", type=int, default=200)
    args = ap.parse_args(argv)
    if not LECTURE.is_file():
        print(f"skipped: {LECTURE} not found (../shared is absent in a fresh clone)")
        return 0
    os.environ["PROMPTKIT_HOME"] = tempfile.mkdtemp(prefix="pk-bench-lecture-")
    rows = [measure(e, args.chunk_tokens) for e in args.embedders.split(",")]
    print(f"Spanish lecture, chunks of {args.chunk_tokens} tokens, {len(QUESTIONS)} questions "
          f"({sum(1 for q, _ in QUESTIONS if q.startswith('¿'))} Spanish)")
    print(f"{'embedder':<18}{'chunks':>7}{'dense hit@3':>13}{'hybrid hit@3':>14}"
          f"{'ingest s':>10}{'query p50 ms':>14}")
    for r in rows:
        print(f"{r['embedder']:<18}{r['chunks']:>7}{r['dense_hit@3']:>13.2f}"
              f"{r['hybrid_hit@3']:>14.2f}{r['ingest_s']:>10.1f}{r['dense_p50_ms']:>14.1f}")
    print(f"{'bm25 only':<18}{'':>7}{bm25_only(args.chunk_tokens):>13.2f}")
    if len(rows) == 2:
        a, b = rows
        print(f"ratio ingest time {b['embedder']}/{a['embedder']}: "
              f"{b['ingest_s'] / a['ingest_s']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
