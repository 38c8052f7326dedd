"""The RAG pipeline: retrieve, pack, render, generate, answer with citations and a trace."""

from promptkit.pipeline.answer import Answer, Citation, parse_citations
from promptkit.pipeline.pack import ORDERS, ContextChunk, Packing, pack
from promptkit.pipeline.pipeline import DEFAULT_PROMPTS, MODES, Pipeline, ask

__all__ = ["DEFAULT_PROMPTS", "MODES", "ORDERS", "Answer", "Citation", "ContextChunk", "Packing",
           "Pipeline", "ask", "pack", "parse_citations"]
