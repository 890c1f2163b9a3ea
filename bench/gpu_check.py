"""GPU readiness in one run: what can only be checked on a CUDA machine, prepared on a CPU one.

    bash bench/gpu_check.sh   # or: .venv/bin/python bench/gpu_check.py [--train_queries 7218] [--skip_throughput]

Checks, each printed as one PASS / FAIL / SKIP line (with its numbers and the time it took):
  cpu-reference   one forward/backward (fp32, dropout off) of the full-size QVHighlights model on CPU
  cuda-fp32       the same weights and batch on CUDA (TF32 off): loss and every gradient agree with the CPU's
  cuda-bf16       the bf16 autocast path (``--amp``): finite, loss within 5 % of fp32, gradients point the same way
  cuda-compile    ``torch.compile`` of the model: loss and gradients agree with eager CUDA
  ddp-gloo        a 1-process DistributedDataParallel step on gloo (CPU) equals the plain step
  ddp-nccl        the same on NCCL (CUDA)
  captioner-*     the caption backends that run without hub weights (tiny random InternVL-hf and LLaVA through the
                  transformers backend; vLLM if installed); InternVL2's remote-code backend needs the hub: SKIP
  throughput      training on a QVHighlights-sized synthetic set (7,218 train queries, 75 clips of SlowFast + CLIP,
                  batch 32) for one full epoch through the real training loop, fp32 and bf16, plus one validation
                  pass (1,550 queries), and the 200-epoch time they imply (eval every 5 epochs, as configured)
On a machine without CUDA the CUDA checks print SKIP, the throughput runs a few steps on CPU only, and the exit status
is 0 unless a CPU check fails. Exit status 1: some check failed.
"""

from __future__ import annotations

import argparse
import copy
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_common import loadavg
from torch.utils.data import DataLoader

from trdetr_cap.config import load_config
from trdetr_cap.data import build_dataset, collate, move_to_device
from trdetr_cap.data.synthetic import SyntheticParams, generate, synthetic_overrides
from trdetr_cap.engine.loop import autocast_context, run_inference, to_float32, train_one_epoch, weighted_losses
from trdetr_cap.engine.schedule import build_optimizer
from trdetr_cap.engine.train import infer_feature_dims
from trdetr_cap.models import build_model

ROOT = Path(__file__).resolve().parents[1]
QVH_TRAIN_QUERIES, QVH_VAL_QUERIES = 7218, 1550
RESULTS: list[tuple[str, str, str]] = []


def check(name: str, fn: Callable[[], str]) -> None:
    """Run one check; a returned string is its PASS detail, ``Skip`` its reason, any other exception a FAIL."""
    tic = time.perf_counter()
    try:
        status, detail = "PASS", fn()
    except Skip as s:
        status, detail = "SKIP", str(s)
    except Exception as e:  # noqa: BLE001 - every failure is reported, the other checks still run
        status, detail = "FAIL", f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
    line = f"[{status}] {name}: {detail} ({time.perf_counter() - tic:.1f} s)"
    print(line, flush=True)
    RESULTS.append((status, name, detail))


class Skip(Exception):
    pass


def need_cuda() -> None:
    if not torch.cuda.is_available():
        raise Skip("no CUDA device on this machine")


# ----------------------------------------------------------------------------------------------- model and batch
def qvh_setup(data_root: Path, n_train: int, n_val: int):
    """The full-size QVHighlights config on a synthetic set at the release's shapes (75 clips, 2304 + 512 + TEF)."""
    params = SyntheticParams(n_train=n_train, n_val=n_val, min_clips=75, max_clips=75, queries_per_video=6)
    root = generate(data_root, params)
    cfg = load_config(ROOT / "configs" / "qvhighlights.yaml", {**synthetic_overrides(root), "cap_feat_path": ""})
    train_set = build_dataset(cfg, "train")
    infer_feature_dims(cfg, train_set)
    return cfg, train_set, root


def fwd_bwd(model, criterion, batch, device: torch.device, amp: bool = False) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss and gradients (fp32, on CPU) of one forward/backward."""
    model.zero_grad(set_to_none=True)
    b = move_to_device(batch, device)
    with autocast_context(device, amp):
        outputs = model(**b["inputs"])
    outputs = to_float32(outputs)  # the losses run in fp32, as the training loop does
    total = weighted_losses(criterion(outputs, b["targets"]), criterion.weight_dict)["loss_overall"]
    total.backward()
    grads = {n: p.grad.detach().float().cpu() for n, p in model.named_parameters() if p.grad is not None}
    return float(total), grads


def compare(ref: tuple[float, dict], got: tuple[float, dict], loss_rtol: float, grad_rtol: float) -> str:
    """Relative loss difference and the worst per-tensor relative gradient difference; raise beyond tolerance."""
    loss_rel = abs(got[0] - ref[0]) / max(abs(ref[0]), 1e-12)
    missing = sorted(set(ref[1]) ^ set(got[1]))
    if missing:
        raise AssertionError(f"gradients present on one side only, e.g. {missing[0]}")
    worst, worst_name = 0.0, ""
    for name, g in ref[1].items():
        rel = float((got[1][name] - g).norm() / (g.norm() + 1e-12))
        if rel > worst:
            worst, worst_name = rel, name
    detail = f"loss {ref[0]:.6f} vs {got[0]:.6f} (rel {loss_rel:.1e}), worst grad rel diff {worst:.1e} ({worst_name})"
    if loss_rel > loss_rtol or worst > grad_rtol or not np.isfinite(got[0]):
        raise AssertionError(detail + f" beyond tolerance (loss {loss_rtol:g}, grad {grad_rtol:g})")
    return detail


# ------------------------------------------------------------------------------------------------------- checks
def ddp_step(backend: str, model, criterion, batch, device: torch.device, ref) -> str:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        ids = [device.index or 0] if device.type == "cuda" else None
        ddp = DistributedDataParallel(copy.deepcopy(model).to(device), device_ids=ids, find_unused_parameters=True)
        got = fwd_bwd(ddp, criterion, batch, device)
        got = (got[0], {k.removeprefix("module."): v for k, v in got[1].items()})
        return compare(ref, got, 1e-5, 1e-4)
    finally:
        dist.destroy_process_group()


def captioner(kind: str, device: torch.device, work: Path) -> str:
    from trdetr_cap.captions.backends import TransformersBackend
    from trdetr_cap.testing import save_tiny_internvl, save_tiny_llava

    save = save_tiny_internvl if kind == "internvl" else save_tiny_llava
    model_dir = save(work / f"tiny_{kind}")
    dtype = "bfloat16" if device.type == "cuda" else "float32"
    backend = TransformersBackend(str(model_dir), device=str(device), dtype=dtype, max_new_tokens=4)
    frames = [np.full((64, 96, 3), 128, np.uint8)] * 2
    captions = backend.caption([frames, frames[:1]], "Describe the clip.")
    if len(captions) != 2 or not all(isinstance(c, str) for c in captions):
        raise AssertionError(f"expected 2 captions, got {captions!r}")
    return f"{dtype} on {device}: {captions!r}"


def vllm_captioner(work: Path) -> str:
    need_cuda()
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise Skip("vllm is not installed (pip install vllm)") from None
    from trdetr_cap.captions.backends import VLLMBackend
    from trdetr_cap.testing import save_tiny_llava

    backend = VLLMBackend(str(save_tiny_llava(work / "tiny_llava_vllm")), max_new_tokens=4, frames_per_window=1)
    captions = backend.caption([[np.full((64, 96, 3), 128, np.uint8)]], "Describe the clip.")
    return f"tiny LLaVA through vLLM: {captions!r}"


def throughput(device: torch.device, data_root: Path, n_train: int, n_val: int, cpu_steps: int) -> str:
    """One epoch (CUDA: all ``n_train`` queries; CPU: ``cpu_steps`` batches) per precision, one val pass; epoch
    and 200-epoch times are given for QVHighlights' 7,218 train / 1,550 val queries."""
    cfg, train_set, root = qvh_setup(data_root, n_train, n_val)
    val_set = build_dataset(cfg, "val")
    bsz = cfg.train.bsz
    parts = [f"{len(train_set)} train / {len(val_set)} val queries at batch {bsz}, device {device}"]
    epoch_s = {}
    for amp in ([False, True] if device.type == "cuda" else [False]):
        torch.manual_seed(0)
        model, criterion = build_model(cfg)
        model.to(device)
        criterion.to(device)
        optimizer = build_optimizer(cfg, model)
        subset = train_set if device.type == "cuda" else torch.utils.data.Subset(train_set, range(bsz * cpu_steps))
        workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 0
        loader = DataLoader(subset, batch_size=bsz, shuffle=True, collate_fn=collate, num_workers=workers,
                            pin_memory=device.type == "cuda", persistent_workers=workers > 0)
        warm = DataLoader(torch.utils.data.Subset(train_set, range(2 * bsz)), batch_size=bsz, collate_fn=collate)
        train_one_epoch(model, criterion, warm, optimizer, device, 0, cfg.train.grad_clip, amp, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        train_one_epoch(model, criterion, loader, optimizer, device, 0, cfg.train.grad_clip, amp, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - tic
        sps = len(subset) / seconds
        epoch_s[amp] = QVH_TRAIN_QUERIES / sps
        label = "bf16" if amp else "fp32"
        parts.append(f"{label} {sps:.1f} samples/s = {epoch_s[amp]:.1f} s per {QVH_TRAIN_QUERIES}-query epoch")
    val_loader = DataLoader(val_set, batch_size=cfg.train.eval_bsz, collate_fn=collate)
    tic = time.perf_counter()
    run_inference(model.eval(), criterion, val_loader, device, cfg.post, cfg.data.clip_len, False, progress=False)
    val_s = (time.perf_counter() - tic) * QVH_VAL_QUERIES / len(val_set)
    evals = cfg.train.n_epoch // cfg.train.eval_epoch_interval
    parts.append(f"val pass {val_s:.1f} s per {QVH_VAL_QUERIES} queries")
    for amp, s in epoch_s.items():
        total = cfg.train.n_epoch * s + evals * val_s
        parts.append(f"{cfg.train.n_epoch} epochs {'bf16' if amp else 'fp32'} ~ {total / 60:.1f} min")
    if device.type == "cpu":
        parts.append(f"(CPU: {cpu_steps} batches timed, extrapolated)")
    return "; ".join(parts) + f" | loadavg {loadavg()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train_queries", type=int, default=QVH_TRAIN_QUERIES)
    parser.add_argument("--val_queries", type=int, default=QVH_VAL_QUERIES)
    parser.add_argument("--cpu_steps", type=int, default=3, help="timed batches on a CPU-only machine")
    parser.add_argument("--skip_throughput", action="store_true")
    parser.add_argument("--work", default=str(ROOT / "data" / "gpu_check"), help="scratch directory")
    args = parser.parse_args()
    work = Path(args.work)
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else "none"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda or '-'}, device {name}, "
          f"{torch.get_num_threads()} CPU threads | loadavg {loadavg()}", flush=True)
    if not cuda:
        print("no CUDA device: running the CPU parts only; every CUDA check reports SKIP", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False  # the agreement checks compare true fp32
    torch.backends.cudnn.allow_tf32 = False

    cfg, train_set, _ = qvh_setup(work / "small", 64, 16)
    batch = collate([train_set[i] for i in range(8)])
    torch.manual_seed(0)
    model, criterion = build_model(cfg)
    model.eval()  # dropout off: the same function on every device
    state: dict = {}
    cpu = torch.device("cpu")

    def cpu_reference() -> str:
        state["ref"] = fwd_bwd(model, criterion, batch, cpu)
        return f"loss {state['ref'][0]:.6f}, {len(state['ref'][1])} gradient tensors"

    check("cpu-reference", cpu_reference)
    gpu = torch.device("cuda", 0) if cuda else None

    def cuda_model():
        need_cuda()
        if "ref" not in state:
            raise Skip("no CPU reference")
        m = copy.deepcopy(model).to(gpu)
        return m, copy.deepcopy(criterion).to(gpu)

    def cuda_fp32() -> str:
        m, c = cuda_model()
        state["cuda"] = fwd_bwd(m, c, batch, gpu)
        return compare(state["ref"], state["cuda"], 1e-4, 1e-3)

    def cuda_bf16() -> str:
        m, c = cuda_model()
        got = fwd_bwd(m, c, batch, gpu, amp=True)
        ref = state.get("cuda", state["ref"])
        loss_rel = abs(got[0] - ref[0]) / abs(ref[0])
        cos = min(float(torch.nn.functional.cosine_similarity(got[1][k].flatten(), g.flatten(), dim=0))
                  for k, g in ref[1].items() if g.norm() > 0)
        detail = f"loss {got[0]:.5f} vs fp32 {ref[0]:.5f} (rel {loss_rel:.1e}), min grad cosine {cos:.3f}"
        if not np.isfinite(got[0]) or loss_rel > 0.05 or cos < 0.9:
            raise AssertionError(detail)
        return detail

    def cuda_compile() -> str:
        m, c = cuda_model()
        compiled = torch.compile(m)
        tic = time.perf_counter()
        got = fwd_bwd(compiled, c, batch, gpu)
        first = time.perf_counter() - tic
        got = (got[0], {k.removeprefix("_orig_mod."): v for k, v in got[1].items()})
        return compare(state.get("cuda", state["ref"]), got, 1e-4, 1e-3) + f"; first call {first:.1f} s"

    check("cuda-fp32", cuda_fp32)
    check("cuda-bf16", cuda_bf16)
    check("cuda-compile", cuda_compile)
    check("ddp-gloo", lambda: ddp_step("gloo", model, criterion, batch, cpu, state["ref"]))

    def ddp_nccl() -> str:
        need_cuda()
        if not torch.distributed.is_nccl_available():
            raise AssertionError("this torch build has no NCCL")
        return ddp_step("nccl", model, copy.deepcopy(criterion).to(gpu), batch, gpu, state.get("cuda", state["ref"]))

    check("ddp-nccl", ddp_nccl)
    cap_device = gpu if cuda else cpu
    check("captioner-internvl-hf", lambda: captioner("internvl", cap_device, work))
    check("captioner-llava", lambda: captioner("llava", cap_device, work))
    check("captioner-vllm", lambda: vllm_captioner(work))

    def internvl2_remote() -> str:
        raise Skip("InternVL2's remote-code backend loads its model code from the hub: not runnable offline")

    check("captioner-internvl2-remote", internvl2_remote)
    if not args.skip_throughput:
        device = gpu if cuda else cpu
        n_train, n_val = (args.train_queries, args.val_queries) if cuda else (32 * args.cpu_steps + 32, 64)
        root = work / ("qvh_sized" if cuda else "qvh_cpu")
        check("throughput", lambda: throughput(device, root, n_train, n_val, args.cpu_steps))
    failed = [n for s, n, _ in RESULTS if s == "FAIL"]
    summary = {s: sum(1 for r in RESULTS if r[0] == s) for s in ("PASS", "FAIL", "SKIP")}
    print(f"summary: {summary['PASS']} passed, {summary['FAIL']} failed ({', '.join(failed) or '-'}), "
          f"{summary['SKIP']} skipped | loadavg {loadavg()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
