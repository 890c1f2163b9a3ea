"""``python -m trdetr_cap.train``: the older spelling of ``trdetr-cap train`` (:mod:`trdetr_cap.commands.train`)."""

from trdetr_cap.commands.train import main

if __name__ == "__main__":
    raise SystemExit(main())
