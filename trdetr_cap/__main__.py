"""``python -m trdetr_cap``: the ``trdetr-cap`` command line (:mod:`trdetr_cap.cli`)."""

from trdetr_cap.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
