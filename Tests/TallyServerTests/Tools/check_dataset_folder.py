"""Hugging Face `datasets` (pinned in Tests/requirements.txt) loads a dataset folder written by
`tally export` as a user would, `datasets.load_dataset(FOLDER)`, reading the card's YAML header:
check_dataset_folder.py FOLDER prints each split's rows and the features, and whether the card's
declared features are the ones `datasets` infers from the files by itself."""
import json
import sys

import datasets

folder = sys.argv[1]
loaded = datasets.load_dataset(folder)
inferred = {}
for split in loaded:
    alone = datasets.load_dataset("json", data_files=f"{folder}/{split}.jsonl", split="train")
    inferred[split] = alone.features == loaded[split].features
print(json.dumps({
    "splits": {split: loaded[split].num_rows for split in loaded},
    "features": {name: repr(feature) for name, feature in next(iter(loaded.values())).features.items()},
    "declaredMatchesInferred": inferred,
}))
