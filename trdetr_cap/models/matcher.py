"""Hungarian matching of predicted spans to ground-truth spans (as the original's
tr_detr/matcher.py, DETR's matcher on 1-D spans)."""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from trdetr_cap.spans import generalized_temporal_iou, span_cxw_to_xx


class HungarianMatcher(nn.Module):
    """C = cost_span * L1(cxw) - cost_giou * gIoU(xx) - cost_class * softmax foreground probability (index 0).

    One cost matrix for the whole batch (B*Nq predictions x all targets), moved to CPU once, solved per sample.
    """

    def __init__(self, cost_span: float = 10.0, cost_giou: float = 1.0, cost_class: float = 4.0):
        super().__init__()
        if cost_span == 0 and cost_giou == 0 and cost_class == 0:
            raise ValueError("all matcher costs are 0")
        self.cost_span = cost_span
        self.cost_giou = cost_giou
        self.cost_class = cost_class

    @torch.no_grad()
    def forward(self, outputs: dict, span_labels: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """outputs: pred_logits (B, Nq, 2), pred_spans (B, Nq, 2) cxw; span_labels: [{"spans": (n_i, 2) cxw}].

        Returns per sample (prediction indices, target indices), int64 on CPU, each of length min(Nq, n_i).
        """
        bsz, num_queries = outputs["pred_spans"].shape[:2]
        pred_spans = outputs["pred_spans"].flatten(0, 1).float()
        foreground = outputs["pred_logits"].flatten(0, 1).float().softmax(-1)[:, 0]
        tgt_spans = torch.cat([t["spans"] for t in span_labels]).to(pred_spans)
        cost = (self.cost_span * torch.cdist(pred_spans, tgt_spans, p=1)
                - self.cost_giou * generalized_temporal_iou(span_cxw_to_xx(pred_spans), span_cxw_to_xx(tgt_spans))
                - self.cost_class * foreground[:, None])
        cost = cost.view(bsz, num_queries, -1).cpu()
        sizes = [len(t["spans"]) for t in span_labels]
        indices = []
        for i, block in enumerate(cost.split(sizes, dim=-1)):
            rows, cols = linear_sum_assignment(block[i].numpy())
            indices.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return indices
