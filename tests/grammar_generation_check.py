#!/usr/bin/env python3
"""Constrained generation end to end, judged by independent checkers: `mini-llm generate` with
--json-schema / --json / --grammar-file, many seeds, with the trained stories260K model
(SentencePiece vocabulary) and a synthetic model with the Llama 3 byte-level BPE vocabulary.
Every output that ends because the grammar is complete must validate against its schema with
Python's jsonschema (Draft 2020-12, formats checked) or match the grammar's language as written
here with Python's re / json modules, not with mini-llm's own converter or matcher. A model may
legitimately go on until the token limit where the grammar has no bound (a story model keeps
adding members to a free-form object), so those runs are counted, not failed; but every case must
finish at least once, and most runs of all must finish.

Environment: MINILLM_CLI (the mini-llm binary), MINILLM_MODEL (stories260K.gguf), MINILLM_DATA
(tests/data/grammar), MINILLM_LLAMA3_VOCAB (ggml-vocab-llama3.gguf; without it the bundled Llama 2
vocabulary stands in for the synthetic model, or the check fails under CI=true), MINILLM_SEEDS
(seeds per case, default 6)."""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema

CLI = os.environ["MINILLM_CLI"]
DATA = os.environ["MINILLM_DATA"]
SEEDS = int(os.environ.get("MINILLM_SEEDS", "6"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true")

MOVE = r"((([a-h]x)?[a-h][1-8](=[QRBN])?)|([KQRBN][a-h1-8]?x?[a-h][1-8])|(O-O(-O)?))[+#]?"
TURN = r"[1-9]\. " + MOVE + " " + MOVE


def arithmetic(text):
    """The language of arithmetic.gbnf, by recursive descent."""
    pos = 0

    def ws():
        nonlocal pos
        if text.startswith(" ", pos):
            pos += 1

    def factor():
        nonlocal pos
        m = re.compile(r"-?[0-9]{1,6}").match(text, pos)
        if m:
            pos = m.end()
            return True
        if not text.startswith("(", pos):
            return False
        pos += 1
        ws()
        if not expr():
            return False
        ws()
        if not text.startswith(")", pos):
            return False
        pos += 1
        return True

    def chain(item, ops):
        nonlocal pos
        if not item():
            return False
        for _ in range(3):
            save = pos
            ws()
            if pos < len(text) and text[pos] in ops:
                pos += 1
                ws()
                if item():
                    continue
            pos = save
            return True
        return True

    def term():
        return chain(factor, "*/")

    def expr():
        return chain(term, "-+")

    return expr() and pos == len(text)


GRAMMARS = {
    "json.gbnf": lambda t: isinstance(json.loads(t), dict),
    "arithmetic.gbnf": arithmetic,
    "list.gbnf": lambda t: re.fullmatch(r"(- [a-z][a-z ]{0,30}\n){1,5}", t) is not None,
    "identifiers.gbnf": lambda t: re.fullmatch(
        r"[a-zA-Z_][a-zA-Z0-9_]{0,15}(, ?[a-zA-Z_][a-zA-Z0-9_]{0,15}){0,7}", t) is not None,
    "chess.gbnf": lambda t: re.fullmatch(TURN + "( " + TURN + "){0,3}", t) is not None,
}

failures = []
runs = 0
finished = {}  # case -> finished runs


def generate(model, flags, seed):
    cmd = [CLI, "generate", "-m", model, "-p", "Once upon a time", "--no-echo", "-n", "3000", "-c", "4096",
           "--seed", str(seed), "--temp", "1.0"] + flags
    r = subprocess.run(cmd, capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.decode(errors='replace')}")
    stop = re.search(r"stop: ([a-z ]+) \|", r.stderr.decode())
    return r.stdout.decode("utf-8"), stop.group(1) if stop else "?"


def check(case, label, model, flags, judge):
    global runs
    finished.setdefault(case, 0)
    for seed in range(1, SEEDS + 1):
        runs += 1
        text, stop = generate(model, flags, seed)
        where = f"{label}, seed {seed}: {text!r}"
        if stop == "max tokens":
            continue
        if stop != "end of text":
            failures.append(f"{where}: stopped by '{stop}', not by the grammar ending")
            continue
        finished[case] += 1
        try:
            ok = judge(text)
        except Exception as e:  # a parse or validation error
            failures.append(f"{where}: {type(e).__name__}: {str(e).splitlines()[0]}")
            continue
        if not ok:
            failures.append(f"{where}: not in the grammar's language")


def check_model(name, model):
    for path in sorted(glob.glob(os.path.join(DATA, "schemas", "*.json"))):
        with open(path) as f:
            schema = json.load(f)
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        case = os.path.basename(path)
        check(case, f"{name} {case}", model, ["--json-schema", path],
              lambda t, v=validator: v.validate(json.loads(t)) is None)
    check("--json", f"{name} --json", model, ["--json"], lambda t: isinstance(json.loads(t), dict))
    for grammar, judge in GRAMMARS.items():
        check(grammar, f"{name} {grammar}", model,
              ["--grammar-file", os.path.join(DATA, grammar)], judge)


def main():
    check_model("stories260K", os.environ["MINILLM_MODEL"])
    vocab = os.environ.get("MINILLM_LLAMA3_VOCAB", "")
    # Without ../shared (outside CI) the bundled Llama 2 vocabulary stands in: a synthetic model
    # ends the free-form grammars that the story model keeps extending.
    name = "synthetic Llama 3 vocabulary"
    if not os.path.exists(vocab):
        if IN_CI:
            failures.append(f"the Llama 3 vocabulary is missing: {vocab!r}")
        print(f"note: no Llama 3 vocabulary at {vocab!r}; the bundled Llama 2 one stands in")
        vocab = os.path.join(DATA, "..", "vocab", "ggml-vocab-llama-spm.gguf")
        name = "synthetic Llama 2 vocabulary"
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "synthetic-tiny.gguf")
        subprocess.run([CLI, "synth", "--shape", "tiny", "--type", "f16", "--vocab", vocab,
                        "-o", model], check=True, capture_output=True)
        check_model(name, model)
    for case, n in sorted(finished.items()):
        print(f"{case}: {n} runs finished")
        if n == 0:
            failures.append(f"{case}: no run finished")
    total = sum(finished.values())
    if total < 0.6 * runs:
        failures.append(f"only {total} of {runs} runs finished")
    for f in failures:
        print("FAIL", f if len(f) < 600 else f[:300] + " ... " + f[-300:])
    print(f"{runs} generations, {total} finished, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
