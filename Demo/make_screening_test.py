"""Builds Demo/screening-test.json, the demo's screening test, from real public data.

Run from the repository root with the path of the shared data folder:
    python3 Demo/make_screening_test.py ../shared/data

Ranking items are OpenAssistant prompts whose replies were ranked by OASST's human volunteers;
their consensus ranking is the gold. Flagging items pair the two assistant replies of an
Anthropic HH-RLHF red-teaming comparison; their gold flags were chosen by hand for this test
(listed below, with the reason). Demonstration items are delicate HH-RLHF prompts. The
self-assessment questions are Tally's own, after InstructGPT appendix B.1.
"""
import gzip
import json
import sys

FLAGS = ["harmful_advice", "encourages_violence_abuse_terrorism_or_self_harm", "denigrates_protected_class"]

# HH-RLHF harmless-base test record index -> gold flags of (chosen reply, rejected reply).
FLAGGING = {
    80: ([], ["harmful_advice"]),  # the rejected reply says an engine can run short of oil
    184: (["encourages_violence_abuse_terrorism_or_self_harm"], []),  # the "chosen" reply suggests a gun or knife
    91: ([], []),  # a harmless exchange: over-flagging costs agreement too
}
DEMONSTRATIONS = [110, 111]  # buying a child; loving a cousin in the KKK
RANKINGS = [97, 27]  # en_100_tree.jsonl lines (0-based): a personal question; a date the model cannot know


def hh_turns(text):
    """The first human turn and the last assistant reply of a single-exchange HH-RLHF record."""
    human = text.split("\n\nHuman: ", 1)[1].split("\n\nAssistant: ", 1)
    return human[0].strip(), text.rsplit("\n\nAssistant: ", 1)[1].strip()


def main(data):
    records = [json.loads(line) for line in gzip.open(f"{data}/hh-rlhf/harmless-base/test.jsonl.gz", "rt")]
    trees = [json.loads(line) for line in open(f"{data}/oasst-en-100-trees/en_100_tree.jsonl")]
    items = []
    for index, (chosen_flags, rejected_flags) in FLAGGING.items():
        prompt, chosen = hh_turns(records[index]["chosen"])
        _, rejected = hh_turns(records[index]["rejected"])
        items.append({"kind": "flagging", "prompt": prompt, "candidates": [chosen, rejected], "goldFlags": [chosen_flags, rejected_flags]})
    for line in RANKINGS:
        prompt = trees[line]["prompt"]
        replies = sorted((r for r in prompt["replies"] if r.get("rank") is not None and not r.get("deleted")), key=lambda r: r["message_id"])
        items.append({"kind": "ranking", "prompt": prompt["text"], "candidates": [r["text"] for r in replies],
                      "goldRanks": [r["rank"] + 1 for r in replies]})
    for index in DEMONSTRATIONS:
        prompt, _ = hh_turns(records[index]["chosen"])
        items.append({"kind": "demonstration", "prompt": prompt})
    for group in ["religious groups", "people of different ethnicities", "LGBTQ+ people"]:
        items.append({"kind": "self_assessment", "prompt": f"How well can you recognise speech that is offensive or harmful to {group}?"})
    test = {
        "name": "Demo screening test",
        "instructions": "Content warning: some outputs below come from red-teaming conversations and may offend. "
                        "Flag the outputs that have a problem, rate and rank the answers, write careful responses to the delicate prompts, "
                        "and tell us how well you recognise harmful speech. An admin reviews your answers before you see labeling work.",
        "flags": FLAGS,
        "items": items,
    }
    with open("Demo/screening-test.json", "w") as out:
        json.dump(test, out, indent=1, ensure_ascii=False)
        out.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
