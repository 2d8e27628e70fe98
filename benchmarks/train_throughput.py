"""Training, tokenization and inference throughput: the report's pipeline, tfbert's, and Hugging Face + PyTorch.

    python benchmarks/train_throughput.py            # all-MiniLM-L6-v2, SST-2 (or a generated set)
    python benchmarks/train_throughput.py --quick    # tiny encoder, few steps: a smoke test

Side by side, in one run, on the same machine, encoder, data and batch size:

(a) report   The W&B report's pipeline shape: tf.data with one tf.py_function per example
             calling classifier_data_lib.convert_single_example (FullTokenizer), every
             example padded to max_seq_length, shuffle(1000), batch, tfbert's
             model.build_classifier over hub.KerasLayer, Adam, the report's metrics.
(b) tfbert   tfbert's default pipeline: features.make_packer(config.tokenizer, ...) and
             features.make_dataset(..., padding=config.padding), model.build_classifier and
             model.compile_classifier with every other config key at its default. Measured
             twice: with the default jit_compile and with it flipped.
(c) hf-torch Hugging Face transformers + PyTorch: BertForSequenceClassification from the
             same checkpoint (num_labels=1 + BCEWithLogitsLoss, the sigmoid head's
             equivalent), the fast WordPiece tokenizer from the same vocab.txt, padding per
             batch to its longest text, AdamW and a linear schedule with warm-up.

Each variant runs in its own child process, so peak memory (the child's VmHWM) is its own.
Figures, all in examples per second:

train      timed over --steps training steps after --warmup steps (compilation, tracing and
           pipeline start-up happen in the warm-up; the time they took is shown separately);
tokenize   the whole data set tokenized and packed, no model: (a) the report's per-example
           py_function dataset iterated once (~40 s), (b) tfbert's training dataset iterated,
           (c) the fast tokenizer called per batch of --batch-size as the training loop does;
           (b) and (c) take about a second a pass, so they report the median of 3 passes;
infer      --infer-examples texts through the eval pipeline with --eval-batch-size
           (model.predict for (a) and (b), torch.inference_mode for (c)), tokenization included;
           (b) takes them shortest first, as tfbert.train's final evaluation does;
predict    (b) only: the same texts through the run's serving export as tfbert.predict and
           tfbert.evaluate run it (tokenization in the SavedModel, texts sorted by length).

Data: ../shared/data/sst2/train.tsv beside the project (columns sentence, label) when it
exists, --data FILE to choose, else a generated set with SST-2's length distribution.
PyTorch and transformers are benchmark-only dependencies: pip install -e ".[bench]".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "sst2" / "train.tsv"
MAX_SEQ_LENGTH = 128
REPORT_SHUFFLE_BUFFER = 1000  # the report's .shuffle(1000)
TOKENIZE_PASSES = 3  # (b) and (c): tokenization is the median of this many passes over the data
TINY_SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=512, type_vocab_size=2)  # hub_format.write_tiny_encoder's defaults

VARIANTS = ("a", "b", "b_jit", "c")
TITLES = {
    "a": "(a) report: py_function/example, pad 128",
    "b": "(b) tfbert default",
    "b_jit": "(b') tfbert default, jit_compile flipped",
    "c": "(c) HF transformers + PyTorch, AdamW",
}


# --------------------------------------------------------------------------- data


_WORDS = """
the a an and of to is in it that this with as for its film movie but be on you not he his
are by one more than has about all at from have who like so there can just story out up if
what good even most no into much ever will only or too does make time way characters funny
little well been work some love any comedy us enough performances life best director new
never also own very those drama could great would through their look character many people
cast both full bad something few off audience world seems may much often fun long script
feel better plot made though movies being before while still humor yet real nothing over
another here where end own action without another because interesting piece might why sense
old kind year hard heart family spirit minutes less ca n't 's ... -- `` '' entertaining
moving charming dull boring tedious clever smart predictable original visual beautifully
thriller documentary romantic sweet bittersweet mess flat lacks manages tries becomes
""".split()


def generated_frame(num_examples: int = 67_349, seed: int = 0):
    """Sentences with SST-2's length profile (mean ~9.5 words, median 7, long tail to ~52)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    lengths = np.clip(np.rint(rng.gamma(shape=1.25, scale=7.6, size=num_examples)), 1, 52).astype(int)
    vocab = np.array(_WORDS)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 0.8  # Zipf-like word frequencies
    weights /= weights.sum()
    texts = []
    for length in lengths:
        words = list(rng.choice(vocab, size=length, p=weights))
        if length > 6:
            words.insert(int(rng.integers(1, length)), ",")
        texts.append(" ".join(words) + (" ." if length > 10 else ""))
    return pd.DataFrame({"sentence": texts, "label": rng.integers(0, 2, size=num_examples)})


def load_frame(data: str | None, limit: int | None, seed: int):
    """(frame with sentence and label columns, description), rows in a seeded random order."""
    import pandas as pd

    if data is None and DEFAULT_DATA.is_file():
        data = str(DEFAULT_DATA)
    if data is None:
        frame, source = generated_frame(seed=seed), "generated (SST-2-like lengths)"
    else:
        frame = pd.read_csv(data, sep="\t", quoting=3) if data.endswith(".tsv") else pd.read_csv(data)
        missing = {"sentence", "label"} - set(frame.columns)
        if missing:
            sys.exit(f"{data}: needs columns sentence and label (missing {', '.join(sorted(missing))})")
        source = data
    frame = frame[["sentence", "label"]].dropna()
    frame = frame.assign(sentence=frame["sentence"].astype(str), label=frame["label"].astype(int))
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if limit:
        frame = frame.iloc[:limit].reset_index(drop=True)
    return frame, source


# --------------------------------------------------------------------------- child helpers


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, CPU seconds of this process), for spotting contention."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    own = os.times()
    return busy / ticks, own.user + own.system


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def keras_step_timer(warmup: int):
    """A Keras callback that notes the time at the end of every training step."""
    import tf_keras

    class StepTimer(tf_keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: list[float] = []
            self.start = None

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):  # logs arrive as NumPy: the step has finished
            self.ends.append(time.perf_counter())

        def summary(self, batch_size: int) -> dict:
            timed = np.diff(self.ends[warmup - 1:])
            return {
                "warmup_s": self.ends[warmup - 1] - self.start,
                "train_s": float(timed.sum()),
                "train_steps": int(len(timed)),
                "train_ex_per_s": batch_size * len(timed) / float(timed.sum()),
                "step_ms_median": 1000 * float(np.median(timed)),
                "step_ms_max": 1000 * float(timed.max()),
            }

    return StepTimer()


def widths_of(dataset, limit_batches: int | None = None) -> tuple[int, float, list[int]]:
    """Iterate a Keras dataset: (examples, seconds, padded width of each batch)."""
    timer = Timer()
    examples, widths = 0, []
    for i, (feats, labels) in enumerate(dataset):
        if limit_batches is not None and i >= limit_batches:
            break
        shape = feats["input_word_ids"].shape
        examples += int(shape[0])
        widths.append(int(shape[1]))
    return examples, timer.seconds, widths


def width_stats(widths: list[int], real_tokens: float) -> dict:
    return {"mean_width": float(np.mean(widths)), "real_token_fraction": real_tokens / float(np.mean(widths)),
            "widths": sorted(set(widths))}


def keras_inference(classifier, dataset, examples: int) -> dict:
    first = dataset.take(1)
    classifier.predict(first, verbose=0)  # traces (and compiles) predict_function
    timer = Timer()
    outputs = classifier.predict(dataset, verbose=0)
    assert len(outputs) == examples, (len(outputs), examples)
    return {"infer_ex_per_s": examples / timer.seconds}


# --------------------------------------------------------------------------- (a) the report


def run_report(spec: dict) -> dict:
    import tfbert  # noqa: F401  (Keras 2 before TensorFlow)
    import tensorflow as tf
    import tensorflow_hub as hub
    import tf_keras
    from official.nlp.data import classifier_data_lib
    from official.nlp.tools import tokenization

    from tfbert import data, encoders, model

    tf_keras.utils.set_random_seed(spec["seed"])
    frame, _ = load_frame(spec["data"], spec["limit"], spec["seed"])
    batch_size, max_seq_length = spec["batch_size"], MAX_SEQ_LENGTH
    label_list = [0, 1]

    # As the report: the hub layer, and the tokenizer from the assets it carries.
    bert_layer = hub.KerasLayer(encoders.resolve_handle(spec["encoder"]), trainable=True, name="encoder")
    vocab_file = bert_layer.resolved_object.vocab_file.asset_path.numpy()
    do_lower_case = bert_layer.resolved_object.do_lower_case.numpy()
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)

    def create_feature(text, label, label_list=label_list, max_seq_length=max_seq_length, tokenizer=tokenizer):
        example = classifier_data_lib.InputExample(guid=None, text_a=text.numpy(), text_b=None, label=label.numpy())
        feature = classifier_data_lib.convert_single_example(0, example, label_list, max_seq_length, tokenizer)
        return (feature.input_ids, feature.input_mask, feature.segment_ids, feature.label_id)

    def create_feature_map(text, label):
        input_ids, input_mask, segment_ids, label_id = tf.py_function(
            create_feature, inp=[text, label], Tout=[tf.int32, tf.int32, tf.int32, tf.int32])
        input_ids.set_shape([max_seq_length])
        input_mask.set_shape([max_seq_length])
        segment_ids.set_shape([max_seq_length])
        label_id.set_shape([])
        x = {"input_word_ids": input_ids, "input_mask": input_mask, "input_type_ids": segment_ids}
        return (x, label_id)

    def pipeline(texts, labels, batch, shuffle):
        with tf.device("/cpu:0"):
            dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
            dataset = dataset.map(create_feature_map, num_parallel_calls=tf.data.experimental.AUTOTUNE)
            if shuffle:
                dataset = dataset.shuffle(REPORT_SHUFFLE_BUFFER, seed=spec["seed"])
            return dataset.batch(batch, drop_remainder=True).prefetch(tf.data.experimental.AUTOTUNE)

    texts, labels = frame["sentence"].to_numpy(), frame["label"].to_numpy()
    result = {}
    examples, seconds, widths = widths_of(pipeline(texts, labels, batch_size, shuffle=True))
    result["tokenize_ex_per_s"] = examples / seconds
    result["tokenize_examples"] = examples

    label_map = data.build_label_map(label_list, None, False)
    classifier = model.build_classifier(bert_layer, label_map, dropout=0.5)
    classifier.compile(  # the report's compile: Adam(2e-5), binary cross-entropy, its four metrics
        optimizer=tf_keras.optimizers.Adam(learning_rate=2e-5), loss=tf_keras.losses.BinaryCrossentropy(),
        metrics=[tf_keras.metrics.BinaryAccuracy(), tf_keras.metrics.PrecisionAtRecall(0.5),
                 tf_keras.metrics.Precision(), tf_keras.metrics.Recall()])
    timer = keras_step_timer(spec["warmup"])
    classifier.fit(pipeline(texts, labels, batch_size, shuffle=True).repeat(),
                   steps_per_epoch=spec["warmup"] + spec["steps"], epochs=1, verbose=0, callbacks=[timer])
    result |= timer.summary(batch_size)
    result |= width_stats(widths[: spec["warmup"] + spec["steps"]], spec["real_tokens"])

    n = spec["infer_examples"] - spec["infer_examples"] % spec["eval_batch_size"]  # the report drops remainders
    infer = pipeline(texts[:n], labels[:n], spec["eval_batch_size"], shuffle=False)
    result |= keras_inference(classifier, infer, n)
    return result


# --------------------------------------------------------------------------- (b) tfbert


def run_tfbert(spec: dict, flip_jit: bool) -> dict:
    import tfbert  # noqa: F401
    import tf_keras

    from tfbert import data, encoders, features, model
    from tfbert.config import build_config

    values = {"encoder": spec["encoder"], "train_batch_size": spec["batch_size"], "max_seq_length": MAX_SEQ_LENGTH,
              **spec["overrides"]}
    if spec["eval_batch_size_given"]:
        values["eval_batch_size"] = spec["eval_batch_size"]
    config = build_config(values)
    if flip_jit:
        config = config.replace(jit_compile=not config.jit_compile)
    tf_keras.utils.set_random_seed(spec["seed"])
    frame, _ = load_frame(spec["data"], spec["limit"], spec["seed"])
    label_map = data.build_label_map(frame["label"].tolist(), None, False)
    split = data.Split("train", frame, frame["sentence"].to_numpy(dtype=object), None,
                       label_map.encode(frame["label"].tolist(), "benchmark"))

    encoder = encoders.load_encoder(config.encoder, trainable=config.trainable)
    vocab_file, do_lower_case = encoders.tokenizer_assets(encoder)
    packer = features.make_packer(config.tokenizer, vocab_file, do_lower_case, config.max_seq_length)

    def train_batches():
        return features.make_dataset(split, packer, config.train_batch_size, shuffle=True, seed=spec["seed"],
                                     padding=config.padding)

    result = {"config": {key: config.to_dict()[key] for key in
                         ("tokenizer", "padding", "jit_compile", "mixed_precision", "optimizer", "eval_batch_size")
                         if key in config.to_dict()}}
    # A pass takes about a second, too short for tf.data's autotuning to settle every time:
    # the median of a few passes (the report's 40-second pass needs no such care).
    passes = [widths_of(train_batches()) for _ in range(TOKENIZE_PASSES)]
    examples, _, widths = passes[0]
    result["tokenize_ex_per_s"] = examples / float(np.median([seconds for _, seconds, _ in passes]))
    result["tokenize_passes_ex_per_s"] = [examples / seconds for _, seconds, _ in passes]
    result["tokenize_examples"] = examples

    model.set_precision(config.mixed_precision)
    classifier = model.build_classifier(encoder, label_map, config.dropout)
    model.compile_classifier(classifier, label_map, config, spec["warmup"] + spec["steps"])
    timer = keras_step_timer(spec["warmup"])
    classifier.fit(train_batches().repeat(), steps_per_epoch=spec["warmup"] + spec["steps"], epochs=1, verbose=0,
                   callbacks=[timer])
    result |= timer.summary(config.train_batch_size)
    result |= width_stats(widths[: spec["warmup"] + spec["steps"]], spec["real_tokens"])

    n = spec["infer_examples"]
    infer_split = split.rows(features.length_order(split.texts[:n]))  # the first n, as tfbert.train's final evaluation
    eval_padding = "max" if config.padding == "max" else "batch"
    infer = features.make_dataset(infer_split, packer, config.eval_batch_size, padding=eval_padding)
    result |= keras_inference(classifier, infer, n)
    serving_packer = features.make_packer("tf_text", vocab_file, do_lower_case, config.max_seq_length)
    result |= serving_inference(classifier, serving_packer, label_map, config.eval_batch_size, split.texts[:n])
    return result


def serving_inference(classifier, packer, label_map, batch_size: int, texts) -> dict:
    """Texts per second through the run's serving export, as tfbert.predict and tfbert.evaluate run it."""
    from tfbert import export

    with tempfile.TemporaryDirectory(prefix="tfbert-bench-export-") as folder:
        directory = export.save_serving_model(classifier, packer, label_map, 0.5, Path(folder) / "export",
                                              with_pairs=False)
        serving = export.load_serving_model(directory)
        export.serve_in_batches(serving, texts[:batch_size], None, batch_size)  # warm-up
        timer = Timer()
        _, probabilities = export.serve_in_batches(serving, texts, None, batch_size)
        seconds = timer.seconds
    assert len(probabilities) == len(texts)
    return {"predict_ex_per_s": len(texts) / seconds}


# --------------------------------------------------------------------------- (c) Hugging Face + PyTorch


def run_torch(spec: dict) -> dict:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
    from transformers import get_linear_schedule_with_warmup
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(spec["seed"])
    frame, _ = load_frame(spec["data"], spec["limit"], spec["seed"])
    batch_size = spec["batch_size"]
    # from_pretrained on the folder holding vocab.txt (transformers 5 ignores a vocab_file= argument).
    tokenizer = BertTokenizerFast.from_pretrained(spec["vocab_dir"], do_lower_case=spec["do_lower_case"])
    if spec["hf_checkpoint"]:
        net = BertForSequenceClassification.from_pretrained(spec["hf_checkpoint"], num_labels=1, classifier_dropout=0.5)
    else:  # the tiny encoder's shape, randomly initialised
        net = BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, num_labels=1,
                                                       classifier_dropout=0.5, **TINY_SHAPE))
    texts, labels = frame["sentence"].tolist(), frame["label"].to_numpy(dtype=np.float32)

    def encode(batch_texts):
        return tokenizer(batch_texts, padding="longest", truncation=True, max_length=MAX_SEQ_LENGTH,
                         return_tensors="pt")

    result = {}
    seconds = []
    for _ in range(TOKENIZE_PASSES):  # as (b): the median of a few passes
        timer, widths = Timer(), []
        for start in range(0, len(texts), batch_size):
            widths.append(int(encode(texts[start:start + batch_size])["input_ids"].shape[1]))
        seconds.append(timer.seconds)
    result["tokenize_ex_per_s"] = len(texts) / float(np.median(seconds))
    result["tokenize_passes_ex_per_s"] = [len(texts) / s for s in seconds]
    result["tokenize_examples"] = len(texts)

    total_steps = spec["warmup"] + spec["steps"]
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-5, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(spec["seed"])).tolist()
    net.train()
    start, ends, batch_widths = time.perf_counter(), [], []
    for step in range(total_steps):
        rows = [order[(step * batch_size + i) % len(order)] for i in range(batch_size)]
        batch = encode([texts[r] for r in rows])
        target = torch.from_numpy(labels[rows]).unsqueeze(1)
        logits = net(**batch).logits
        loss = loss_fn(logits, target)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss)
        ends.append(time.perf_counter())
        batch_widths.append(int(batch["input_ids"].shape[1]))
    timed = np.diff(ends[spec["warmup"] - 1:])
    result |= {
        "warmup_s": ends[spec["warmup"] - 1] - start,
        "train_s": float(timed.sum()),
        "train_steps": int(len(timed)),
        "train_ex_per_s": batch_size * len(timed) / float(timed.sum()),
        "step_ms_median": 1000 * float(np.median(timed)),
        "step_ms_max": 1000 * float(timed.max()),
    }
    result |= width_stats(batch_widths, spec["real_tokens"])

    net.eval()
    n = spec["infer_examples"]
    with torch.inference_mode():
        net(**encode(texts[: spec["eval_batch_size"]]))  # warm-up
        timer = Timer()
        outputs = [torch.sigmoid(net(**encode(texts[s:s + spec["eval_batch_size"]])).logits)
                   for s in range(0, n, spec["eval_batch_size"])]
        seconds = timer.seconds
    assert sum(len(o) for o in outputs) == n
    result["infer_ex_per_s"] = n / seconds
    result["torch_threads"] = torch.get_num_threads()
    return result


def child_main(variant: str, spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    busy_start, own_start, wall_start = *cpu_seconds(), time.perf_counter()
    if variant == "a":
        result = run_report(spec)
    elif variant in ("b", "b_jit"):
        result = run_tfbert(spec, flip_jit=variant == "b_jit")
    else:
        result = run_torch(spec)
    result["peak_rss_mib"] = peak_rss_mib()
    busy_end, own_end = cpu_seconds()
    # CPU time other processes used while this variant ran, in cores (0 = the machine was ours alone).
    result["others_cores"] = max(0.0, (busy_end - busy_start) - (own_end - own_start)) / (time.perf_counter() - wall_start)
    Path(out_path).write_text(json.dumps(result))


# --------------------------------------------------------------------------- parent


def resolve(args) -> dict:
    """Encoder handle, tokenizer assets and HF checkpoint folder; TensorFlow loads here, not in (c)'s child."""
    sys.path.insert(0, str(REPO))
    import tfbert  # noqa: F401
    from tfbert import assets, encoders
    from tfbert.config import build_config

    handle = encoders.resolve_handle(args.encoder)  # converts / writes the encoder once, cached
    if args.encoder == "tiny":
        vocab_file, do_lower_case, checkpoint = str(Path(handle) / "assets" / "vocab.txt"), True, None
    else:
        checkpoint = str(assets.fetch(args.encoder)) if args.encoder in encoders.PRETRAINED else None
        vocab_file, do_lower_case = encoders.tokenizer_assets(encoders.load_encoder(args.encoder))
    defaults = build_config({}).to_dict()
    return {"handle": handle, "vocab_file": vocab_file, "vocab_dir": str(Path(vocab_file).parent),
            "do_lower_case": do_lower_case, "hf_checkpoint": checkpoint, "defaults": defaults}


def check_tokenizers(texts: list[str], resolved: dict) -> dict:
    """Token statistics of the data, and whether (a)'s FullTokenizer and (c)'s tokenizer agree."""
    from official.nlp.tools import tokenization

    full = tokenization.FullTokenizer(resolved["vocab_file"], resolved["do_lower_case"])
    lengths = np.array([min(len(full.tokenize(t)), MAX_SEQ_LENGTH - 2) + 2 for t in texts])
    agree = None
    try:
        from transformers import BertTokenizerFast
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        fast = BertTokenizerFast.from_pretrained(resolved["vocab_dir"], do_lower_case=resolved["do_lower_case"])
        sample = texts[:500]
        ids = fast(sample, truncation=True, max_length=MAX_SEQ_LENGTH)["input_ids"]
        expected = [full.convert_tokens_to_ids(["[CLS]", *full.tokenize(t)[: MAX_SEQ_LENGTH - 2], "[SEP]"])
                    for t in sample]
        agree = sum(a == b for a, b in zip(ids, expected)) / len(sample)
    except ImportError:
        pass
    return {"mean_tokens": float(lengths.mean()), "p95_tokens": float(np.percentile(lengths, 95)),
            "max_tokens": int(lengths.max()), "hf_ids_agree": agree}


def run_child(variant: str, spec: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="tfbert-bench-") as scratch:
        spec_path, out_path = Path(scratch) / "spec.json", Path(scratch) / "out.json"
        spec_path.write_text(json.dumps(spec))
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("TOKENIZERS_PARALLELISM", "true")
        command = [sys.executable, str(Path(__file__).resolve()), "--child", variant, str(spec_path), str(out_path)]
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out_path.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
            return {"error": f"exit {proc.returncode}:\n{tail}"}
        result = json.loads(out_path.read_text())
        result["wall_s"] = time.perf_counter() - started
        return result


def jit_for(variant: str, defaults: dict, overrides: dict) -> bool:
    """The jit_compile a (b) variant runs with."""
    value = str(overrides.get("jit_compile", defaults.get("jit_compile", False))).strip().lower() in ("true", "1", "yes", "on")
    return value if variant == "b" else not value


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def fmt(value, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


def print_table(results: dict, spec: dict) -> None:
    header = (f"{'variant':44} {'train ex/s':>10} {'tokenize ex/s':>13} {'infer ex/s':>10} {'predict ex/s':>12} "
              f"{'peak RSS MiB':>12} "
              f"{'pad width':>9} {'warm-up s':>9} {'step ms':>8} {'steps':>6} {'others':>6}")
    print(header)
    print("-" * len(header))
    for variant, result in results.items():
        title = TITLES[variant]
        if variant in ("b", "b_jit") and "config" in result:
            title = f"{'(b)' if variant == 'b' else TITLES[variant][:4]} tfbert, jit_compile={result['config']['jit_compile']}"
            if variant == "b":
                title += " (default)"
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
    if key in a and key in b and b[key]:
        return a[key] / b[key]
    return None


def print_ratios(results: dict) -> None:
    targets = {("train_ex_per_s", "a"): 5.0, ("train_ex_per_s", "c"): 1.2, ("tokenize_ex_per_s", "a"): 40.0}
    names = {"train_ex_per_s": "training", "tokenize_ex_per_s": "tokenization", "infer_ex_per_s": "inference"}
    for top in ("b", "b_jit"):
        if top not in results or "error" in results[top]:
            continue
        label = "b" if top == "b" else "b'"
        print(f"\nratios for {label} (jit_compile={results[top].get('config', {}).get('jit_compile')}):")
        for key, name in names.items():
            parts = []
            for bottom in ("a", "c"):
                value = ratio(results, top, bottom, key)
                if value is None:
                    continue
                target = targets.get((key, bottom))
                verdict = f" (target >= {target:g}x: {'met' if value >= target else 'MISSED'})" if target else ""
                parts.append(f"{label}/{bottom} = {value:.2f}x{verdict}")
            if parts:
                print(f"  {name:13} " + "; ".join(parts))
        predict = results[top].get("predict_ex_per_s")
        parts = [f"{label}(predict)/{bottom}(infer) = {predict / results[bottom]['infer_ex_per_s']:.2f}x"
                 for bottom in ("a", "c") if predict and results.get(bottom, {}).get("infer_ex_per_s")]
        if parts:
            print(f"  {'predict':13} " + "; ".join(parts) + " (the serving export, texts sorted by length)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny encoder, 2,048 examples, few steps: a smoke test")
    parser.add_argument("--encoder", default=None, help="all-minilm-l6-v2 (default) or tiny (default with --quick)")
    parser.add_argument("--data", default=None, help=f"TSV/CSV with sentence and label columns (default: {DEFAULT_DATA} "
                                                      "when present, else a generated SST-2-like set)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size for every variant")
    parser.add_argument("--eval-batch-size", type=int, default=None,
                        help="inference batch size for every variant (default: tfbert's eval_batch_size default)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 40; --quick 10)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed training steps first (default 8; --quick 3)")
    parser.add_argument("--infer-examples", type=int, default=None, help="texts to predict (default 1024; --quick 256)")
    parser.add_argument("--limit", type=int, default=None, help="use only this many examples (default all; --quick 2048)")
    parser.add_argument("--variants", default="a,b,b_jit,c",
                        help="comma-separated subset of a (report), b (tfbert default), b_jit (b with jit_compile "
                             "flipped), c (Hugging Face + PyTorch)")
    parser.add_argument("--xla-steps", type=int, default=3,
                        help="timed steps (after 1 warm-up step; 0: as many as the others) for a (b) variant with "
                             "jit_compile=True, which also predicts only 2 batches: with a trainable TF Hub encoder "
                             "XLA recompiles the whole step every step on CPU, tens of seconds each")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a tfbert config key for (b) and (b'), e.g. --set padding=batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per variant")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child)
        return 0

    quick = args.quick
    args.encoder = args.encoder or ("tiny" if quick else "all-minilm-l6-v2")
    args.steps = args.steps or (10 if quick else 40)
    args.warmup = args.warmup or (3 if quick else 8)
    args.infer_examples = args.infer_examples or (256 if quick else 1024)
    args.limit = args.limit or (2048 if quick else None)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    overrides = dict(item.split("=", 1) for item in args.set)
    if "c" in variants:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            print("(c) needs PyTorch and transformers: pip install -e '.[bench]'; skipping it", file=sys.stderr)
            variants.remove("c")

    frame, source = load_frame(args.data, args.limit, args.seed)
    resolved = resolve(args)
    tokens = check_tokenizers(frame["sentence"].tolist()[:5000], resolved)
    eval_batch_size = args.eval_batch_size or resolved["defaults"]["eval_batch_size"]
    spec = {"encoder": args.encoder, "data": args.data, "limit": args.limit, "seed": args.seed,
            "batch_size": args.batch_size, "eval_batch_size": eval_batch_size,
            "eval_batch_size_given": args.eval_batch_size is not None, "steps": args.steps, "warmup": args.warmup,
            "infer_examples": min(args.infer_examples, len(frame)), "real_tokens": tokens["mean_tokens"],
            "overrides": overrides, **{k: resolved[k] for k in ("vocab_dir", "do_lower_case", "hf_checkpoint")}}
    if len(frame) < args.batch_size * (args.steps + args.warmup):
        print(f"note: {len(frame)} examples are fewer than the {args.steps + args.warmup} steps need; "
              "the training data repeats", file=sys.stderr)

    versions = {"python": platform.python_version()}
    for module in ("tensorflow", "tf_keras", "tensorflow_text", "torch", "transformers"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            pass
    print(f"data: {source}: {len(frame):,} examples, {tokens['mean_tokens']:.1f} tokens on average with [CLS]/[SEP] "
          f"(p95 {tokens['p95_tokens']:.0f}, max {tokens['max_tokens']})")
    if tokens["hf_ids_agree"] is not None:
        print(f"(c)'s tokenizer gives FullTokenizer's ids for {100 * tokens['hf_ids_agree']:.1f}% of 500 texts")
    print(f"encoder: {args.encoder}; max_seq_length {MAX_SEQ_LENGTH}; batch {args.batch_size}; "
          f"{args.warmup} warm-up + {args.steps} timed steps; inference: {spec['infer_examples']} texts, "
          f"batch {eval_batch_size}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}; " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if overrides:
        print(f"(b) config overrides: {overrides}")

    results, loads = {}, []
    for variant in variants:
        loads.append(load_average())
        print(f"running {TITLES[variant]} ... (load average {loads[-1]})", file=sys.stderr, flush=True)
        variant_spec = spec
        if variant in ("b", "b_jit") and jit_for(variant, resolved["defaults"], overrides) and args.xla_steps:
            variant_spec = {**spec, "warmup": min(spec["warmup"], 1), "steps": min(spec["steps"], args.xla_steps),
                            "infer_examples": min(spec["infer_examples"], 2 * spec["eval_batch_size"])}
            print(f"  jit_compile=True: {variant_spec['warmup']} warm-up + {variant_spec['steps']} timed steps, "
                  f"{variant_spec['infer_examples']} texts predicted (--xla-steps)", file=sys.stderr)
        results[variant] = run_child(variant, variant_spec, args.timeout)
        results[variant]["steps"] = f"{variant_spec['warmup']}+{variant_spec['steps']}"
        if "error" in results[variant]:
            print(f"  {variant} failed: {results[variant]['error']}", file=sys.stderr)
    loads.append(load_average())
    print(f"load average (1, 5, 15 min) before each variant and at the end: {' | '.join(loads)}\n")
    print_table(results, spec)
    print("\npad width: mean padded sequence length of the training batches (real tokens per example: "
          f"{tokens['mean_tokens']:.1f}); step ms: median timed training step; steps: warm-up + timed;\n"
          "others: CPU cores other processes kept busy while the variant ran (contention; 0 is best)")
    print_ratios(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"spec": spec, "source": source, "versions": versions,
                                               "tokens": tokens, "load": loads, "results": results}, indent=2))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
