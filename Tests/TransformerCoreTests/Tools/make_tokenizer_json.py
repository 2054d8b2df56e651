#!/usr/bin/env python3
"""Writes a Hugging Face `tokenizer.json` and the encodings Hugging Face's own `tokenizers`
library gives, for the tests of Tally's tokenizer.json loader.

    python3 make_tokenizer_json.py STYLE VOCAB.json MERGES.txt OUTPUT_FOLDER

STYLE is one of:
  smollm              GPT-2's byte-level BPE (the fixture's files) behind SmolLM2's pre-tokenizer
                      (each digit a piece of its own, then GPT-2's rule), two added special tokens;
  llama3              the same vocabulary behind Llama 3's pre-tokenizer (its Split regex, then
                      ByteLevel without its own) with `ignore_merges`, as Llama 3's tokenizer.json
                      has them; one extra token no merge reaches shows `ignore_merges` at work;
  sentencepiece       a SentencePiece-style BPE over characters with byte fallback, trained here
                      on a small corpus, laid out as transformers' LlamaConverter writes Llama 2's
                      and TinyLlama's tokenizer (<unk>, <s>, </s>, then <0x00>..<0xFF>, then pieces;
                      the Prepend and Replace normalizer);
  sentencepiece-first the same with the newer conversion (a Metaspace pre-tokenizer, prepend
                      scheme "first", no normalizer).

Writes tokenizer.json and expected.json ({"texts", "ids", "decoded", "template", "messages",
"template_ids"}). The texts are chosen edge cases plus random strings (fixed seed) mixing
scripts, digits, symbols, contractions and every kind of whitespace. "template" is the chat
template the style's model family ships (SmolLM2's ChatML, Llama 3.2's, TinyLlama's), and
"template_ids" what transformers' apply_chat_template makes of "messages" with it. Test
tooling only.
"""
import json, os, random, sys
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, Regex, trainers
from transformers import PreTrainedTokenizerFast

LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

TEXTS = [
    "Hello, world! It's 2024-11-22 and 3.14159 is π.",
    "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n",
    "  spaces   and\ttabs\n\nnewlines 100000 times",
    "Ünïcödé, 中文, emoji 🤖 and numbers ١٢٣",
    "I'M SURE HE'S RIGHT, THEY'LL SEE. We've, you'd, it'S",
    "line one\r\nline two\n\n\n   indented\n\t\ttabbed  \n  ",
    "$100,000.50 is 1234567 cents; x=y+z; (a)[b]{c} ... !!! ???",
    " leading space and trailing space ",
    "zzyzx road, and zzyzx",
    "tabs\tbefore\twords, 'quoted' and \"double\"",
    "",
    "\u00a0non-breaking\u00a0spaces\u3000ideographic\u2028line",
    "combining e\u0301 accents and ﬁ ligatures, ſ long s's",
    "</s>after the end<s> and again</s>",
]

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~",
    "'",
    "    \t\n\r",
    "éèüßñçøåÆŒЖжЯя中文字日本語한국어αβγΔΩ",
    "١٢٣²³½ⅫⅣ",
    "🤖😀👍🏽\u0301\u200d\u00a0\u3000\u2028",
]


def random_texts(count, seed):
    generator = random.Random(seed)
    texts = []
    for _ in range(count):
        pieces = []
        for _ in range(generator.randint(1, 12)):
            pool = generator.choice(POOLS)
            pieces.append("".join(generator.choice(pool) for _ in range(generator.randint(1, 5))))
            if generator.random() < 0.2:
                pieces.append(generator.choice(["'s", "'T", "'re", "'VE", "'ll", "'d", "'M"]))
        texts.append("".join(pieces))
    return texts


def gpt2_files(vocab_path, merges_path):
    vocab = json.load(open(vocab_path))
    merges = [tuple(line.split(" ")) for line in open(merges_path, encoding="utf-8").read().split("\n")
              if line and not line.startswith("#version")]
    return vocab, merges


def byte_level(style, vocab, merges):
    if style == "smollm":
        tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    else:
        vocab = dict(vocab)
        vocab["Ġzzyzx"] = len(vocab)  # reachable by no merge: only ignore_merges finds it
        tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ])
    tokenizer.decoder = decoders.ByteLevel()
    if style == "smollm":
        tokenizer.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    else:
        tokenizer.add_special_tokens(["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])
    return tokenizer


CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Write a short poem about the sea, and explain each line in plain words.",
    "A reward model scores each answer; the policy learns from the scores.",
    "Labelers rank the outputs from best to worst, and ties are allowed.",
    "Rain falls on the hills in the spring, and the rivers run to the sea.",
    "Numbers like 12, 345 and 6789 appear in text too.",
] * 20


def sentence_piece(style):
    # Train pieces over characters with the same normalizer the model will use.
    trainer_model = models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    trained = Tokenizer(trainer_model)
    trained.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=40, show_progress=False)
    trained.train_from_iterator(CORPUS, trainer=trainer)
    state = json.loads(trained.to_str())
    pieces = sorted(state["model"]["vocab"].items(), key=lambda item: item[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for piece, _ in pieces:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if style == "sentencepiece":
        tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tokenizer.add_special_tokens(["<unk>", "<s>", "</s>"])
    return tokenizer


# The chat templates the families ship, as their tokenizer_config.json holds them (Llama 3.2's
# tool-calling branches are shortened: they render nothing when no tools are passed).
SMOLLM2_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
                    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
                    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

LLAMA32_TEMPLATE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

TINYLLAMA_TEMPLATE = ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
                      "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
                      "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
                      "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")

MESSAGES = [
    {"role": "system", "content": "  You answer briefly.\n"},
    {"role": "user", "content": "What is 12 + 30? "},
    {"role": "assistant", "content": "42."},
    {"role": "user", "content": "And 7 × 6, in words?"},
]


def chat_ids(tokenizer, style):
    template, special = {
        "smollm": (SMOLLM2_TEMPLATE, {}),
        "llama3": (LLAMA32_TEMPLATE, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    }.get(style, (TINYLLAMA_TEMPLATE, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, chat_template=template, **special)
    ids = fast.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True, date_string="26 Jul 2024")
    if hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    return template, list(ids)


def main():
    style, vocab_path, merges_path, folder = sys.argv[1:5]
    if style in ("smollm", "llama3"):
        tokenizer = byte_level(style, *gpt2_files(vocab_path, merges_path))
    elif style in ("sentencepiece", "sentencepiece-first"):
        tokenizer = sentence_piece(style)
    else:
        sys.exit(f"unknown style {style}")
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    texts = TEXTS + random_texts(300, seed=7)
    ids = [tokenizer.encode(text).ids for text in texts]
    decoded = [tokenizer.decode(row, skip_special_tokens=False) for row in ids]
    template, template_ids = chat_ids(tokenizer, style)
    json.dump({"texts": texts, "ids": ids, "decoded": decoded, "template": template, "messages": MESSAGES,
               "template_ids": template_ids}, open(os.path.join(folder, "expected.json"), "w"))
    print(f"OK: {len(texts)} texts encoded")


if __name__ == "__main__":
    main()
