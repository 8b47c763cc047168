#!/usr/bin/env python3
"""Rebuild Qwen2.5's tokenizer.json offline and record reference tokenizations.

Development script (run by a developer, never by CI). Needs Python with `tokenizers`,
`transformers==5.23.0` and `dashscope` (which ships `dashscope/resources/qwen.tiktoken`, Qwen's
BPE ranks as "base64-token rank" lines). No network.

Writes, under Tests/Fixtures/tokenizer/:
  qwen2.5-tokenizer.json.gz  the rebuilt tokenizer.json (SPEC.md section 6.1), gzip-compressed
  cases.json                 encode cases {text, ids, decoded, decoded_skip_special} and
                             decode cases {ids, decoded, decoded_skip_special}
  prompts.json               prompt cases {samples, context, ids} (SPEC.md section 6) and
                             assistant-prefix cases {text, ids} ("<|im_start|>assistant\n" + text)

Usage: python3 scripts/make_tokenizer_fixtures.py
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import sys
import unicodedata
from pathlib import Path

import dashscope
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from transformers.convert_slow_tokenizer import TikTokenConverter

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "tokenizer"

SPLIT_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
ADDED_TOKENS = [
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]

# SPEC.md section 6: the released checkpoint's prompt for a 5.86 s clip (44 audio tokens).
SPEC_PROMPT_IDS = (
    [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 429, 1356, 55136, 7699, 1946, 1119, 1467, 2550, 304,
     4718, 3561, 13, 151645, 198, 151644, 872, 198, 151646]
    + [151648] * 44
    + [151647, 198, 1986, 374, 264, 220, 20, 13, 23, 21, 6486, 7699, 11, 4486, 1356, 3114, 432, 448, 1493,
       6894, 25, 5145, 882, 11, 3972, 882, 11, 29073, 3034, 11, 8883, 151645, 198]
)
SPEC_GENERATED_IDS = [
    151644, 77091, 198, 58, 4913, 3479, 788, 15, 1335, 3727, 788, 20, 13, 23, 21, 1335, 82036, 788, 15, 1335,
    2762, 3252, 12275, 13, 3406, 2044, 374, 279, 38471, 273, 315, 279, 6149, 6846, 11, 323, 582, 525, 15713,
    311, 10565, 806, 41482, 1189, 25439, 151645, 198, 151643,
]
SPEC_GENERATED_TEXT = (
    'assistant\n[{"Start":0,"End":5.86,"Speaker":0,"Content":"Mr. Quilter is the apostle of the middle '
    'classes, and we are glad to welcome his gospel."}]\n'
)


class QwenTikTokenConverter(TikTokenConverter):
    """Reads the .tiktoken file directly, so the `tiktoken` package is not needed."""

    @staticmethod
    def load_tiktoken_bpe(tiktoken_url: str) -> dict[bytes, int]:
        ranks: dict[bytes, int] = {}
        with open(tiktoken_url, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        return ranks


def build_tokenizer() -> Tokenizer:
    tiktoken_file = Path(dashscope.__file__).parent / "resources" / "qwen.tiktoken"
    converter = QwenTikTokenConverter(vocab_file=str(tiktoken_file), pattern=SPLIT_PATTERN)
    tok = converter.tokenizer()
    assert tok.get_vocab_size() == 151643, tok.get_vocab_size()
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in ADDED_TOKENS])

    # Match the model section of the tokenizer.json Qwen2.5 checkpoints ship.
    doc = json.loads(tok.to_str())
    doc["model"]["ignore_merges"] = False
    doc["model"]["continuing_subword_prefix"] = ""
    doc["model"]["end_of_word_suffix"] = ""
    # decoders.ByteLevel() ignores its keyword arguments; the flags do not change decoding, but spell them
    # as Qwen2.5's file does.
    doc["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tok = Tokenizer.from_str(json.dumps(doc, ensure_ascii=False))

    for i, t in enumerate(SPECIAL_TOKENS + ADDED_TOKENS):
        assert tok.token_to_id(t) == 151643 + i, (t, tok.token_to_id(t))
    return tok


def prompt_text(samples: int, context: str | None, hop: int = 3200, rate: int = 24000) -> str:
    n = math.ceil(samples / hop)
    duration = "%.2f" % (samples / rate)
    ctx = (context or "").strip()
    if ctx:
        suffix = (f"This is a {duration} seconds audio, with extra info: {ctx}\n\n"
                  "Please transcribe it with these keys: Start time, End time, Speaker ID, Content")
    else:
        suffix = (f"This is a {duration} seconds audio, please transcribe it with these keys: "
                  "Start time, End time, Speaker ID, Content")
    return ("<|im_start|>system\nYou are a helpful assistant that transcribes audio input into text output "
            "in JSON format.<|im_end|>\n<|im_start|>user\n<|object_ref_start|>" + "<|box_start|>" * n
            + "<|object_ref_end|>\n" + suffix + "<|im_end|>\n")


def encode_cases() -> list[str]:
    nfd = unicodedata.normalize("NFD", "Café déjà vu, naïve Ångström, Œuvre, Việt Nam")
    cases = [
        "",
        " ",
        "Hello world",
        "Hello, world! How are you today?",
        "  leading spaces and trailing spaces   ",
        "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX.",
        "Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel.",
        # contractions, mixed case
        "I'm sure it's fine; you'll see they've gone and we'd won't. IT'S HE'LL WE'RE I'M THEY'VE YOU'D DON'T",
        "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'x ''s",
        "rock'n'roll o'clock ain't",
        "it'\u017f IT'S x'K don\u2019t",
        # numbers
        "1234567890 3.14159 -42 1e10 0x1F 007",
        "12345678901234567890123456789012345678901234567890",
        "Ⅻ ½ ² ٣٤٥ ०१२ 三",
        # CJK and other scripts
        "你好，世界！这是一个测试。",
        "日本語のテキストです。カタカナとひらがな。",
        "한국어 텍스트입니다.",
        "Привет, мир! Съешь же ещё этих мягких французских булок.",
        "مرحبا بالعالم! هذا اختبار.",
        "नमस्ते दुनिया, यह एक परीक्षण है।",
        "ΑΒΓ αβγ Ελληνικά",
        "עברית שלום",
        "ไทย สวัสดี",
        # combining characters, NFC and NFD input
        "Café déjà vu, naïve Ångström, Œuvre, Việt Nam",
        nfd,
        "e\u0301 a\u0308 n\u0303 \u0301alone",
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f"
        "\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358"
        "\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c"
        "\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
        "\ufb01 \u2126 \u212b \u00c5",
        # emoji
        "I love 🍕 and 🎉!",
        "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag",
        "🇺🇸🇬🇧🇯🇵 flags",
        "❤️ ✨ ☕ 1️⃣ #️⃣",
        "😀😃😄😁😆😅🤣😂",
        # whitespace of every kind
        "tab\tseparated\tvalues\t\tend\t",
        "line one\r\nline two\r\nline three",
        "old mac\rline",
        "unix\nlines\n\n\nwith blank lines\n",
        "no\u00a0break\u00a0space",
        "line\u2028separator\u2029paragraph",
        "ideographic\u3000space\u3000here",
        "em\u2003space thin\u2009space zero\u200bwidth",
        "vertical\u000btab form\u000cfeed next\u0085line",
        "many     spaces    between   words",
        "spaces at the end     ",
        "     ",
        "\n",
        "\n\n",
        " \n \n ",
        "\t \t\n",
        "   \r\n   x",
        "a \u00a0 b",
        "word\u00a0 \u00a0word",
        "x  \n  y",
        "a  \u0085\u0085, b  \u1680\u1680, c  \u2007\u2007, d  \u180e\u180e, e  \u001c\u001c, f  \ufeff\ufeff,",
        "trailing newline spaces  \n",
        # code and JSON
        "def foo(x):\n    return x ** 2  # square\n\nprint(foo(3))\n",
        "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        '[{"Start":0,"End":5.86,"Speaker":0,"Content":"Mr. Quilter is the apostle."}]',
        '{"key": "value", "list": [1, 2, 3], "nested": {"a": null, "b": true}}',
        "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
        "https://example.com/path?query=1&x=y#frag user@example.org",
        "$$$ %%% ^^^ &&& *** ((( ))) --- +++ === ... ,,, ;;; ::: !!! ??? ~~~",
        "--->\n\n---\n",
        # literal special / added tokens inside ordinary text
        "a<|im_start|>b<|endoftext|>",
        "<|im_start|>user\nhello<|im_end|>\n",
        "<|endoftext|><|endoftext|>",
        " <|im_start|> spaced <|im_end|> ",
        "<tool_call>{\"name\": \"f\"}</tool_call>",
        "x<|fim_prefix|>y<|fim_middle|>z<|fim_suffix|>w<|fim_pad|>",
        "<|repo_name|>repo<|file_sep|>file.py",
        "<|object_ref_start|><|box_start|><|box_start|><|object_ref_end|>",
        # invalid-looking things
        "<|im_start",
        "<|not_a_token|>",
        "<|im_start|im_end|>",
        "<<|im_end|>>",
        "<tool_call",
        "\ufffd replacement char",
        "\u0000 nul \u0001 control \u007f del",
        "\ufeffbom at start",
        "private use \ue000\U000f0000",
        "astral 𝕳𝖊𝖑𝖑𝖔 𝟘𝟙𝟚 𐍈",
        "mixed English и русский и 中文 и العربية 123",
        # long repeats
        "a" * 5000,
        " " * 3000 + "x",
        "ab" * 2500,
        "的" * 2000,
        "hello world " * 400,
        "😀" * 500,
        "\n" * 1000,
        "1" * 3000,
    ]
    return cases


def decode_cases(tok: Tokenizer) -> list[list[int]]:
    hello = tok.encode("héllo wörld", add_special_tokens=False).ids
    cjk = tok.encode("你好世界", add_special_tokens=False).ids
    # Byte-level token ids for single bytes: GPT-2 byte mapping of 0xe4 0xbd 0xa0 = "你".
    def byte_id(b: int) -> int:
        from transformers.convert_slow_tokenizer import bytes_to_unicode
        return tok.token_to_id(bytes_to_unicode()[b])
    return [
        [],
        SPEC_PROMPT_IDS,
        SPEC_GENERATED_IDS,
        [151643],
        [151643, 151644, 151645, 151646, 151647, 151648, 151649, 151650, 151651, 151652, 151653, 151654,
         151655, 151656],
        [151657, 151658, 151659, 151660, 151661, 151662, 151663, 151664],
        hello + [151645] + cjk,
        [9707, 151665, 1879],          # 151665 has no text
        [9707, 152063, 1879],          # last id of the model vocabulary
        [9707, 152064, 1879, 999999],  # outside the model vocabulary
        [9707, -1, 1879],              # negative
        [byte_id(0xE4), byte_id(0xBD)],                      # truncated UTF-8 (2 of 3 bytes)
        [byte_id(0xE4)] + [9707],                            # lead byte then ASCII
        [byte_id(0xBD), byte_id(0xA0)],                      # continuation bytes alone
        [byte_id(0xE4), byte_id(0xBD), byte_id(0xA0)],       # complete: 你
        [byte_id(0xF0), byte_id(0x9F), byte_id(0x98)] + [151645],  # truncated emoji then special
        [byte_id(0xFF), byte_id(0xFE), byte_id(0xC0), byte_id(0x80)],  # never-valid bytes, overlong
        [byte_id(0xED), byte_id(0xA0), byte_id(0x80)],       # UTF-16 surrogate encoded in UTF-8
        [byte_id(0xE4), 151644, byte_id(0xBD), byte_id(0xA0)],  # special id splits a character
    ]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()

    # Check the rebuilt tokenizer against the released checkpoint's ground truth (SPEC.md section 6).
    spec_text = prompt_text(140640, None)
    got = tok.encode(spec_text, add_special_tokens=False).ids
    if got != SPEC_PROMPT_IDS:
        print("rebuilt tokenizer does not reproduce the SPEC prompt:", got, file=sys.stderr)
        return 1
    assert len(got) == 103
    decoded = tok.decode(SPEC_GENERATED_IDS, skip_special_tokens=True)
    if decoded != SPEC_GENERATED_TEXT:
        print("rebuilt tokenizer does not decode the SPEC generation:", repr(decoded), file=sys.stderr)
        return 1
    print("SPEC section 6 prompt (103 ids) and generation reproduced")

    tokenizer_json = tok.to_str(pretty=False)
    blob = gzip.compress(tokenizer_json.encode("utf-8"), compresslevel=9, mtime=0)
    (OUT / "qwen2.5-tokenizer.json.gz").write_bytes(blob)
    print(f"tokenizer.json: {len(tokenizer_json)} chars, gzip {len(blob)} bytes")
    assert len(blob) < 5_000_000

    encode = []
    for text in encode_cases():
        ids = tok.encode(text, add_special_tokens=False).ids
        encode.append({
            "text": text,
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    decode = []
    for ids in decode_cases(tok):
        # HF drops ids it has no token for; negative ids are not representable in its API,
        # so the reference for those is the same list without them (what the Swift decoder must do too).
        usable = [i for i in ids if 0 <= i < 2**32]
        decode.append({
            "ids": ids,
            "decoded": tok.decode(usable, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(usable, skip_special_tokens=True),
        })
    with open(OUT / "cases.json", "w", encoding="utf-8") as f:
        # ASCII escapes: Foundation's JSON reader drops a raw U+FEFF at the start of a string.
        json.dump({"encode": encode, "decode": decode}, f, ensure_ascii=True, indent=1)
        f.write("\n")

    prompts = []
    for samples, context in [
        (140640, None),
        (140640, ""),
        (140640, "   \n\t  "),
        (140640, "Quilter, LibriSpeech"),
        (24000 * 60, "  Speakers: Alice, Bob. Topic: quarterly earnings, EBITDA.\n"),
        (1, "名前：田中さん、佐藤さん"),
        (3200, "line one\nline two"),
        (3201, None),
        (24000 * 600, "hotwords: VibeVoice, Qwen2"),
        (0, None),
    ]:
        ids = tok.encode(prompt_text(samples, context), add_special_tokens=False).ids
        prompts.append({"samples": samples, "context": context, "ids": ids})
    prefixes = []
    for text in ['', '[{"Start":0,"End":5.86,"Speaker":0,"Content":"Mr. Quilter is the apostle."},',
                 '[{"Start":0.0,"End":7.56,"Speaker":0,"Content":"你好，世界"},{"Start":7.56,']:
        ids = tok.encode("<|im_start|>assistant\n" + text, add_special_tokens=False).ids
        prefixes.append({"text": text, "ids": ids})
    with open(OUT / "prompts.json", "w", encoding="utf-8") as f:
        json.dump({"prompts": prompts, "assistant_prefixes": prefixes}, f, ensure_ascii=True)
        f.write("\n")
    print(f"wrote {len(encode)} encode cases, {len(decode)} decode cases, {len(prompts)} prompt cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
