"""Writes the config and tensor-name fixtures of Tests/Fixtures/configs (developer script; needs
transformers==5.23.0 and torch; tests never run it).

    python Tests/Fixtures/configs/make_config_fixtures.py
"""
import json
import os
import tempfile

import torch
import transformers
from safetensors import safe_open
from transformers import Qwen2Config, VibeVoiceAsrConfig, VibeVoiceAsrForConditionalGeneration

assert transformers.__version__ == "5.23.0", transformers.__version__
HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


# 1. transformers' default VibeVoiceAsrConfig (its text_config is Qwen2Config's default, not the released LM).
write("hf_default_config.json", VibeVoiceAsrConfig().to_json_string())

# 2. The released microsoft/VibeVoice-ASR-HF shape (SPEC 1.1): Qwen2.5-7B decoder.
released_text = Qwen2Config(
    hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
    intermediate_size=18944, vocab_size=152064, rms_norm_eps=1e-6, max_position_embeddings=131072,
    hidden_act="silu", tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
    bos_token_id=151643, eos_token_id=151643)
released = VibeVoiceAsrConfig(text_config=released_text)
write("hf_released_config.json", released.to_json_string())

# 3. Tensor names and shapes of the released model, as transformers holds them in memory (meta device).
with torch.device("meta"):
    model = VibeVoiceAsrForConditionalGeneration(released)
write("hf_released_tensors.json", "{\n" + ",\n".join(
    f"{json.dumps(k)}: {json.dumps(list(v.shape))}" for k, v in model.state_dict().items()) + "\n}")

# 4. A tiny model: its config, and for every parameter the Hub-file name (save_pretrained), the in-memory
#    name and the shape. Each parameter is filled with its own index, so file and memory names pair by value.
tiny = VibeVoiceAsrConfig(
    acoustic_tokenizer_encoder_config=dict(hidden_size=8, num_filters=4, depths=[1, 2, 1, 1, 1, 1, 2]),
    semantic_tokenizer_encoder_config=dict(hidden_size=16, num_filters=4, depths=[2, 1, 1, 1, 1, 1, 1]),
    text_config=Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, vocab_size=200))
write("hf_tiny_config.json", tiny.to_json_string())
model = VibeVoiceAsrForConditionalGeneration(tiny)
with torch.no_grad():
    for i, (name, p) in enumerate(model.named_parameters()):
        p.fill_(float(i))
memory = {float(p.detach().flatten()[0]): name for name, p in model.named_parameters()}
with tempfile.TemporaryDirectory() as d:
    model.save_pretrained(d)
    rows = []
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        for key in sorted(f.keys()):
            t = f.get_tensor(key)
            rows.append({"file": key, "memory": memory[float(t.flatten()[0])], "shape": list(t.shape)})
assert len(rows) == len(memory)
write("hf_tiny_tensors.json", "[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]")
