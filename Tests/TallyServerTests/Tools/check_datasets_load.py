"""Hugging Face `datasets` (pinned in Tests/requirements.txt) loads Tally's JSONL exports as they
are:  check_datasets_load.py FILE...  prints, per file, the rows and each column's feature type."""
import json
import sys

import datasets

result = {}
for path in sys.argv[1:]:
    loaded = datasets.load_dataset("json", data_files=path, split="train")
    result[path] = {"rows": loaded.num_rows, "features": {name: repr(feature) for name, feature in loaded.features.items()}}
print(json.dumps(result))
