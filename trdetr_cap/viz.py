"""``python -m trdetr_cap.viz PREDS.jsonl ...``: ``trdetr-cap viz`` (:mod:`trdetr_cap.commands.viz`); the figures are
:mod:`trdetr_cap.plots`."""

from trdetr_cap.commands.viz import main

if __name__ == "__main__":
    raise SystemExit(main())
