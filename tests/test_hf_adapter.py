"""The hf adapter on the tiny random Qwen2.5-VL: batches with images, gen kwargs, usage, failures."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from mmlongbench_write.errors import AdapterError, ConfigError  # noqa: E402
from mmlongbench_write.model_adapters.base import RuntimeOptions, create_model, resolve_model_spec  # noqa: E402
from mmlongbench_write.model_adapters.chat_format import hf_chat_messages  # noqa: E402
from mmlongbench_write.model_adapters.hf import HFAdapter  # noqa: E402
from mmlongbench_write.schema import GenerationConfig, ImagePart, ImageRef, Message, Request  # noqa: E402


def _image(color: str, size: tuple[int, int] = (56, 56)) -> ImagePart:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return ImagePart(ImageRef.from_bytes(buf.getvalue(), f"{color}.png"))


def _requests(config: GenerationConfig) -> list[Request]:
    return [
        Request("one", (Message.user(_image("red"), "Describe the picture."),), config),
        Request(
            "two",
            (Message.user("Write about these:", _image("blue", (112, 84)), _image("green"), "A long essay, please."),),
            config,
        ),
        Request(
            "three",
            (
                Message.system("You are a writer."),
                Message.user(_image("white"), "first", _image("black"), "second", _image("gray", (80, 80)), "end"),
            ),
            config,
        ),
    ]


@pytest.fixture(scope="module")
def adapter(tiny_model_dir: Path) -> HFAdapter:
    model = HFAdapter(RuntimeOptions(batch_size=3), pretrained=str(tiny_model_dir), dtype="float32", device="cpu")
    model.load()
    return model


def _run(adapter: HFAdapter, requests: list[Request]) -> dict[str, object]:
    return {g.request_id: g for g in adapter.generate(requests)}


def test_batched_generation_with_images(adapter: HFAdapter) -> None:
    config = GenerationConfig(max_new_tokens=12, min_new_tokens=6)
    requests = _requests(config)
    gens = _run(adapter, requests)
    assert set(gens) == {"one", "two", "three"}
    for request in requests:
        g = gens[request.id]
        assert g.ok and g.text.strip(), g  # type: ignore[attr-defined]
        assert 6 <= g.usage.output_tokens <= 12  # type: ignore[attr-defined]
        assert g.model == adapter.model_name  # type: ignore[attr-defined]
        assert g.latency_s > 0  # type: ignore[attr-defined]
        # prompt tokens include the expanded image tokens: the same count as processing the request alone
        assert request.images
        messages, refs = hf_chat_messages(request.messages)
        text = adapter.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        alone = adapter.processor(text=[text], images=[r.open() for r in refs], return_tensors="pt")
        assert g.usage.input_tokens == alone["input_ids"].shape[1]  # type: ignore[attr-defined]
    # more images -> more prompt tokens (4 per 56x56 image)
    assert gens["three"].usage.input_tokens > gens["one"].usage.input_tokens  # type: ignore[attr-defined]


def test_finish_reason_length_when_max_new_tokens_is_hit(adapter: HFAdapter) -> None:
    gens = _run(adapter, _requests(GenerationConfig(max_new_tokens=5, min_new_tokens=5)))
    for g in gens.values():
        assert g.finish_reason == "length"  # type: ignore[attr-defined]
        assert g.usage.output_tokens == 5  # type: ignore[attr-defined]


def test_greedy_by_default_and_deterministic(adapter: HFAdapter) -> None:
    default = _run(adapter, _requests(GenerationConfig(max_new_tokens=8, min_new_tokens=8)))
    zero = _run(adapter, _requests(GenerationConfig(temperature=0, max_new_tokens=8, min_new_tokens=8, seed=3)))
    assert {k: g.text for k, g in default.items()} == {k: g.text for k, g in zero.items()}  # type: ignore[attr-defined]


def test_sampling_is_reproducible_with_a_seed(adapter: HFAdapter) -> None:
    def sample(seed: int) -> dict[str, str]:
        config = GenerationConfig(
            temperature=1.0, top_p=0.95, top_k=50, max_new_tokens=10, min_new_tokens=10, seed=seed
        )
        return {k: g.text for k, g in _run(adapter, _requests(config)).items()}  # type: ignore[attr-defined]

    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first


def test_generate_kwargs(adapter: HFAdapter) -> None:
    greedy = adapter.generate_kwargs(GenerationConfig())
    assert greedy["do_sample"] is False and greedy["max_new_tokens"] == 8192
    sampled = adapter.generate_kwargs(
        GenerationConfig(temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=100, min_new_tokens=10,
                         extra={"repetition_penalty": 1.1, "not_a_generate_arg": 1})
    )  # fmt: skip
    assert sampled["do_sample"] is True and sampled["temperature"] == 0.6 and sampled["top_p"] == 0.95
    assert sampled["top_k"] == 20 and sampled["min_new_tokens"] == 10 and sampled["repetition_penalty"] == 1.1
    assert "not_a_generate_arg" not in sampled


def test_a_bad_image_fails_only_its_request(adapter: HFAdapter) -> None:
    config = GenerationConfig(max_new_tokens=4, min_new_tokens=4)
    broken = Request("broken", (Message.user(ImagePart(ImageRef.from_bytes(b"not an image", "x.png")), "hi"),), config)
    gens = _run(adapter, [*_requests(config), broken])
    assert not gens["broken"].ok and gens["broken"].finish_reason == "error"  # type: ignore[attr-defined]
    assert "\n" not in gens["broken"].error  # type: ignore[attr-defined]
    assert all(gens[k].ok for k in ("one", "two", "three"))  # type: ignore[attr-defined]


def test_max_pixels_caps_image_tokens(tiny_model_dir: Path) -> None:
    big = [Request("big", (Message.user(_image("red", (112, 112)), "hi"),), GenerationConfig(max_new_tokens=1))]
    full = HFAdapter(pretrained=str(tiny_model_dir), dtype="float32", device="cpu")
    capped = HFAdapter(pretrained=str(tiny_model_dir), dtype="float32", device="cpu", max_pixels=56 * 56)
    n_full = next(iter(full.generate(big))).usage.input_tokens
    n_capped = next(iter(capped.generate(big))).usage.input_tokens
    assert n_full - n_capped == 16 - 4  # 112x112 -> 16 image tokens; capped to 56x56 -> 4


def test_tiny_preset_end_to_end(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmlongbench_write.model_adapters.tiny import tiny_model_cache_path

    monkeypatch.setenv("MMLW_CACHE_DIR", str(tmp_path))
    shutil.copytree(tiny_model_dir, tiny_model_cache_path())  # what ensure_tiny_model would build
    spec = resolve_model_spec("tiny-random-qwen2.5-vl")
    assert spec.adapter == "hf" and spec.gen_defaults.min_new_tokens == 16
    model = create_model(spec)
    request = Request("r", (Message.user(_image("red"), "Describe."),), spec.gen_defaults)
    (g,) = list(model.generate([request]))
    assert g.ok and 16 <= g.usage.output_tokens <= 64 and g.model == "tiny-random-qwen2.5-vl"
    identity = model.identity()
    assert identity["model"] == "tiny-random-qwen2.5-vl"
    assert str(tmp_path) not in repr(identity)


def test_missing_model_directory_is_one_line(tmp_path: Path) -> None:
    model = create_model(resolve_model_spec("hf", {"pretrained": str(tmp_path / "nope")}))
    with pytest.raises(AdapterError) as err:
        list(model.generate(_requests(GenerationConfig(max_new_tokens=2))))
    assert "does not exist" in str(err.value) and "\n" not in str(err.value)


def test_uncached_hub_id_offline_suggests_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    model = HFAdapter(pretrained="THU-KEG/LongWriter-V-7B")
    with pytest.raises(AdapterError) as err:
        model.load()
    message = str(err.value)
    assert "THU-KEG/LongWriter-V-7B" in message and "pretrained=/path" in message and "\n" not in message


def test_missing_torch_names_the_hf_extra(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(AdapterError, match=r"mmlongbench-write\[hf\]"):
        HFAdapter(pretrained=str(tiny_model_dir)).load()


def test_bad_args_are_config_errors(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown model arg"):
        HFAdapter(pretrained=str(tiny_model_dir), temprature=1)
    with pytest.raises(ConfigError, match="dtype"):
        HFAdapter(pretrained=str(tiny_model_dir), dtype="float8")
    with pytest.raises(ConfigError, match="pretrained"):
        HFAdapter()


def test_gpu_smoke_script_refuses_without_cuda() -> None:
    import subprocess

    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    script = Path(__file__).resolve().parents[1] / "scripts" / "gpu_smoke.py"
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "gpu_smoke: no CUDA GPU is visible (torch.cuda.is_available() is False); run this on a GPU machine"
    )
