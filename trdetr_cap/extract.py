"""``python -m trdetr_cap.extract videos | queries``: ``trdetr-cap extract`` (:mod:`trdetr_cap.commands.extract`)."""

from trdetr_cap.commands.extract import main

if __name__ == "__main__":
    raise SystemExit(main())
