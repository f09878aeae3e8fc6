"""The generative backend: a causal language model's ``generate``, as a stream of tokens.

Each call runs the model's generation in a thread of its own and yields every new token as it
comes (a tensor of one token id per sequence of the batch), through a streamer — the streamer
protocol of Hugging Face transformers (``put(value)``, ``end()``), which the Neuron libraries'
generation takes too. The copy's streaming loop stamps each arrival; nothing is decoded to
text, so no tokenizer is needed unless the inputs are strings.

Which library runs the model, by device:

- cpu / gpu: ``transformers.AutoModelForCausalLM.from_pretrained(model_dir)``, then
  ``model.generate(input_ids, streamer=...)``.
- neuron: optimum-neuron's ``NeuronModelForCausalLM.from_pretrained(model_dir)`` (an artifact
  it exported for Neuron), then the same ``generate`` call; without optimum-neuron, a
  transformers-neuronx model (``<Arch>ForSampling.from_pretrained(model_dir)``, ``to_neuron()``)
  whose ``sample(input_ids, sequence_length, streamer=...)`` streams the same way. NxD Inference
  models are driven through transformers' ``generate`` by its ``HuggingFaceGenerationAdapter``:
  pass one as a ``load_fn`` (see the README). These paths are written to the libraries'
  documented calls; this project's machine has no Neuron device to run them on.

transformers and the Neuron libraries are imported only in the copies.
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from raybench.backends.base import ModelSpec, register
from raybench.backends.neuron import NEURON_REPO_HINT
from raybench.backends.torch import import_torch
from raybench.core.errors import MissingDependencyError, ModelLoadError

_END = object()


@dataclass(frozen=True)
class GenerativeModel:
    """What a copy loads: a model directory and how to generate from it.

    Attributes:
        path: A directory ``save_pretrained`` wrote (config and weights; a tokenizer too when
            the inputs are strings), or one optimum-neuron exported for Neuron.
        max_new_tokens: Tokens to generate per call. Generation runs to that length
            (``min_new_tokens`` is the same, unless ``generate_kwargs`` says otherwise) so
            every call produces the same work.
        generate_kwargs: More keyword arguments of ``generate`` (greedy decoding by default).
    """

    path: str
    max_new_tokens: int = 32
    generate_kwargs: dict[str, Any] = field(default_factory=dict)


def import_transformers() -> Any:
    """Import transformers, or raise an error naming the extra to install."""
    try:
        return importlib.import_module("transformers")
    except ImportError as exc:
        raise MissingDependencyError("the generative backend needs transformers: pip install 'raybench[llm]'") from exc


def token_streamer_class() -> type:
    """The streamer class, built on transformers' ``BaseStreamer`` (imported only in a copy)."""
    base = importlib.import_module("transformers.generation.streamers").BaseStreamer

    class TokenStreamer(base):  # type: ignore[misc, valid-type]
        """Hands every new token to the consuming thread; the prompt (the first ``put``) is
        skipped. Decodes nothing, so it needs no tokenizer."""

        def __init__(self) -> None:
            self.tokens: queue.SimpleQueue[Any] = queue.SimpleQueue()
            self._prompt_seen = False

        def put(self, value: Any) -> None:
            if not self._prompt_seen:
                self._prompt_seen = True
                return
            self.tokens.put(value)

        def end(self) -> None:
            self.tokens.put(_END)

    return TokenStreamer


def stream_tokens(generate: Callable[..., Any], streamer_class: type, *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Run ``generate(*args, streamer=..., **kwargs)`` in a thread; yield each token as it comes.

    Raises:
        Exception: whatever the generation raised, once the tokens before it were yielded.
    """
    streamer = streamer_class()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            generate(*args, streamer=streamer, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            failure.append(exc)
            streamer.end()

    thread = threading.Thread(target=run, name="raybench-generate", daemon=True)
    thread.start()
    while True:
        token = streamer.tokens.get()
        if token is _END:
            break
        yield token
    thread.join()
    if failure:
        raise failure[0]


class GenerativeBackend:
    """``raybench.llm.benchmark``: a causal LM whose every call streams its generated tokens."""

    def load(self, spec: ModelSpec, device_id: int = 0) -> Callable[..., Any]:
        generative: GenerativeModel = spec.model
        torch = import_torch()
        transformers = import_transformers()
        streamer = token_streamer_class()
        options = {"max_new_tokens": generative.max_new_tokens, "min_new_tokens": generative.max_new_tokens,
                   "do_sample": False, **generative.generate_kwargs}
        try:
            if spec.device_type == "neuron":
                return _neuron_generator(generative, streamer, options)
            model = transformers.AutoModelForCausalLM.from_pretrained(generative.path)
        except MissingDependencyError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"could not load the model in {generative.path!r}: {exc!r}") from exc
        model.eval()
        if spec.device_type == "gpu":
            model = model.to("cuda")
        pad = model.generation_config.pad_token_id
        if pad is None:
            pad = model.generation_config.eos_token_id if model.generation_config.eos_token_id is not None else 0
        options.setdefault("pad_token_id", pad)

        def call(input_ids: Any, attention_mask: Any = None) -> Iterator[Any]:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            return stream_tokens(model.generate, streamer, input_ids, attention_mask=attention_mask, **options)

        return call

    def prepare_inputs(self, inputs: tuple[Any, ...], spec: ModelSpec) -> tuple[Any, ...]:
        """Prompts as token ids: a string or a list of strings goes through the directory's
        tokenizer (``AutoTokenizer``); a dict of tensors (a tokenizer's output) becomes
        ``(input_ids, attention_mask)``; tensors go to the GPU on ``device_type="gpu"``."""
        first = inputs[0] if inputs else None
        if isinstance(first, str) or (isinstance(first, list) and first and all(isinstance(p, str) for p in first)):
            tokenizer = import_transformers().AutoTokenizer.from_pretrained(spec.model.path)
            encoded = tokenizer(first, return_tensors="pt", padding=isinstance(first, list))
            inputs = (encoded["input_ids"], encoded["attention_mask"])
        elif isinstance(first, dict) or hasattr(first, "keys"):
            inputs = (first["input_ids"], first.get("attention_mask"))
        if spec.device_type == "gpu":
            inputs = tuple(x.to("cuda") if hasattr(x, "to") else x for x in inputs)
        return inputs

    def thread_init(self, spec: ModelSpec) -> None:
        import_torch().set_grad_enabled(False)


def _neuron_generator(generative: GenerativeModel, streamer: type, options: dict[str, Any]) -> Callable[..., Any]:
    """The Neuron path: optimum-neuron's ``NeuronModelForCausalLM`` (``generate``), else a
    transformers-neuronx sampling model (``sample``), both with the streamer."""
    try:
        optimum_neuron = importlib.import_module("optimum.neuron")
    except Exception:  # noqa: BLE001 - absent, or a placeholder package that raises on import
        optimum_neuron = None
    if optimum_neuron is not None:
        model = optimum_neuron.NeuronModelForCausalLM.from_pretrained(generative.path)

        def call(input_ids: Any, attention_mask: Any = None) -> Iterator[Any]:
            return stream_tokens(model.generate, streamer, input_ids, attention_mask=attention_mask, **options)

        return call
    try:
        neuronx = importlib.import_module("transformers_neuronx")
    except Exception as exc:  # noqa: BLE001
        msg = ("device_type 'neuron' with a generative model needs optimum-neuron or transformers-neuronx: "
               "pip install optimum-neuron (it needs the Neuron SDK's torch-neuronx), or "
               + NEURON_REPO_HINT.format(package="transformers-neuronx"))
        raise MissingDependencyError(msg) from exc
    config = import_transformers().AutoConfig.from_pretrained(generative.path)
    architecture = (config.architectures or [""])[0].replace("ForCausalLM", "ForSampling")
    model = getattr(neuronx, architecture).from_pretrained(generative.path)
    model.to_neuron()
    length = generative.max_new_tokens

    def sample(input_ids: Any, attention_mask: Any = None) -> Iterator[Any]:
        return stream_tokens(model.sample, streamer, input_ids, sequence_length=input_ids.shape[1] + length)

    return sample


def is_model_directory(path: str) -> bool:
    """A directory ``save_pretrained`` wrote: it holds a ``config.json``."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))


register("llm", GenerativeBackend())
