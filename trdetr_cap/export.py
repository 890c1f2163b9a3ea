"""``python -m trdetr_cap.export``: see :mod:`trdetr_cap.commands.export`."""

from trdetr_cap.commands.export import main

if __name__ == "__main__":
    raise SystemExit(main())
