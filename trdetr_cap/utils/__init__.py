"""Small shared helpers (numpy-only; importing this package never imports torch)."""
