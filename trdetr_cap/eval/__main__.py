"""``python -m trdetr_cap.eval SUBMISSION --gt GT [--out METRICS.json]``: ``trdetr-cap eval``
(:mod:`trdetr_cap.commands.eval`); ``--submission FILE`` is accepted as well."""

from trdetr_cap.commands.eval import main

if __name__ == "__main__":
    raise SystemExit(main())
