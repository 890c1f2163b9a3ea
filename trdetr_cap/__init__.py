"""trdetr_cap: TR-DETR with caption-guided cross-modal fusion for video moment retrieval and highlight detection.

Importing the package is cheap (no torch): heavy objects are loaded on first attribute access.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["MomentRetriever", "__version__"]


def __getattr__(name: str):
    if name == "MomentRetriever":
        from trdetr_cap.retriever import MomentRetriever

        return MomentRetriever
    raise AttributeError(f"module 'trdetr_cap' has no attribute {name!r}")
