"""Caption generation: windows, the InternVL image-only prompt, greedy decoding, shards, resume, failures."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from trdetr_cap.captions.backends import TransformersBackend
from trdetr_cap.captions.generate import caption_windows, generate_captions, window_frame_times
from trdetr_cap.commands.captions import main as captions_main
from trdetr_cap.data.captions import read_captions_jsonl
from trdetr_cap.video.batch import in_shard, parse_shard


@pytest.fixture(scope="module")
def internvl(internvl_dir):
    return TransformersBackend(str(internvl_dir), device="cpu", max_new_tokens=4)


def test_windows_are_centred_on_the_clip_grid():
    assert caption_windows(7.0, 2.0, 2.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 7.0)]
    # 4 s windows on the 2 s grid: centres 1, 3, 5 and 7 (the last clip's centre capped at the end)
    assert caption_windows(7.0, 4.0, 2.0) == [(0.0, 3.0), (1.0, 5.0), (3.0, 7.0), (5.0, 7.0)]
    assert window_frame_times([(0.0, 2.0), (6.0, 7.0)], 2) == [[0.5, 1.5], [6.25, 6.75]]


def test_shards_partition_the_vids():
    vids = [f"vid{i}" for i in range(50)]
    parts = [[v for v in vids if in_shard(v, (i, 3))] for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(vids) and all(parts)
    assert parse_shard("2/3") == (2, 3)
    with pytest.raises(ValueError, match="0 <= i < n"):
        parse_shard("3/3")


def test_internvl_image_only_prompt_expands_each_frame(internvl, internvl_dir):
    from transformers import AutoImageProcessor

    frames = [np.full((40, 50, 3), v, np.uint8) for v in (10, 200)]
    inputs = internvl.prompter([[_pil(f) for f in frames]], "Say it.")
    tok = internvl.prompter.tokenizer
    assert internvl.prompter.image_seq_length == 1  # (28 / 14)^2 * 0.5^2
    image = "<img><IMG_CONTEXT></img>\n"
    expected = tok(f"<|im_start|>user\n{image}{image}Say it.<|im_end|>\n<|im_start|>assistant\n",
                   add_special_tokens=False)["input_ids"]
    assert inputs["input_ids"][0].tolist() == expected
    pixels = AutoImageProcessor.from_pretrained(internvl_dir)(images=[_pil(f) for f in frames],
                                                              return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(inputs["pixel_values"], pixels)


def test_internvl_captions_are_the_greedy_decode(internvl):
    rng = np.random.default_rng(0)
    windows = [[rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2)] for _ in range(3)]
    captions = internvl.caption(windows, "Describe.")
    assert len(captions) == 3
    for frames, caption in zip(windows, captions, strict=True):  # unbatched greedy loop by hand
        inputs = internvl.prompter([[_pil(f) for f in frames]], "Describe.")
        ids = inputs["input_ids"]
        with torch.no_grad():
            for _ in range(4):
                logits = internvl.model(input_ids=ids, pixel_values=inputs["pixel_values"]).logits
                ids = torch.cat([ids, logits[:, -1:].argmax(-1)], dim=1)
        new = ids[0, inputs["input_ids"].shape[1]:]
        eos = internvl.model.generation_config.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos or [])
        cut = next((i for i, t in enumerate(new.tolist()) if t in eos), len(new))
        assert caption == internvl.prompter.tokenizer.decode(new[:cut], skip_special_tokens=True).strip()


def test_generate_shards_merge_resume_and_failures(internvl_dir, caption_videos, tmp_path, capsys):
    out = tmp_path / "captions.jsonl"
    common = [str(caption_videos), "--cap_model", str(internvl_dir), "--cap_backend", "transformers", "--device", "cpu",
              "--cap_max_new_tokens", "3", "--cap_frames", "1"]
    shard0 = tmp_path / "captions.shard0of2.jsonl"
    # shard 0 was interrupted: one video done and a torn last line
    done_vid = next(v for v in ("a", "b", "d") if in_shard(v, (0, 2)))
    shard0.with_name(shard0.name + ".partial").write_text(
        json.dumps({"vid": done_vid, "clip_len": 2.0, "captions": ["RESUMED"]}) + "\n{\"vid\": \"tor")
    codes = [captions_main(["generate", *common, "--out", str(out), "--shard", f"{i}/2"]) for i in range(2)]
    err = capsys.readouterr().err
    assert sorted(codes) == [0, 1] and "broken.mp4" in err  # broken.mp4 is in exactly one shard
    assert not list(tmp_path.glob("*.partial"))
    assert captions_main(["merge", str(shard0), str(tmp_path / "captions.shard1of2.jsonl"), "--out", str(out)]) == 0
    rows = read_captions_jsonl(out)
    assert sorted(rows) == ["a", "b", "d"]
    assert rows[done_vid]["captions"] == ["RESUMED"]  # not recomputed
    expected_clips = {"a": 4, "b": 2, "d": 2}
    for vid in set(rows) - {done_vid}:
        assert len(rows[vid]["captions"]) == expected_clips[vid] and rows[vid]["clip_len"] == 2.0


def test_generic_chat_template_path_and_tokenizer_only_error(llava_dir, caption_videos, tmp_path):
    backend = TransformersBackend(str(llava_dir), max_new_tokens=3)
    assert backend.prompter is None  # LlavaProcessor loads without torchvision
    frames = [np.full((30, 30, 3), 90, np.uint8)]
    assert len(backend.caption([frames, frames], "Describe.")) == 2
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    bare = tmp_path / "bare"  # model + tokenizer, no processor: AutoProcessor gives only the tokenizer
    AutoModelForImageTextToText.from_pretrained(llava_dir).save_pretrained(bare)
    AutoTokenizer.from_pretrained(llava_dir).save_pretrained(bare)
    with pytest.raises(RuntimeError, match="gave no image processor"):
        TransformersBackend(str(bare))


def _pil(frame):
    from PIL import Image

    return Image.fromarray(frame)


def test_internvl_tokenizer_without_a_chat_template_gets_the_internvl_one(internvl, internvl_dir):
    from transformers import AutoImageProcessor, AutoTokenizer

    from trdetr_cap.captions.backends import InternVLImagePrompter

    tokenizer = AutoTokenizer.from_pretrained(internvl_dir)
    tokenizer.chat_template = None
    prompter = InternVLImagePrompter(tokenizer, AutoImageProcessor.from_pretrained(internvl_dir), internvl.model.config)
    frames = [[_pil(np.zeros((28, 28, 3), np.uint8))]]
    torch.testing.assert_close(prompter(frames, "Hi.")["input_ids"], internvl.prompter(frames, "Hi.")["input_ids"])


def test_internvl2_remote_inputs():
    from trdetr_cap.captions.backends import internvl2_pixels, internvl2_question

    assert internvl2_question(2, "Describe.") == "Frame1: <image>\nFrame2: <image>\nDescribe."
    frame = np.zeros((30, 40, 3), np.uint8)
    frame[..., 0] = 255  # pure red: after resizing still exactly (1, 0, 0)
    pixels = internvl2_pixels([frame, frame], size=448)
    assert pixels.shape == (2, 3, 448, 448)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225]  # ImageNet mean / std
    torch.testing.assert_close(pixels[0, :, 100, 200], torch.tensor(expected))


@pytest.mark.parametrize("version, ok", [("4.37.2", True), ("4.49.0", True), ("4.45.0.dev0", True),
                                         ("4.37.1", False), ("4.50.0", False), ("5.24.0", False)])
def test_internvl2_transformers_range(version, ok):
    from trdetr_cap.captions.backends import check_internvl2_transformers

    if ok:
        check_internvl2_transformers(version)
    else:
        with pytest.raises(ValueError, match=r"needs 4.37.2 <= transformers <= 4.49"):
            check_internvl2_transformers(version)


def test_default_captioner_is_internvl2_and_fails_fast_where_it_cannot_run(caption_videos, tmp_path, capsys):
    import transformers

    from trdetr_cap.commands.captions import add_arguments, captioner_settings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = captioner_settings(parser.parse_args(["generate", str(caption_videos), "--out", str(tmp_path / "c.jsonl")]))
    assert (cfg.cap_model, cfg.cap_backend) == ("OpenGVLab/InternVL2-8B", "internvl2")
    if transformers.__version__.startswith("4.") and int(transformers.__version__.split(".")[1]) < 50:
        pytest.skip("this environment could run InternVL2's remote code (the check would pass and download it)")
    assert captions_main(["generate", str(caption_videos), "--out", str(tmp_path / "c.jsonl")]) == 2
    assert "use --cap_backend vllm" in capsys.readouterr().err  # before any download: the hub is never contacted
    assert not list(tmp_path.iterdir())


class _InterruptedBackend(TransformersBackend):
    """The real tiny captioner, with Ctrl-C arriving during its ``stop_at``-th call."""

    def __init__(self, model_dir, stop_at: int):
        super().__init__(str(model_dir), device="cpu", max_new_tokens=2)
        self.calls, self.stop_at = 0, stop_at

    def caption(self, windows, prompt):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().caption(windows, prompt)


def test_resume_cuts_a_torn_last_line_before_appending(internvl_dir, caption_videos, tmp_path):
    """Crash, resume, crash again: the partial file must still parse line by line (else the shard is lost)."""
    out = tmp_path / "captions.jsonl"
    partial = tmp_path / "captions.jsonl.partial"
    partial.write_text(json.dumps({"vid": "a", "clip_len": 2.0, "captions": ["A"] * 4}) + "\n{\"vid\": \"b\", \"capt")
    videos = [caption_videos / f"{v}.mp4" for v in ("a", "b", "d")]
    with pytest.raises(KeyboardInterrupt):  # b is captioned and appended, then Ctrl-C during d
        generate_captions(videos, _InterruptedBackend(internvl_dir, stop_at=2), out, "Describe.", frames=1)
    rows = [json.loads(line) for line in partial.read_text().splitlines()]
    assert [r["vid"] for r in rows] == ["a", "b"]
    target, failures = generate_captions(videos, _InterruptedBackend(internvl_dir, stop_at=0), out, "Describe.",
                                         frames=1)
    assert failures == [] and sorted(read_captions_jsonl(target)) == ["a", "b", "d"]


def test_generate_lists_a_truncated_video_as_failed(internvl_dir, caption_videos, tmp_path, capsys):
    from trdetr_cap.testing import write_test_video

    whole = write_test_video(tmp_path / "whole.mp4", 8.0, faststart=True)
    cut = tmp_path / "vids" / "cut.mp4"
    cut.parent.mkdir()
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    args = ["generate", str(cut), str(caption_videos / "d.mp4"), "--out", str(tmp_path / "c.jsonl"), "--cap_model",
            str(internvl_dir), "--cap_backend", "transformers", "--device", "cpu", "--cap_max_new_tokens", "2",
            "--cap_frames", "1"]
    assert captions_main(args) == 1
    assert "cut.mp4: truncated" in capsys.readouterr().err
    assert sorted(read_captions_jsonl(tmp_path / "c.jsonl")) == ["d"]
