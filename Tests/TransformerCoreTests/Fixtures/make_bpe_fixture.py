#!/usr/bin/env python3
"""Writes gpt2-bpe-reference.json: texts and their GPT-2 token ids computed by tiktoken 0.14
(an independent implementation, OpenAI's) over the encoder.json and vocab.bpe beside this file.

Run: pip install tiktoken==0.14.0 && python3 make_bpe_fixture.py
The texts are chosen to exercise every branch of GPT-2's pre-tokenizer: contractions, letters
and numbers with and without a leading space, punctuation runs, whitespace runs before words
and at the end, non-Latin scripts, emoji, and characters whose bytes are not valid alone.
"""
import json, os
import tiktoken

here = os.path.dirname(os.path.abspath(__file__))
bpe = os.path.join(here, "gpt2-bpe")
byte_encoder = {}
printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
codes = printable[:]
n = 0
for b in range(256):
    if b not in printable:
        printable.append(b)
        codes.append(256 + n)
        n += 1
byte_decoder = {chr(c): b for b, c in zip(printable, codes)}
encoder = json.load(open(os.path.join(bpe, "encoder.json"), encoding="utf-8"))
ranks = {bytes(byte_decoder[ch] for ch in token): rank for token, rank in encoder.items() if token != "<|endoftext|>"}
encoding = tiktoken.Encoding(
    name="gpt2-local",
    pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    mergeable_ranks=ranks,
    special_tokens={"<|endoftext|>": 50256},
)
texts = [
    "Hello world",
    "Hello, world! It's 2024.",
    "\n\nHuman: Write a haiku about bathrobes.\n\nAssistant:",
    "I'm sure they'll say we've done what you'd've wanted, 'twas the RE'S",
    "   leading spaces and trailing spaces   ",
    "tabs\tand\nnewlines\r\n\r\n  mixed   \n",
    "numbers 1234567890 and 3.14159 and -42 and 1,000,000",
    "punctuation!!! ??? ... --- ((nested)) {json: [1, 2]} <html>&amp;</html>",
    "Grüße aus München, ça va? Ñandú.",
    "日本語のテキストと中文文本 한국어 텍스트",
    "Emoji 🚀🔥 and flags 🇫🇷 and family 👨‍👩‍👧",
    "Math ∑ ∫ √ ∞ ≠ and symbols © ® ™ € £ ¥",
    "def f(x):\n    return x ** 2  # square\n",
    "Arabic مرحبا بالعالم and Hebrew שלום",
    "<|endoftext|> is plain text here",
    "",
    " ",
    "a",
    "x\u00a0y\u2003z",
]
cases = [{"text": t, "ids": encoding.encode_ordinary(t)} for t in texts]
json.dump({"generator": f"tiktoken {tiktoken.__version__}", "cases": cases}, open(os.path.join(here, "gpt2-bpe-reference.json"), "w"), ensure_ascii=False, indent=1)
print(len(cases), "cases")
