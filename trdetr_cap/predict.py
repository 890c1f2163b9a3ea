"""``python -m trdetr_cap.predict``: see :mod:`trdetr_cap.engine.predict`."""

from trdetr_cap.engine.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
