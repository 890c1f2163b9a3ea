"""``python -m trdetr_cap.predict``: the older spelling of ``trdetr-cap predict``
(:mod:`trdetr_cap.commands.predict`)."""

from trdetr_cap.commands.predict import main

if __name__ == "__main__":
    raise SystemExit(main())
