"""``python -m trdetr_cap.captions generate | merge | embed``: ``trdetr-cap captions``
(:mod:`trdetr_cap.commands.captions`)."""

from trdetr_cap.commands.captions import main

if __name__ == "__main__":
    raise SystemExit(main())
