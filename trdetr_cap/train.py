"""``python -m trdetr_cap.train``: see :mod:`trdetr_cap.engine.train`."""

from trdetr_cap.engine.train import main

if __name__ == "__main__":
    raise SystemExit(main())
