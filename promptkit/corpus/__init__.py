"""Corpora: files to documents (loaders), documents to chunks (token-sized splitting)."""

from promptkit.corpus.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP, Chunk, Chunker
from promptkit.corpus.documents import Document, Skip, SkipFile
from promptkit.corpus.files import FileList, list_files
from promptkit.corpus.loaders import LOADERS, load_file

__all__ = ["DEFAULT_CHUNK_TOKENS", "DEFAULT_OVERLAP", "LOADERS", "Chunk", "Chunker", "Document",
           "FileList", "Skip", "SkipFile", "list_files", "load_file"]
