"""Reads the folders `tally export-job` wrote with the engines themselves (make test-interop).

TRL 1.16: each `config.yaml` is parsed by the parser of the `trl` command it names (which refuses
an option it does not know), then that command's own `main` trains two steps on the folder's
data from the configured model, on the CPU, writing `output/` as a user's run would.
OpenRLHF 0.11.2: the options of each launch script go through the `__main__` block of the
module it runs (its own argparse parser, which refuses an unknown option, a missing value or a
value outside its choices, then its own checks of the arguments), stopped where it would start
training; the modules it imports that a CPU machine cannot install (DeepSpeed, Ray, vLLM, ...)
are stand-ins. The data keys it names are checked against the records.

Usage: check_handoff.py --openrlhf FOLDER_HOLDING_THE_OPENRLHF_PACKAGE --model TINY_MODEL ENGINE:STAGE:FOLDER ...
(ENGINE dataset: a folder of `tally export`, STAGE its format.)
"""
import json
import os
import shlex
import sys
import types

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


class _Stand_in(types.ModuleType):
    """A module OpenRLHF imports that a CPU machine lacks (DeepSpeed, Ray, vLLM, flash-attn):
    every name in it is another stand-in, so the imports succeed; nothing of it ever runs,
    since the check stops where OpenRLHF would start training."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stand_in(f"{self.__name__}.{name}")

    def __call__(self, *arguments, **keywords):
        return _Stand_in(self.__name__ + "()")

    def __mro_entries__(self, bases):
        return (object,)


class _StandInFinder:
    """Last on the import path: the modules OpenRLHF imports that are not installed here (its
    GPU-side dependencies) become stand-in packages, so their submodules import too. Only those:
    the standard library's optional imports (msvcrt, _winapi) must keep failing."""

    missing = set()

    @classmethod
    def scan(cls, package):
        """The top-level modules `package`'s files import that cannot be found."""
        import ast
        import importlib.util
        names = set()
        for folder, _, files in os.walk(package):
            for file in files:
                if not file.endswith(".py"):
                    continue
                for node in ast.walk(ast.parse(open(os.path.join(folder, file)).read())):
                    if isinstance(node, ast.Import):
                        names.update(alias.name.split(".")[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        names.add(node.module.split(".")[0])
        for name in names - {"openrlhf"}:
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                cls.missing.add(name)

    def find_spec(self, name, path=None, target=None):
        import importlib.util
        if name.split(".")[0] not in self.missing:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=True)

    def create_module(self, spec):
        module = _Stand_in(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def openrlhf_arguments(root, module, words):
    """Runs `module`'s own `__main__` block (its argparse parser, then its checks of the
    arguments) on `words`, and returns the arguments it would train with; stops before training."""
    if root not in sys.path:
        sys.path.insert(0, root)
    if not any(isinstance(finder, _StandInFinder) for finder in sys.meta_path):
        _StandInFinder.scan(os.path.join(root, "openrlhf"))
        sys.meta_path.append(_StandInFinder())
    path = os.path.join(root, *module.split(".")) + ".py"
    source = open(path).read()
    tail = source.rstrip().rsplit("\n", 1)
    if tail[-1].strip() != "train(args)":
        raise RuntimeError(f"{path} no longer ends by calling train(args): the check needs updating")
    source = tail[0] + "\n    _CAPTURED.append(args)\n"
    captured = []
    namespace = {"__name__": "__main__", "__file__": path, "_CAPTURED": captured}
    saved = sys.argv
    sys.argv = [path] + words
    try:
        exec(compile(source, path, "exec"), namespace)
    finally:
        sys.argv = saved
    return captured[0]


def check_openrlhf(stage, folder, root):
    records = [json.loads(line) for line in open(os.path.join(folder, "data", "train.jsonl"))]
    for script in ("train.sh", "train-multi-node.sh", "train-ray.sh"):
        path = os.path.join(folder, script)
        if not os.path.exists(path):
            continue
        text = open(path).read()
        command = text[text.index(" -m openrlhf.") if " -m openrlhf." in text else text.index("--module "):].split("\n\n")[0]
        command = command.replace('"$GPUS"', "2").replace('"$TRAIN_BATCH"', "16").replace('"$@"', "")
        words = shlex.split(command.replace("\\\n", " "))
        module = words[words.index("-m") + 1] if "-m" in words else words[words.index("--module") + 1]
        options = words[words.index(module) + 1:]
        try:
            openrlhf_arguments(root, module, options)
        except SystemExit as exit:
            fail(f"openrlhf {stage} {script}: {module}'s parser refused the options (exit {exit.code})")
            continue
        for index, word in enumerate(options):
            if word.startswith("--data.") and word.endswith("_key"):
                value = options[index + 1]
                if value not in records[0]:
                    fail(f"openrlhf {stage} {script}: {word} {value} names no field of the records ({sorted(records[0])})")
        # A renamed option must be refused, or this check proves nothing.
        try:
            openrlhf_arguments(root, module, options + ["--data.not_an_option_of_openrlhf", "1"])
            fail(f"openrlhf {stage} {script}: an unknown option was accepted")
        except SystemExit:
            pass
        print(f"ok openrlhf {stage} {script}: {module}'s own parser and checks accept it")


def check_dataset(export_format, folder, model):
    """A folder `tally export` wrote: `datasets` reads its splits as splits, and TRL's trainers
    prepare (tokenize) it and train two steps on it as they are."""
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer, SFTConfig, SFTTrainer
    dataset = load_dataset(folder)
    if "train" not in dataset:
        fail(f"dataset {export_format}: no train split ({list(dataset)})")
        return
    common = dict(output_dir=os.path.join(folder, "trl-output"), max_steps=2, per_device_train_batch_size=2, report_to="none",
                  save_strategy="no", use_cpu=True, bf16=False)
    if export_format == "comparisons":
        RewardTrainer(model=model, args=RewardConfig(max_length=64, **common), train_dataset=dataset["train"]).train()
        DPOTrainer(model=model, args=DPOConfig(max_length=64, **common), train_dataset=dataset["train"]).train()
        trainers = "RewardTrainer and DPOTrainer"
    else:
        SFTTrainer(model=model, args=SFTConfig(max_length=64, **common), train_dataset=dataset["train"]).train()
        trainers = "SFTTrainer"
    print(f"ok dataset {export_format}: splits {sorted(dataset)}, {trainers} prepared it and trained 2 steps")


def main():
    arguments = sys.argv[1:]
    package = model = None
    while arguments[:1] and arguments[0].startswith("--"):
        if arguments[0] == "--openrlhf":
            package = arguments[1]
        elif arguments[0] == "--model":
            model = arguments[1]
        arguments = arguments[2:]
    for item in arguments:
        engine, stage, folder = item.split(":", 2)
        try:
            if engine == "dataset":
                check_dataset(stage, folder, model)
            elif engine == "trl":
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
