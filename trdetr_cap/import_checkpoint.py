"""``python -m trdetr_cap.import_checkpoint``: the older spelling of ``trdetr-cap import-checkpoint``
(:mod:`trdetr_cap.commands.import_checkpoint`)."""

from trdetr_cap.commands.import_checkpoint import main

if __name__ == "__main__":
    raise SystemExit(main())
