#!/usr/bin/env python3
"""Checks a reward-model folder Tally saved against Hugging Face's code where it runs without
PyTorch: transformers reads config.json as a LlamaForSequenceClassification's (one label, a pad
token that is not the end of turn), the safetensors library reads the weights (the trunk under
Llama's names and `score.weight` [1, C], no language-model head), and an independent numpy
forward pass (llama_numpy.py) reads each score where transformers does, at the last token that
is not padding, and must reproduce Tally's scores.

    python3 check_reward_model.py FOLDER

FOLDER holds the saved model and expected.json: {"sequences": [[ids...] right-padded],
"scores": [raw score per sequence], "rewards": [(score - mean) / std per sequence]}.
Exits non-zero, saying what differs. Test tooling only.
"""
import json, os, sys
import numpy as np
from safetensors.numpy import load_file
from transformers import AutoConfig, PreTrainedTokenizerFast

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "TransformerCoreTests", "Tools"))
from llama_numpy import final_hidden_states


def main():
    folder = sys.argv[1]
    config = AutoConfig.from_pretrained(folder)
    if config.architectures != ["LlamaForSequenceClassification"] or config.num_labels != 1:
        print(f"MISMATCH: architectures {config.architectures}, num_labels {config.num_labels}")
        sys.exit(1)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if config.pad_token_id is None or config.pad_token_id == end_of_turn:
        print(f"MISMATCH: pad_token_id {config.pad_token_id} must be set and differ from the end of turn {end_of_turn}")
        sys.exit(1)
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    if "lm_head.weight" in tensors or tensors["score.weight"].shape != (1, config.hidden_size):
        print(f"MISMATCH: expected score.weight [1, {config.hidden_size}] and no lm_head, got {sorted(k for k in tensors if not k.startswith('model.layers'))}")
        sys.exit(1)
    expected = json.load(open(os.path.join(folder, "expected.json")))
    # The numpy pass reads config.json itself: transformers 5 moves rope_theta into rope_parameters.
    raw = json.load(open(os.path.join(folder, "config.json")))
    score_weight = tensors["score.weight"].astype(np.float64)[0]
    for index, (ids, score, reward) in enumerate(zip(expected["sequences"], expected["scores"], expected["rewards"])):
        ids = np.array(ids)
        # transformers' rule: the score of the rightmost token that is not padding.
        last = int(np.max(np.nonzero(ids != config.pad_token_id)[0]))
        if ids[last] != end_of_turn:
            print(f"MISMATCH: sequence {index}: transformers would read the score at token {ids[last]}, not the end of turn")
            sys.exit(1)
        hidden = final_hidden_states(tensors, raw, ids[: last + 1])
        numpy_score = float(hidden[last] @ score_weight)
        numpy_reward = (numpy_score - raw["mean"]) / raw["std"]
        if abs(numpy_score - score) > 1e-3 * max(1, abs(score)) or abs(numpy_reward - reward) > 1e-3 * max(1, abs(reward)):
            print(f"MISMATCH: sequence {index}: numpy score {numpy_score} reward {numpy_reward}, Tally {score} {reward}")
            sys.exit(1)
    print(f"OK: {len(expected['sequences'])} scores agree; pad {config.pad_token_id}, mean {raw['mean']}, std {raw['std']}")


if __name__ == "__main__":
    main()
