"""The CLI error contract: bad input -> one line on stderr + exit 2, Ctrl-C -> a hint + 130, --debug -> traceback."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from trdetr_cap.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, Interrupted, UserError, report_bad_input, run_cli


def _raiser(exc: BaseException):
    def fn(argv: list[str]) -> int:
        raise exc

    return fn


@pytest.mark.parametrize("exc, expected", [
    (UserError("data/val.jsonl:7: duplicate qid 3"), "error: data/val.jsonl:7: duplicate qid 3"),
    (FileNotFoundError(2, "No such file or directory", "runs/x/model.ckpt"),
     "error: runs/x/model.ckpt: No such file or directory"),
    (ValueError("--device tpu: unknown device"), "error: --device tpu: unknown device"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, exc, expected):
    assert run_cli(_raiser(exc), []) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err == expected + "\n"


def test_malformed_yaml_is_one_line(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("model: {hidden_dim: 4\ntrain: [\n")

    def fn(argv):
        yaml.safe_load(bad.read_text())
        return 0

    assert run_cli(fn, []) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "line" in err


def test_ctrl_c_prints_the_hint(capsys):
    assert run_cli(_raiser(Interrupted("continue with: --resume runs/a")), []) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "interrupted; continue with: --resume runs/a\n"
    assert run_cli(_raiser(KeyboardInterrupt()), []) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"


def test_debug_flag_and_env_reraise(monkeypatch):
    seen = []

    def fn(argv):
        seen.append(argv)
        raise UserError("bad")

    with pytest.raises(UserError):
        run_cli(fn, ["--x", "1", "--debug"])
    assert seen == [["--x", "1"]]  # --debug never reaches the command's parser
    monkeypatch.setenv("TRDETR_CAP_DEBUG", "1")
    with pytest.raises(UserError):
        run_cli(fn, [])


def test_a_bug_keeps_its_traceback():
    with pytest.raises(RuntimeError):
        run_cli(_raiser(RuntimeError("internal")), [])


class _BadRow(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        raise UserError(f"features/vid{i}.npz: not a valid npz archive")


def test_dataloader_worker_error_is_one_line(capsys):
    """A worker's exception comes back carrying the worker's traceback in its message: only the error is printed."""

    def fn(argv):
        for _ in DataLoader(_BadRow(), batch_size=1, num_workers=1):
            pass
        return 0

    torch.set_num_threads(1)
    assert run_cli(fn, []) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == "error: features/vid0.npz: not a valid npz archive\n"


def test_a_commands_own_except_reraises_under_debug(capsys):
    """Commands that catch bad input themselves (report_bad_input) still give the traceback with --debug."""

    def fn(argv):
        try:
            raise UserError("bad value")
        except UserError as e:
            return report_bad_input(e)

    assert run_cli(fn, []) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == "error: bad value\n"
    with pytest.raises(UserError):
        run_cli(fn, ["--debug"])
    assert run_cli(fn, []) == EXIT_BAD_INPUT  # the flag does not outlive its command
