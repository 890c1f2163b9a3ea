"""``python -m trdetr_cap.demo``: see :mod:`trdetr_cap.commands.demo`."""

from trdetr_cap.commands.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
