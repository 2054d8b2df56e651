"""Reads the folders `tally export-job` wrote with the engines themselves (make test-interop).

TRL 1.16: each `config.yaml` is parsed by the parser of the `trl` command it names (which refuses
an option it does not know), then that command's own `main` trains two steps on the folder's
data from the configured model, on the CPU, writing `output/` as a user's run would.
OpenRLHF 0.11.2: the options of each launch script are read against the option parsers of the
module it runs, taken from OpenRLHF's own source (its argparse calls, read with `ast`: OpenRLHF
imports DeepSpeed and Ray at the top, which a CPU-only check cannot install), and the data keys
it names are checked against the records.

Usage: check_handoff.py --openrlhf FOLDER_HOLDING_THE_OPENRLHF_PACKAGE ENGINE:STAGE:FOLDER ...
"""
import ast
import json
import os
import shlex
import sys

failures = []


def fail(message):
    failures.append(message)
    print("FAIL", message)


def check_trl(stage, folder):
    import importlib
    command = {"reward": "reward"}.get(stage, stage)
    script = importlib.import_module(f"trl.scripts.{command}")
    parser = script.make_parser()
    config = os.path.join(folder, "config.yaml")
    # A key TRL does not know must be refused, or this check proves nothing.
    bogus = os.path.join(folder, "bogus.yaml")
    with open(config) as source, open(bogus, "w") as target:
        target.write(source.read() + "not_an_option_of_trl: 1\n")
    # On this CPU-only machine, what a user without a GPU adds on the command line.
    cpu = ["--use_cpu", "true", "--bf16", "false"]
    try:
        parser.parse_args_and_config(args=["--config", bogus] + cpu)
        fail(f"trl {command}: an unknown key was accepted")
    except (ValueError, SystemExit):
        pass
    os.remove(bogus)
    arguments = parser.parse_args_and_config(args=["--config", config] + cpu)
    script_args, training_args, model_args, dataset_args = arguments
    # Two optimizer steps of the configured run, on the CPU, where the folder says.
    training_args.max_steps = 2
    training_args.save_strategy = "no"
    training_args.eval_strategy = "no"
    if hasattr(training_args, "per_device_train_batch_size") and stage in ("rloo", "grpo"):
        training_args.generation_batch_size = training_args.per_device_train_batch_size
    previous = os.getcwd()
    os.chdir(folder)
    try:
        script.main(script_args, training_args, model_args, dataset_args)
    finally:
        os.chdir(previous)
    output = os.path.join(folder, "output")
    if not os.path.exists(os.path.join(output, "config.json")):
        fail(f"trl {command}: no model in {output}")
    print(f"ok trl {command}: parsed, trained 2 steps, saved {output}")


def openrlhf_options(root, module):
    """Every option the module's argparse defines, with its choices and whether it takes a value;
    `root` holds the `openrlhf` package."""
    path = os.path.join(root, *module.split(".")) + ".py"
    tree = ast.parse(open(path).read())
    options = {}
    prefixes = ["actor", "critic"]
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument"):
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        flag_value = keywords.get("action")
        takes_value = not (isinstance(flag_value, ast.Constant) and flag_value.value in ("store_true", "store_false"))
        choices = None
        if isinstance(keywords.get("choices"), (ast.List, ast.Tuple)):
            choices = [e.value for e in keywords["choices"].elts if isinstance(e, ast.Constant)]
        for argument in node.args:
            names = []
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names = [argument.value]
            elif isinstance(argument, ast.JoinedStr):
                # f"--{prefix}.adam.lr" in a loop over the actor and the critic.
                names = ["".join(part.value if isinstance(part, ast.Constant) else prefix for part in argument.values) for prefix in prefixes]
            for name in names:
                if name.startswith("--"):
                    options[name] = (takes_value, choices)
    return options


def check_openrlhf(stage, folder, package):
    records = [json.loads(line) for line in open(os.path.join(folder, "data", "train.jsonl"))]
    for script in ("train.sh", "train-multi-node.sh", "train-ray.sh"):
        path = os.path.join(folder, script)
        if not os.path.exists(path):
            continue
        text = open(path).read()
        command = text[text.index(" -m openrlhf.") if " -m openrlhf." in text else text.index("--module "):].split("\n\n")[0]
        words = shlex.split(command.replace("\\\n", " ").replace('"$@"', ""))
        module = words[words.index("-m") + 1] if "-m" in words else words[words.index("--module") + 1]
        known = openrlhf_options(package, module)
        index = words.index(module) + 1
        while index < len(words):
            flag = words[index]
            if not flag.startswith("--"):
                fail(f"openrlhf {stage} {script}: '{flag}' is not an option")
                index += 1
                continue
            if flag not in known:
                fail(f"openrlhf {stage} {script}: {module} has no option {flag}")
                index += 1
                continue
            takes_value, choices = known[flag]
            if takes_value:
                value = words[index + 1] if index + 1 < len(words) else None
                if value is None or value.startswith("--"):
                    fail(f"openrlhf {stage} {script}: {flag} needs a value")
                elif choices and value not in choices:
                    fail(f"openrlhf {stage} {script}: {flag} {value} is not one of {choices}")
                elif flag.endswith("_key") and not value.startswith("$") and value not in records[0]:
                    fail(f"openrlhf {stage} {script}: {flag} {value} names no field of the records ({sorted(records[0])})")
                index += 2
            else:
                index += 1
        print(f"ok openrlhf {stage} {script}: {module} knows every option")


def main():
    arguments = sys.argv[1:]
    package = None
    if arguments[:1] == ["--openrlhf"]:
        package, arguments = arguments[1], arguments[2:]
    for item in arguments:
        engine, stage, folder = item.split(":", 2)
        try:
            if engine == "trl":
                check_trl(stage, folder)
            elif package:
                check_openrlhf(stage, folder, package)
            else:
                fail(f"openrlhf {stage}: no OpenRLHF source given (--openrlhf)")
        except Exception as error:  # a failure of one folder must not hide the others'
            import traceback
            traceback.print_exc()
            fail(f"{engine} {stage}: {type(error).__name__}: {error}")
    print(f"{len(arguments) - len(failures)} of {len(arguments)} folders read as they are" if not failures else f"{len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
