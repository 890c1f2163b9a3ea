"""``python -m trdetr_cap.import_checkpoint``: see :mod:`trdetr_cap.engine.original_checkpoint`."""

from trdetr_cap.engine.original_checkpoint import main

if __name__ == "__main__":
    raise SystemExit(main())
