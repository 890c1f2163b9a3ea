"""Video decoding (PyAV) and per-clip CLIP / SlowFast features in the released QVHighlights layout."""
