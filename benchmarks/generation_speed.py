"""Local generation speed: the numpy decoder against transformers, measured side by side in one run.

Rows (every ratio compares two numbers from this run, on this machine):

* **decode tokens/s** after the first token, on the same prompts and the same number of new
  tokens (end-of-sequence masked on both sides): numpy (one BLAS thread, the default) against
  ``model.generate`` with torch's default threads and with one thread. Target: at least 4x.
* **whole-process ask**: ``ragtune ask "Write a haiku about autumn." --route direct`` (fresh
  process, warm model cache) against a script that imports transformers, loads the same
  model and generates the same number of tokens greedily. Target: at most 0.3x. Peak RSS of both,
  and of the same ``ask`` on the baseline checkout given by ``--before`` (today's engine).
* **compare** (with ``--compare``): ``ragtune compare`` on ``examples/compare`` wall time, with
  this checkout and with ``--before``.

    python benchmarks/generation_speed.py --before /work/main
    python benchmarks/generation_speed.py --before /work/main --compare
    python benchmarks/generation_speed.py --int8 --tokens 48
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, print_table

from ragtune.testing.greedy import GREEDY_PROMPTS

PROMPTS = (
    "Write a haiku about autumn.",
    "Explain what a vector database is in two sentences.",
    "List three uses of a hammer.",
)
HAIKU = "Write a haiku about autumn."

_HF_SCRIPT = """
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, n = sys.argv[1], int(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
prompt = tokenizer.apply_chat_template([{"role": "user", "content": sys.argv[3]}], tokenize=False,
                                       add_generation_prompt=True)
ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
with torch.inference_mode():
    out = model.generate(**ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=2)
print(tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
"""


def decode_rates(tokens: int) -> list[list[object]]:
    """Tokens/s after the first token, per engine, summed over :data:`PROMPTS`; ratios to transformers."""
    import torch
    from transformers import AutoModelForCausalLM

    from ragtune.llm import loader
    from ragtune.llm.block_decoder import BlockDecoder, block_graphs
    from ragtune.llm.numpy_chat import NumpyChat
    from ragtune.llm.numpy_decoder import Decoding

    folder = loader.cache_dir()
    graphs = block_graphs(loader.LOCAL_MODEL_ID)
    two = NumpyChat(folder, graphs=graphs)
    two.decoder = BlockDecoder(folder, graphs, threads=2)
    chats = {
        "numpy float32 (1 thread)": NumpyChat(folder),
        "blocks: GGUF Q4_1/Q8_0, int8 products (1 thread)": NumpyChat(folder, graphs=graphs),
        "blocks (2 threads)": two,
    }
    for chat in chats.values():
        chat.decoder.eos = set()  # always `tokens` new tokens, as min_new_tokens does for transformers
    prompts = [chats["numpy float32 (1 thread)"].prompt_ids([{"role": "user", "content": p}]) for p in PROMPTS]

    def numpy_run(chat: NumpyChat, ids: list[int]) -> tuple[float, float]:
        with chat._blas_threads():
            start = time.perf_counter()
            stream = chat.decoder.generate(ids, Decoding(max_new_tokens=tokens))
            next(stream)
            first = time.perf_counter()
            rest = sum(1 for _ in stream)
            assert rest == tokens - 1
            return first - start, time.perf_counter() - first

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()

    def hf_run(ids: list[int]) -> tuple[float, float]:
        tensor = torch.tensor([ids])
        times = []
        for n in (1, tokens):
            start = time.perf_counter()
            with torch.inference_mode():
                model.generate(tensor, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=2)
            times.append(time.perf_counter() - start)
        return times[0], times[1] - times[0]

    default_threads = torch.get_num_threads()
    engines: list[tuple[str, Any, int | None]] = [
        (name, functools.partial(numpy_run, chat), None) for name, chat in chats.items()
    ]
    engines.append((f"transformers (torch's default {default_threads} threads)", hf_run, default_threads))
    if default_threads != 1:
        engines.append(("transformers (1 thread)", hf_run, 1))
    rows: list[list[object]] = []
    for name, run, threads in engines:
        if threads is not None:
            torch.set_num_threads(threads)
        run(prompts[0][:8])  # warm-up
        firsts, decodes = [], []
        for ids in prompts:
            first, rest = run(ids)
            firsts.append(first)
            decodes.append(rest)
        rows.append([name, statistics.median(firsts) * 1000, len(prompts) * (tokens - 1) / sum(decodes)])
    baseline = float(rows[len(chats)][2])  # type: ignore[arg-type]
    return [[*row, float(row[2]) / baseline] for row in rows]  # type: ignore[arg-type]


def _timed(argv: list[str], pythonpath: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one process (``wait4`` gives the child's own peak)."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=pythonpath)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{err.read().decode(errors='replace')[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def whole_process(runs: int, before: Path | None) -> list[list[object]]:
    from ragtune.llm import loader

    store = Path(tempfile.mkdtemp(prefix="genspeed-store-"))
    try:
        ask = [sys.executable, "-m", "ragtune", "ask", HAIKU, "--route", "direct", "--store", str(store)]
        samples = [_timed([*ask, "--json"], REPO) for _ in range(runs)]
        tokens = int(json.loads(samples[-1][2])["usage"]["output_tokens"])
        script = [sys.executable, "-c", _HF_SCRIPT, str(loader.cache_dir()), str(tokens), HAIKU]
        hf = [_timed(script, REPO) for _ in range(runs)]
        rows: list[list[object]] = []
        ask_wall = statistics.median(s[0] for s in samples)
        hf_wall = statistics.median(s[0] for s in hf)
        rows.append(
            [f"ragtune ask --route direct ({tokens} tokens)", ask_wall, max(s[1] for s in samples), ask_wall / hf_wall]
        )
        rows.append([f"transformers script ({tokens} tokens)", hf_wall, max(s[1] for s in hf), 1.0])
        if before is not None:
            old = [_timed([*ask, "--json"], before) for _ in range(runs)]
            old_wall = statistics.median(s[0] for s in old)
            rows.append(
                [
                    "ragtune ask --route direct, before (--before checkout)",
                    old_wall,
                    max(s[1] for s in old),
                    old_wall / hf_wall,
                ]
            )
        return rows
    finally:
        shutil.rmtree(store, ignore_errors=True)


GREEDY_SET = GREEDY_PROMPTS
"""The fixed greedy set of ``tests/test_numpy_generation.py``."""


def int8_rows(tokens: int) -> list[list[object]]:
    """Per-channel int8 weights and the GGUF blocks against float32 on :data:`GREEDY_SET`: identical answers,
    shared prefix, speed."""
    from ragtune.llm import loader
    from ragtune.llm.block_decoder import block_graphs
    from ragtune.llm.numpy_chat import NumpyChat
    from ragtune.llm.numpy_decoder import Decoding

    chat = NumpyChat(loader.cache_dir())
    blocks = NumpyChat(loader.cache_dir(), graphs=block_graphs(loader.LOCAL_MODEL_ID))
    prompts = [chat.prompt_ids([{"role": "user", "content": p}]) for p in GREEDY_SET]
    decoding = Decoding(max_new_tokens=tokens, repetition_penalty=1.05)
    outputs, rates = {}, {}
    for name in ("float32", "blocks", "int8"):
        engine = blocks if name == "blocks" else chat
        if name == "int8":
            chat.decoder.quantize_int8()
        made, start = [], time.perf_counter()
        with engine._blas_threads():
            for ids in prompts:
                made.append(list(engine.decoder.generate(ids, decoding)))
        outputs[name], rates[name] = made, sum(map(len, made)) / (time.perf_counter() - start)
    rows: list[list[object]] = [["float32", f"{len(GREEDY_SET)} of {len(GREEDY_SET)}", 1.0, rates["float32"]]]
    for name, label in (("blocks", "GGUF blocks (Q4_1/Q8_0), int8 products"), ("int8", "int8 per channel")):
        same = sum(a == b for a, b in zip(outputs["float32"], outputs[name], strict=True))
        prefix = []
        for a, b in zip(outputs["float32"], outputs[name], strict=True):
            k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            prefix.append(k / max(len(a), 1))
        rows.append([label, f"{same} of {len(GREEDY_SET)}", statistics.mean(prefix), rates[name]])
    return rows


def compare_wall(pythonpath: Path) -> float:
    """Wall seconds of ``ragtune compare`` on examples/compare (fresh store and output folder)."""
    work = Path(tempfile.mkdtemp(prefix="genspeed-compare-"))
    try:
        example = REPO / "examples" / "compare"
        argv = [
            sys.executable, "-m", "ragtune", "compare", str(example / "corpus"), "--eval", str(example / "eval.jsonl"),
            "--new-facts", str(example / "new_facts"), "--out", str(work / "out"), "--store", str(work / "store"),
        ]  # fmt: skip
        return _timed(argv, pythonpath)[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per prompt in the decode rows")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per whole-process row (median)")
    parser.add_argument("--before", type=Path, help="a checkout of the baseline (e.g. /work/main) for 'before' rows")
    parser.add_argument("--compare", action="store_true", help="also time `ragtune compare` on examples/compare")
    parser.add_argument("--int8", action="store_true", help="only: int8 against float32 on the fixed greedy set")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    if args.int8:
        print_table(
            f"int8 against float32 weights, greedy, {args.tokens} tokens, {len(GREEDY_SET)} prompts",
            [
                "weights",
                "answers identical to float32",
                "mean share of the answer before the first difference",
                "tokens/s (generated, whole run)",
            ],
            int8_rows(args.tokens),
        )
        return
    # whole processes first: a child's peak RSS counts its parent's at fork, so this process stays small
    print_table(
        "Whole process, warm model cache (median of runs)",
        ["command", "wall s", "peak RSS MiB", "/ transformers script"],
        whole_process(args.runs, args.before),
    )
    rows = decode_rates(args.tokens)
    print_table(
        f"Decode speed after the first token ({args.tokens} tokens x {len(PROMPTS)} prompts)",
        ["engine", "first token ms (median)", "tokens/s", "/ transformers (default threads)"],
        rows,
    )
    if args.compare:
        after = compare_wall(REPO)
        rows = [["this checkout", after, 1.0]]
        if args.before is not None:
            old = compare_wall(args.before)
            rows.append(["--before checkout", old, old / after])
        print_table("ragtune compare on examples/compare", ["engine", "wall s", "/ this checkout"], rows)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
