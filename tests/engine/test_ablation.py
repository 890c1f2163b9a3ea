"""Ablations: variants files, the run loop (parallel, resumable, failures) and the table."""

from __future__ import annotations

import json

import pytest
from tiny_runs import REPO_ROOT

from trdetr_cap.commands.ablate import main
from trdetr_cap.config import apply_overrides, load_config
from trdetr_cap.data.synthetic import synthetic_overrides
from trdetr_cap.engine.ablation import collect, load_variants, markdown_table, mean_std, to_argv


def test_table_mean_and_sample_std(tmp_path):
    for variant, seed, value in [("baseline", 1, 10.0), ("baseline", 2, 14.0), ("combo", 1, 20.0),
                                 ("combo", 2, 21.0), ("combo", 3, 25.0)]:
        run = tmp_path / variant / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "best_val_metrics.json").write_text(json.dumps({"brief": {"MR-full-mAP": value,
                                                                         "MR-full-R1@0.5": 2 * value}}))
    (tmp_path / "combo" / "seed4").mkdir()  # unfinished run: no metrics, skipped
    table = collect(tmp_path)
    assert [len(table["baseline"]), len(table["combo"])] == [2, 3]
    assert mean_std([10.0, 14.0]) == (12.0, pytest.approx(2.8284271))  # sqrt(((-2)^2 + 2^2) / 1)
    md = markdown_table(table, {"combo": "recommended", "baseline": "video only"})
    rows = md.splitlines()[2:]
    # combo first (the notes' order): mean 22, sample std sqrt((4 + 1 + 9) / 2) = 2.65
    assert rows == ["| combo: recommended | 3 | 22.00 ± 2.65 | 44.00 ± 5.29 |",
                    "| baseline: video only | 2 | 12.00 ± 2.83 | 24.00 ± 5.66 |"]


def test_variants_files_and_flags(tmp_path):
    for path in sorted((REPO_ROOT / "configs" / "ablations").glob("*.yaml")):
        spec = load_variants(path)
        base = load_config(REPO_ROOT / spec.config)
        for name, (_, flags) in spec.variants.items():  # every flag is a real config field with a valid value
            wanted = {**spec.common, **flags}
            cfg = apply_overrides(base, wanted).to_dict()
            resolved = {k: v for section in cfg.values() for k, v in section.items()}
            for key, value in wanted.items():
                assert resolved[key] == value or float(resolved[key]) == float(value), (path.name, name, key)
    spec = load_variants(REPO_ROOT / "configs" / "ablations" / "captions.yaml", {"CAP_FEAT_PATH": "/x/caps.h5"})
    assert spec.variants["a_early"][1] == {"cap_feat_path": "/x/caps.h5", "cap_early_fusion": "gated"}
    assert to_argv({"cap_feat_path": "", "v_feat_dirs": ["a", "b"], "fix_ctc_mask": True, "lr": 1e-4}) == [
        "--cap_feat_path=", "--v_feat_dirs", "a", "b", "--fix_ctc_mask", "true", "--lr", "0.0001"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("variants: {v: {flags: {cap_feat_path: $NOPE}}}\n")
    with pytest.raises(ValueError, match=r"variants.v.flags.cap_feat_path: \$NOPE is not set"):
        load_variants(bad, {})
    bad.write_text("config: x.yaml\n")
    with pytest.raises(ValueError, match="non-empty 'variants:'"):
        load_variants(bad, {})


@pytest.mark.slow
def test_run_two_variants_in_parallel_then_resume(video_data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    variants = tmp_path / "v.yaml"
    variants.write_text(
        "config: configs/synthetic.yaml\n"
        "variants:\n"
        "  plain: {note: faithful, flags: {}}\n"
        "  rank: {note: rank divisor fixed, flags: {fix_rank_divisor: true}}\n"
    )
    tiny = {**synthetic_overrides(video_data), "cap_feat_path": "", "n_epoch": 1, "bsz": 16, "eval_bsz": 48,
            "dim_feedforward": 64, "num_queries": 3, "device": "cpu"}
    extra = to_argv(tiny)
    out = tmp_path / "runs"
    assert main(["run", str(variants), "--out", str(out), "--seeds", "3", "--jobs", "2", "--", *extra]) == 0
    text = (out / "ablation.md").read_text()
    assert "| plain: faithful | 1 |" in text and "| rank: rank divisor fixed | 1 |" in text
    assert (out / "rank" / "seed3" / "config.yaml").read_text().count("fix_rank_divisor: true") == 1
    for variant, note in (("plain", "faithful"), ("rank", "rank divisor fixed")):  # the table holds each run's numbers
        brief = json.loads((out / variant / "seed3" / "best_val_metrics.json").read_text())["brief"]
        row = next(line for line in text.splitlines() if line.startswith(f"| {variant}: {note} |"))
        assert row.split(" | ")[2] == f"{brief['MR-full-mAP']:.2f} ± 0.00", (row, brief)
    capsys.readouterr()
    assert main(["run", str(variants), "--out", str(out), "--seeds", "3", "--", *extra]) == 0  # all done already
    assert capsys.readouterr().out.count("done, skipping") == 2


@pytest.mark.slow
def test_a_failing_run_is_reported(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    variants = tmp_path / "v.yaml"
    variants.write_text("config: configs/synthetic.yaml\nvariants:\n  broken: {flags: {bsz: many}}\n")
    out = tmp_path / "runs"
    assert main(["run", str(variants), "--out", str(out), "--seeds", "1"]) == 1
    err = capsys.readouterr().err
    assert "1 run(s) failed" in err and "broken.seed1.log" in err
    assert "--bsz: expected int" in (out / "broken.seed1.log").read_text()
    assert not (out / "ablation.md").exists()  # nothing finished: no table


def test_list_flags_take_environment_values(tmp_path):
    variants = tmp_path / "v.yaml"
    variants.write_text("config: c.yaml\nenv: {A: /a}\nvariants:\n  x: {flags: {v_feat_dirs: [$A, $B, plain]}}\n")
    spec = load_variants(variants, {"B": "/b"})
    assert spec.variants["x"][1] == {"v_feat_dirs": ["/a", "/b", "plain"]}
    variants.write_text("config: c.yaml\nvariants:\n  x: {flags: {v_feat_dirs: [$MISSING]}}\n")
    with pytest.raises(ValueError, match="MISSING"):
        load_variants(variants, {})
