"""Worker of tests/engine/test_ddp.py: a few training steps on fixed batches, under torchrun (DDP, gloo) or alone.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/engine/ddp_worker.py DATA OUT
    python tests/engine/ddp_worker.py DATA OUT                       # the single-process reference

Every process builds the same samples (same seed, same order, so the randomly drawn easy saliency pairs agree) and the
same initial model. At step k the total batch is samples [k*T, (k+1)*T); with W processes rank r trains on its
contiguous T/W of them, so the ranks together see exactly the single process's batch. ``train_one_epoch`` runs one step
per call. Writes OUT/rank{r}.pt: this rank's per-step losses, its step-1 gradients, its initial and final parameters.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tiny_runs import tiny_config

from trdetr_cap.data import build_dataset, collate
from trdetr_cap.engine.distributed import cleanup, init_distributed
from trdetr_cap.engine.loop import train_one_epoch
from trdetr_cap.engine.train import infer_feature_dims, set_seed
from trdetr_cap.models import build_model

STEPS, TOTAL_BSZ = 3, 8
# What makes the loss of T samples the mean of the per-rank losses, so that DDP's gradient average equals the
# single-process gradient:
# * no dropout (each process would draw different masks);
# * vtc_loss_coef 0: VTC is an InfoNCE with in-batch negatives, a B x B term that no split of the batch preserves;
# * fix_t2v_attn_mask: the original's mis-tiled T2V mask mixes the text padding of other samples of the batch;
# * the data (test_ddp.py) has one window per query and equal video lengths: span L1 / gIoU average over all matched
#   pairs of the batch, and the faithful CTC over all B x Lv positions, which are per-sample means only then;
# * grad_clip 0: clipping is invariant to the gradient's scale, so with it a rank sum instead of a rank mean would go
#   unnoticed;
# * plain SGD instead of the training's AdamW: AdamW divides by sqrt(v) + 1e-8, so on entries whose true gradient is 0
#   (attention key biases, to which softmax is invariant) it turns float noise of ~1e-9 into steps of ~lr / 10 that
#   differ from run to run whatever DDP does. With SGD a parameter difference is lr times a gradient difference. The
#   optimizer runs on each rank alone, on gradients this test shows equal.
FLAGS = {"dropout": 0.0, "input_dropout": 0.0, "vtc_loss_coef": 0.0, "fix_t2v_attn_mask": True, "grad_clip": 0.0,
         "bsz": TOTAL_BSZ, "lr": 0.01}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    info = init_distributed("cpu")
    cfg = tiny_config(args.data, v_feat_dirs=[str(args.data / "clip_features")], **FLAGS)
    set_seed(cfg.train.seed, False)
    dataset = build_dataset(cfg, "train")
    infer_feature_dims(cfg, dataset)
    samples = [dataset[i] for i in range(STEPS * TOTAL_BSZ)]
    set_seed(cfg.train.seed, False)
    model, criterion = build_model(cfg)
    module = model
    if info.enabled:  # as engine/train.py wraps it
        model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.train.lr)
    init = {n: p.detach().clone() for n, p in module.named_parameters()}
    share = TOTAL_BSZ // info.world_size
    losses, grads = [], {}
    for k in range(STEPS):
        start = k * TOTAL_BSZ + info.rank * share
        batch = collate(samples[start:start + share])
        losses.append(train_one_epoch(model, criterion, [batch], optimizer, torch.device("cpu"), epoch=k,
                                      grad_clip=cfg.train.grad_clip, progress=False))
        if k == 0:  # zero_grad(set_to_none) comes at the start of the next step: these are step 1's gradients
            grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    params = {n: p.detach().clone() for n, p in module.named_parameters()}
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({"losses": losses, "grads": grads, "init": init, "params": params}, args.out / f"rank{info.rank}.pt")
    cleanup(info)


if __name__ == "__main__":
    main()
