#!/usr/bin/env python3
"""Checks a tokenizer Tally saved (tokenizer.json, tokenizer_config.json) with Hugging Face's
own code: the `tokenizers` library must encode each text as Tally did, and transformers'
AutoTokenizer must render and encode the conversation with the saved chat template as Tally's
ChatTemplate did.

    python3 check_saved_tokenizer.py FOLDER

FOLDER holds the saved files and expected.json ({"texts", "ids", "messages", "chat_ids"} from
Tally). Exits non-zero, saying what differs. Test tooling only.
"""
import json, os, sys
from tokenizers import Tokenizer
from transformers import AutoTokenizer


def main():
    folder = sys.argv[1]
    expected = json.load(open(os.path.join(folder, "expected.json")))
    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    for text, ids in zip(expected["texts"], expected["ids"]):
        got = tokenizer.encode(text).ids
        if got != ids:
            print(f"MISMATCH: {text!r}: tokenizers gives {got}, Tally {ids}")
            sys.exit(1)
    fast = AutoTokenizer.from_pretrained(folder)
    chat = fast.apply_chat_template(expected["messages"], add_generation_prompt=True, tokenize=True)
    if hasattr(chat, "input_ids"):
        chat = chat["input_ids"]
    if list(chat) != expected["chat_ids"]:
        print(f"MISMATCH: the chat template gives {list(chat)}, Tally {expected['chat_ids']}")
        sys.exit(1)
    print(f"OK: {len(expected['texts'])} texts and a conversation of {len(expected['messages'])} messages agree")


if __name__ == "__main__":
    main()
