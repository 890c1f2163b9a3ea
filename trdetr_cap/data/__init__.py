"""Data: annotations, feature stores, caption features, the dataset + collate, packing and the synthetic dataset.

Public API (docs/contracts.md): ``build_dataset(cfg, split)``, ``collate(samples)``, ``move_to_device(batch, device)``.
They are imported on first use so that the CLIs of this package (``pack``, ``synthetic``) start without torch.
"""

from __future__ import annotations

__all__ = ["MomentDataset", "build_dataset", "collate", "move_to_device"]


def __getattr__(name: str):
    if name in __all__:
        from trdetr_cap.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'trdetr_cap.data' has no attribute {name!r}")
