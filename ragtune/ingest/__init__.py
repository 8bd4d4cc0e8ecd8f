"""Ingest: load, chunk, embed and write documents incrementally."""

from __future__ import annotations

from ragtune.ingest.report import IngestError, IngestReport
from ragtune.ingest.sync import Syncer, sync_paths

__all__ = ["IngestError", "IngestReport", "Syncer", "sync_paths"]
