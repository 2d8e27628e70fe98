"""The step-level diagnostic's harness: the command line, one child process per variant, the table and the ratios."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from . import per_example_pipeline, pytorch_loop, tfbert_pipeline
from .corpus import DEFAULT_DATA, MAX_SEQ_LENGTH, REPO, load_frame
from .timing import cpu_seconds, peak_rss_mib

BENCHMARKS = Path(__file__).resolve().parent.parent
RUNNERS: dict[str, Callable[[dict], dict]] = {
    "a": per_example_pipeline.run,
    "b": tfbert_pipeline.run,
    "b_jit": partial(tfbert_pipeline.run, flip_jit=True),
    "c": pytorch_loop.run,
}
TITLES = {
    "a": "(a) per-example py_function, pad 128",
    "b": "(b) tfbert default",
    "b_jit": "(b') tfbert default, jit_compile flipped",
    "c": "(c) HF transformers + PyTorch, AdamW",
}
RATIO_NAMES = {"train_ex_per_s": "training", "tokenize_ex_per_s": "tokenization", "infer_ex_per_s": "inference"}
VERSIONED_MODULES = ("tensorflow", "tf_keras", "tensorflow_text", "torch", "transformers")


# --------------------------------------------------------------------------- child processes


def child_main(variant: str, spec_path: str, out_path: str) -> None:
    """Run one variant in this process and write its figures, peak memory and contention to out_path."""
    spec = json.loads(Path(spec_path).read_text())
    busy_start, own_start, wall_start = *cpu_seconds(), time.perf_counter()
    result = RUNNERS[variant](spec)
    result["peak_rss_mib"] = peak_rss_mib()
    busy_end, own_end = cpu_seconds()
    # CPU time other processes used while this variant ran, in cores (0 = the machine was ours alone).
    others = max(0.0, (busy_end - busy_start) - (own_end - own_start))
    result["others_cores"] = others / (time.perf_counter() - wall_start)
    Path(out_path).write_text(json.dumps(result))


def run_child(variant: str, spec: dict, timeout: float) -> dict:
    """One variant in a fresh Python process (python -m step_diagnostic --child); its figures or an error."""
    with tempfile.TemporaryDirectory(prefix="tfbert-bench-") as scratch:
        spec_path, out_path = Path(scratch) / "spec.json", Path(scratch) / "out.json"
        spec_path.write_text(json.dumps(spec))
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("TOKENIZERS_PARALLELISM", "true")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCHMARKS), env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", "step_diagnostic", "--child", variant, str(spec_path), str(out_path)]
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out_path.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
            return {"error": f"exit {proc.returncode}:\n{tail}"}
        result = json.loads(out_path.read_text())
        result["wall_s"] = time.perf_counter() - started
        return result


# --------------------------------------------------------------------------- set-up in the parent


def resolve(encoder: str) -> dict:
    """Encoder handle, tokenizer assets and HF checkpoint folder; TensorFlow loads here, not in (c)'s child."""
    sys.path.insert(0, str(REPO))
    import tfbert  # noqa: F401
    from tfbert import assets, encoders
    from tfbert.config import build_config

    handle = encoders.resolve_handle(encoder)  # converts / writes the encoder once, cached
    if encoder == "tiny":
        vocab_file, do_lower_case, checkpoint = str(Path(handle) / "assets" / "vocab.txt"), True, None
    else:
        checkpoint = str(assets.fetch(encoder)) if encoder in encoders.PRETRAINED else None
        vocab_file, do_lower_case = encoders.tokenizer_assets(encoders.load_encoder(encoder))
    return {"handle": handle, "vocab_file": vocab_file, "vocab_dir": str(Path(vocab_file).parent),
            "do_lower_case": do_lower_case, "hf_checkpoint": checkpoint, "defaults": build_config({}).to_dict()}


def hf_agreement(texts: list[str], full, resolved: dict) -> float | None:
    """Fraction of texts whose fast-tokenizer ids (c) equal FullTokenizer's (a); None without transformers."""
    try:
        from transformers import BertTokenizerFast
        from transformers.utils import logging as hf_logging
    except ImportError:
        return None
    hf_logging.set_verbosity_error()
    fast = BertTokenizerFast.from_pretrained(resolved["vocab_dir"], do_lower_case=resolved["do_lower_case"])
    ids = fast(texts, truncation=True, max_length=MAX_SEQ_LENGTH)["input_ids"]
    expected = [full.convert_tokens_to_ids(["[CLS]", *full.tokenize(t)[: MAX_SEQ_LENGTH - 2], "[SEP]"])
                for t in texts]
    return sum(a == b for a, b in zip(ids, expected)) / len(texts)


def token_stats(texts: list[str], resolved: dict) -> dict:
    """Token counts of the data (with [CLS] and [SEP]), and whether (a)'s and (c)'s tokenizers agree."""
    from official.nlp.tools import tokenization

    full = tokenization.FullTokenizer(resolved["vocab_file"], resolved["do_lower_case"])
    lengths = np.array([min(len(full.tokenize(t)), MAX_SEQ_LENGTH - 2) + 2 for t in texts])
    return {"mean_tokens": float(lengths.mean()), "p95_tokens": float(np.percentile(lengths, 95)),
            "max_tokens": int(lengths.max()), "hf_ids_agree": hf_agreement(texts[:500], full, resolved)}


def jit_for(variant: str, defaults: dict, overrides: dict) -> bool:
    """The jit_compile a (b) variant runs with."""
    value = str(overrides.get("jit_compile", defaults.get("jit_compile", False))).strip().lower()
    default = value in ("true", "1", "yes", "on")
    return default if variant == "b" else not default


def variant_spec(variant: str, spec: dict, resolved: dict, xla_steps: int) -> dict:
    """spec, cut down for a (b) variant with jit_compile=True (XLA recompiles every step on CPU)."""
    if variant not in ("b", "b_jit") or not xla_steps or not jit_for(variant, resolved["defaults"], spec["overrides"]):
        return spec
    cut = {**spec, "warmup": min(spec["warmup"], 1), "steps": min(spec["steps"], xla_steps),
           "infer_examples": min(spec["infer_examples"], 2 * spec["eval_batch_size"])}
    print(f"  jit_compile=True: {cut['warmup']} warm-up + {cut['steps']} timed steps, "
          f"{cut['infer_examples']} texts predicted (--xla-steps)", file=sys.stderr)
    return cut


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for module in VERSIONED_MODULES:
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            pass
    return found


# --------------------------------------------------------------------------- output


def fmt(value, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


def title_of(variant: str, result: dict) -> str:
    """The row's name; for (b) and (b') the jit_compile it actually ran with."""
    if variant not in ("b", "b_jit") or "config" not in result:
        return TITLES[variant]
    label = "(b)" if variant == "b" else "(b')"
    return f"{label} tfbert, jit_compile={result['config']['jit_compile']}" + (" (default)" if variant == "b" else "")


def print_table(results: dict) -> None:
    header = (f"{'variant':44} {'train ex/s':>10} {'tokenize ex/s':>13} {'infer ex/s':>10} {'predict ex/s':>12} "
              f"{'peak RSS MiB':>12} {'pad width':>9} {'warm-up s':>9} {'step ms':>8} {'steps':>6} {'others':>6}")
    print(header)
    print("-" * len(header))
    for variant, result in results.items():
        title = title_of(variant, result)
        if "error" in result:
            print(f"{title:44} failed: {result['error'].splitlines()[0]}")
            continue
        print(f"{title:44} {fmt(result['train_ex_per_s']):>10} {fmt(result['tokenize_ex_per_s'], ',.0f'):>13} "
              f"{fmt(result['infer_ex_per_s']):>10} {fmt(result.get('predict_ex_per_s')):>12} "
              f"{fmt(result['peak_rss_mib'], ',.0f'):>12} "
              f"{fmt(result['mean_width']):>9} {fmt(result['warmup_s']):>9} {fmt(result['step_ms_median'], '.0f'):>8} "
              f"{result.get('steps', ''):>6} {fmt(result.get('others_cores'), '.2f'):>6}")


def ratio(results: dict, top: str, bottom: str, key: str) -> float | None:
    a, b = results.get(top, {}), results.get(bottom, {})
    return a[key] / b[key] if key in a and key in b and b[key] else None


def print_ratios(results: dict) -> None:
    """(b) and (b') over (a) and (c), per figure: ratios only, no verdicts."""
    for top in ("b", "b_jit"):
        if top not in results or "error" in results[top]:
            continue
        label = "b" if top == "b" else "b'"
        print(f"\nratios for {label} (jit_compile={results[top].get('config', {}).get('jit_compile')}):")
        for key, name in RATIO_NAMES.items():
            parts = [f"{label}/{bottom} = {value:.2f}x" for bottom in ("a", "c")
                     if (value := ratio(results, top, bottom, key)) is not None]
            if parts:
                print(f"  {name:13} " + "; ".join(parts))
        predict = results[top].get("predict_ex_per_s")
        parts = [f"{label}(predict)/{bottom}(infer) = {predict / results[bottom]['infer_ex_per_s']:.2f}x"
                 for bottom in ("a", "c") if predict and results.get(bottom, {}).get("infer_ex_per_s")]
        if parts:
            print(f"  {'predict':13} " + "; ".join(parts) + " (the serving export, texts sorted by length)")


def print_header(args, source: str, rows: int, tokens: dict, spec: dict, found: dict) -> None:
    print(f"data: {source}: {rows:,} examples, {tokens['mean_tokens']:.1f} tokens on average with [CLS]/[SEP] "
          f"(p95 {tokens['p95_tokens']:.0f}, max {tokens['max_tokens']})")
    if tokens["hf_ids_agree"] is not None:
        print(f"(c)'s tokenizer gives FullTokenizer's ids for {100 * tokens['hf_ids_agree']:.1f}% of 500 texts")
    print(f"encoder: {args.encoder}; max_seq_length {MAX_SEQ_LENGTH}; batch {args.batch_size}; "
          f"{args.warmup} warm-up + {args.steps} timed steps; inference: {spec['infer_examples']} texts, "
          f"batch {spec['eval_batch_size']}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}; " + ", ".join(f"{k} {v}" for k, v in found.items()))
    if spec["overrides"]:
        print(f"(b) config overrides: {spec['overrides']}")


def print_legend(tokens: dict) -> None:
    print("\npad width: mean padded sequence length of the training batches (real tokens per example: "
          f"{tokens['mean_tokens']:.1f}); step ms: median timed training step; steps: warm-up + timed;\n"
          "others: CPU cores other processes kept busy while the variant ran (contention; 0 is best)")


# --------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Step-level diagnostic: training, tokenization and inference throughput "
                                            "of the per-example pipeline, tfbert's, and Hugging Face + PyTorch.")
    p.add_argument("--quick", action="store_true", help="tiny encoder, 2,048 examples, few steps: a smoke test")
    p.add_argument("--encoder", default=None, help="all-minilm-l6-v2 (default) or tiny (default with --quick)")
    p.add_argument("--data", default=None, help=f"TSV/CSV with sentence and label columns (default: {DEFAULT_DATA} "
                                                "when present, else a generated SST-2-like set)")
    p.add_argument("--batch-size", type=int, default=32, help="training batch size for every variant")
    p.add_argument("--eval-batch-size", type=int, default=None,
                   help="inference batch size for every variant (default: tfbert's eval_batch_size default)")
    p.add_argument("--steps", type=int, default=None, help="timed training steps (default 40; --quick 10)")
    p.add_argument("--warmup", type=int, default=None, help="untimed training steps first (default 8; --quick 3)")
    p.add_argument("--infer-examples", type=int, default=None, help="texts to predict (default 1024; --quick 256)")
    p.add_argument("--limit", type=int, default=None, help="use only this many examples (default all; --quick 2048)")
    p.add_argument("--variants", default="a,b,b_jit,c",
                   help="comma-separated subset of a (per-example pipeline), b (tfbert default), b_jit (b with "
                        "jit_compile flipped), c (Hugging Face + PyTorch)")
    p.add_argument("--xla-steps", type=int, default=3,
                   help="timed steps (after 1 warm-up step; 0: as many as the others) for a (b) variant with "
                        "jit_compile=True, which also predicts only 2 batches: with a trainable TF Hub encoder "
                        "XLA recompiles the whole step every step on CPU, tens of seconds each")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a tfbert config key for (b) and (b'), e.g. --set padding=batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per variant")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    return p


def apply_defaults(args: argparse.Namespace) -> None:
    """Fill the options left unset, from --quick or the full run's defaults."""
    quick = args.quick
    args.encoder = args.encoder or ("tiny" if quick else "all-minilm-l6-v2")
    args.steps = args.steps or (10 if quick else 40)
    args.warmup = args.warmup or (3 if quick else 8)
    args.infer_examples = args.infer_examples or (256 if quick else 1024)
    args.limit = args.limit or (2048 if quick else None)
    args.data = str(Path(args.data).resolve()) if args.data else None  # the children run in the repository


def chosen_variants(args: argparse.Namespace, p: argparse.ArgumentParser) -> list[str]:
    """--variants, checked; (c) dropped with a note when PyTorch or transformers is missing."""
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in RUNNERS]
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {', '.join(RUNNERS)}")
    if "c" in variants:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            print("(c) needs PyTorch and transformers: pip install -e '.[bench]'; skipping it", file=sys.stderr)
            variants.remove("c")
    return variants


def build_spec(args: argparse.Namespace, rows: int, tokens: dict, resolved: dict) -> dict:
    """What every child needs to know, as JSON-able values."""
    return {"encoder": args.encoder, "data": args.data, "limit": args.limit, "seed": args.seed,
            "batch_size": args.batch_size,
            "eval_batch_size": args.eval_batch_size or resolved["defaults"]["eval_batch_size"],
            "eval_batch_size_given": args.eval_batch_size is not None, "steps": args.steps, "warmup": args.warmup,
            "infer_examples": min(args.infer_examples, rows), "real_tokens": tokens["mean_tokens"],
            "overrides": dict(item.split("=", 1) for item in args.set),
            **{k: resolved[k] for k in ("vocab_dir", "do_lower_case", "hf_checkpoint")}}


def run_variants(variants: list[str], spec: dict, resolved: dict, args: argparse.Namespace) -> tuple[dict, list[str]]:
    """Each variant in its own child, one after another: (results by variant, load averages before each and after)."""
    results, loads = {}, []
    for variant in variants:
        loads.append(load_average())
        print(f"running {TITLES[variant]} ... (load average {loads[-1]})", file=sys.stderr, flush=True)
        child_spec = variant_spec(variant, spec, resolved, args.xla_steps)
        results[variant] = run_child(variant, child_spec, args.timeout)
        results[variant]["steps"] = f"{child_spec['warmup']}+{child_spec['steps']}"
        if "error" in results[variant]:
            print(f"  {variant} failed: {results[variant]['error']}", file=sys.stderr)
    loads.append(load_average())
    return results, loads


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.child:
        child_main(*args.child)
        return 0
    apply_defaults(args)
    variants = chosen_variants(args, p)
    frame, source = load_frame(args.data, args.limit, args.seed)
    resolved = resolve(args.encoder)
    tokens = token_stats(frame["sentence"].tolist()[:5000], resolved)
    spec = build_spec(args, len(frame), tokens, resolved)
    if len(frame) < args.batch_size * (args.steps + args.warmup):
        print(f"note: {len(frame)} examples are fewer than the {args.steps + args.warmup} steps need; "
              "the training data repeats", file=sys.stderr)
    found = versions()
    print_header(args, source, len(frame), tokens, spec, found)

    results, loads = run_variants(variants, spec, resolved, args)
    print(f"load average (1, 5, 15 min) before each variant and at the end: {' | '.join(loads)}\n")
    print_table(results)
    print_legend(tokens)
    print_ratios(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"spec": spec, "source": source, "versions": found,
                                               "tokens": tokens, "load": loads, "results": results}, indent=2))
    return 1 if any("error" in r for r in results.values()) else 0
