"""The one command line: every subcommand's --help (short, its own options only), the old entry points, and bad
config input failing in one line before torch (let alone data) is loaded."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trdetr_cap.cli import COMMANDS, build_parser, main

REPO_ROOT = Path(__file__).resolve().parents[1]


def help_text(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_command_in_a_screen(capsys):
    text = help_text(capsys, [])
    assert len(text.splitlines()) <= 30
    for name in COMMANDS:
        assert name in text
    assert set(COMMANDS) >= {"train", "predict", "eval", "infer", "extract", "captions", "import-checkpoint",
                             "pack", "synth", "ablate", "viz"}


SUBCOMMANDS = [[name] for name in COMMANDS if name not in ("captions", "extract", "ablate")] + [
    ["captions", "generate"], ["captions", "merge"], ["captions", "embed"], ["extract", "videos"],
    ["extract", "queries"], ["ablate", "run"], ["ablate", "table"]]


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_documents_each_option_with_snake_case_flags(capsys, argv):
    text = help_text(capsys, argv)
    assert text.startswith(f"usage: trdetr-cap {' '.join(argv)}")
    flags = {w.split("=")[0].strip("[],") for w in text.split() if w.startswith("--")}
    assert all("-" not in f[2:] for f in flags if f != "--allow-missing"), flags
    if argv[0] != "train":  # train carries every config field; the others only their own options
        assert len(text.splitlines()) <= 70, len(text.splitlines())
        assert "--bsz" not in text and "--lr " not in text and "--fix_hd2mr_mask" not in text


def test_predict_exposes_paths_post_processing_and_run_options_only(capsys):
    text = help_text(capsys, ["predict"])
    assert "--nms_thd" in text and "--v_feat_dirs" in text and "--device" in text and "--out" in text
    assert "(default: none)" in text and "--config" not in text and "--hidden_dim" not in text


def test_one_flag_name_per_config_field():
    """Where a command takes a config field, the flag is the field's name (e.g. --cap_model, not --model)."""
    seen: list[str] = []

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            seen.extend(action.option_strings)
            for sub in (action.choices or {}).values() if isinstance(action.choices, dict) else ():
                walk(sub)

    walk(build_parser())
    for old in ("--model", "--backend", "--encoder", "--out_dir", "--caption_model", "--feature_dtype"):
        assert old not in seen, old
    assert "--cap_model" in seen and "--store_dtype" in seen


@pytest.mark.slow
@pytest.mark.parametrize("flags, message", [
    (["--span_scale", "feat_le"], "--span_scale: 'feat_le' is not one of duration, feat_len"),
    (["--bsz", "many"], "--bsz: expected int, got 'many'"),
    (["--config", "configs/nope.yaml"], "config file not found"),
    (["--preload", "sometimes"], "--preload: 'sometimes' is not one of auto, always, never"),
])
def test_bad_config_fails_in_one_line_before_torch_is_loaded(flags, message):
    argv = ["train", "--config", "configs/synthetic.yaml", "--train_path", "/nonexistent/train.jsonl", *flags]
    probe = (f"import sys; from trdetr_cap.cli import main; rc = main({argv!r}); "
             "print('torch' in sys.modules, rc)")
    tic = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - tic
    assert proc.stdout.split() == ["False", "2"], (proc.stdout, proc.stderr)  # no torch: no data was read
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert elapsed < 60  # loose on a shared machine; the real bound is "before torch", checked above


def test_unknown_key_and_unknown_flag_are_one_line(tmp_path, capsys):
    bad = tmp_path / "x.yaml"
    bad.write_text("post:\n  span_scal: duration\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad.resolve()}: unknown field post.span_scal\n"
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "ckpt", "split.jsonl", "--bsz", "4"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --bsz 4" in err


@pytest.mark.slow
@pytest.mark.parametrize("module", ["trdetr_cap", "trdetr_cap.train", "trdetr_cap.predict", "trdetr_cap.eval",
                                    "trdetr_cap.inference", "trdetr_cap.extract", "trdetr_cap.captions",
                                    "trdetr_cap.import_checkpoint", "trdetr_cap.viz", "trdetr_cap.data.pack",
                                    "trdetr_cap.data.synthetic", "trdetr_cap.engine.ablation"])
def test_old_entry_points_still_answer(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: "), proc.stderr[-500:]
