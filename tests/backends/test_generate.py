"""The generative backend on a tiny Llama-shaped model built from a config with random weights,
and a tokenizer trained in memory: nothing is downloaded."""

from __future__ import annotations

import os

import pytest

import raybench
from raybench.core.errors import ConfigError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

NEW_TOKENS = 12


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A 2-layer Llama of hidden size 32 saved with a word-level tokenizer trained on a few lines."""
    path = str(tmp_path_factory.mktemp("llm") / "tiny-llama")
    words = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="[UNK]"))
    words.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    trainer = tokenizers.trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"])
    words.train_from_iterator(["the copies measure the model", "tokens stream one by one", "a tiny model"], trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", pad_token="[PAD]",
                                                     eos_token="[EOS]")
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_tiny_llama_streams_every_generated_token_through_ray(ray_session, tiny_llama):
    prompts = torch.randint(0, 64, (2, 6))
    results = raybench.llm.benchmark(tiny_llama, prompts, batch_sizes=2, max_new_tokens=NEW_TOKENS, n_models=1,
                                     workers_per_model=[1, 2], duration=1, verbosity=0, return_timers=True,
                                     device_type="cpu")
    reports = raybench.get_reports(results)
    assert [r["status"] for r in reports] == ["finished", "finished"], [r["error"] for r in reports]
    for report in reports:
        assert report["output_tokens_avg"] == 2 * NEW_TOKENS  # one token per sequence per chunk
        assert report["ttft_ms_p50"] > 0 and report["itl_ms_p50"] > 0
        assert report["output_tokens_per_s"] > 0
    chunks = results.timers.column("chunk_ns").to_pylist()
    assert {len(c) for c in chunks} == {NEW_TOKENS}  # one chunk per generation step
    assert reports[0]["model_name"] == "tiny-llama"


def test_string_prompts_go_through_the_directorys_tokenizer(tiny_llama):
    (report,) = raybench.llm.benchmark(tiny_llama, "the model streams tokens", max_new_tokens=4, n_models=1,
                                       workers_per_model=1, duration=0.5, verbosity=0, multiprocess=False,
                                       batch_sizes=1, count_input_tokens=lambda ids, mask: int(ids.shape[1]))
    assert report["status"] == "finished", report["error"]
    assert report["output_tokens_avg"] == 4
    assert report["input_tokens_avg"] == 4  # "the model streams tokens": 4 words ("streams" is [UNK])


def test_a_directory_that_is_no_model_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="^model must be a directory written by save_pretrained"):
        raybench.llm.benchmark(str(tmp_path), [1, 2], verbosity=0)
    with pytest.raises(ConfigError, match=r"^max_new_tokens must be a positive int \(got 0\)"):
        os.makedirs(tmp_path / "m", exist_ok=True)
        (tmp_path / "m" / "config.json").write_text("{}")
        raybench.llm.benchmark(str(tmp_path / "m"), [1, 2], max_new_tokens=0, verbosity=0)


def test_the_neuron_path_without_the_sdk_says_what_to_install(tiny_llama):
    (report,) = raybench.llm.benchmark(tiny_llama, torch.ones(1, 3, dtype=torch.long), max_new_tokens=2, n_models=1,
                                       workers_per_model=1, duration=0.5, verbosity=0, multiprocess=False,
                                       batch_sizes=1, device_type="cpu")
    assert report["status"] == "finished"
    from raybench.backends.base import ModelSpec, get_backend
    from raybench.backends.generate import GenerativeModel

    with pytest.raises(raybench.MissingDependencyError, match="needs optimum-neuron or transformers-neuronx"):
        get_backend("llm").load(ModelSpec("llm", GenerativeModel(tiny_llama), tiny_llama, "neuron"))
