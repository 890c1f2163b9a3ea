"""``python -m trdetr_cap.inference CKPT VIDEO --query ...``: ``trdetr-cap infer`` (:mod:`trdetr_cap.commands.infer`).

The Python API is :class:`trdetr_cap.MomentRetriever` (:mod:`trdetr_cap.retriever`).
"""

from trdetr_cap.commands.infer import main

if __name__ == "__main__":
    raise SystemExit(main())
