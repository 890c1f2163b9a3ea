"""MLLM captions for every 2 s clip (python -m trdetr_cap.captions) and their text embeddings."""
