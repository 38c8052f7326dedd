"""The vector store: Chroma collections that remember the embedder and chunking that built them.

    coll = open_collection("demo", embedder="minilm")
    report = coll.ingest(["corpora/demo"])
    hits = coll.search("¿Qué es la atención?", k=4, hybrid=True)
"""

from promptkit.retrieval.hits import Hit
from promptkit.store.collection import Collection, list_collections, open_collection
from promptkit.store.ingest import IngestProgress, IngestReport, IngestSkipped

__all__ = ["Collection", "Hit", "IngestProgress", "IngestReport", "IngestSkipped",
           "list_collections", "open_collection"]
