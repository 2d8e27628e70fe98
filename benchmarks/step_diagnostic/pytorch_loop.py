"""Variant (c): a Hugging Face transformers + PyTorch training loop with random batches, each padded to its longest.

BertForSequenceClassification from the same checkpoint (num_labels=1 + BCEWithLogitsLoss, the
sigmoid head's equivalent; for the tiny encoder its shape, randomly initialised), the fast
WordPiece tokenizer from the same vocab.txt, AdamW and a linear schedule with warm-up. The
batches are not grouped by length. TensorFlow is never imported here.
"""

from __future__ import annotations

import os

import numpy as np

from .corpus import MAX_SEQ_LENGTH, load_frame
from .timing import TOKENIZE_PASSES, Timer, step_summary, tokenize_summary, width_stats

# hub_format.write_tiny_encoder's defaults (not imported: that would load TensorFlow)
TINY_SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=512, type_vocab_size=2)


def load_network(spec: dict, vocab_size: int):
    """BertForSequenceClassification with one logit: from spec's checkpoint, else the tiny shape at random."""
    from transformers import BertConfig, BertForSequenceClassification

    if spec["hf_checkpoint"]:
        return BertForSequenceClassification.from_pretrained(spec["hf_checkpoint"], num_labels=1,
                                                             classifier_dropout=0.5)
    return BertForSequenceClassification(BertConfig(vocab_size=vocab_size, num_labels=1, classifier_dropout=0.5,
                                                    **TINY_SHAPE))


def make_encode(spec: dict):
    """A function from a list of texts to a padded PyTorch batch, the fast tokenizer's, and the tokenizer."""
    from transformers import BertTokenizerFast

    # from_pretrained on the folder holding vocab.txt (transformers 5 ignores a vocab_file= argument).
    tokenizer = BertTokenizerFast.from_pretrained(spec["vocab_dir"], do_lower_case=spec["do_lower_case"])

    def encode(texts: list[str]):
        return tokenizer(texts, padding="longest", truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="pt")

    return encode, tokenizer


def tokenize_passes(encode, texts: list[str], batch_size: int) -> dict:
    """The whole data set tokenized per batch, as the training loop does; the median of a few passes."""
    seconds = []
    for _ in range(TOKENIZE_PASSES):
        timer = Timer()
        for start in range(0, len(texts), batch_size):
            encode(texts[start:start + batch_size])
        seconds.append(timer.seconds)
    return tokenize_summary(len(texts), seconds)


def train(net, encode, texts: list[str], labels: np.ndarray, spec: dict) -> dict:
    """spec's warm-up plus timed steps of AdamW with a linear schedule on random batches; the step figures."""
    import time

    import torch
    from transformers import get_linear_schedule_with_warmup

    batch_size, total_steps = spec["batch_size"], spec["warmup"] + spec["steps"]
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-5, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(spec["seed"])).tolist()
    net.train()
    start, ends, widths = time.perf_counter(), [], []
    for step in range(total_steps):
        rows = [order[(step * batch_size + i) % len(order)] for i in range(batch_size)]
        batch = encode([texts[r] for r in rows])
        loss = loss_fn(net(**batch).logits, torch.from_numpy(labels[rows]).unsqueeze(1))
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss)
        ends.append(time.perf_counter())
        widths.append(int(batch["input_ids"].shape[1]))
    return step_summary(start, ends, spec["warmup"], batch_size) | width_stats(widths, spec["real_tokens"])


def infer(net, encode, texts: list[str], examples: int, batch_size: int) -> dict:
    """Examples per second of sigmoid outputs under torch.inference_mode, tokenization included."""
    import torch

    net.eval()
    with torch.inference_mode():
        net(**encode(texts[:batch_size]))  # warm-up
        timer = Timer()
        outputs = [torch.sigmoid(net(**encode(texts[s:s + batch_size])).logits)
                   for s in range(0, examples, batch_size)]
        seconds = timer.seconds
    assert sum(len(o) for o in outputs) == examples
    return {"infer_ex_per_s": examples / seconds}


def run(spec: dict) -> dict:
    """Tokenization, training and inference figures of the PyTorch loop."""
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(spec["seed"])
    frame, _ = load_frame(spec["data"], spec["limit"], spec["seed"])
    encode, tokenizer = make_encode(spec)
    net = load_network(spec, tokenizer.vocab_size)
    texts, labels = frame["sentence"].tolist(), frame["label"].to_numpy(dtype=np.float32)

    result = tokenize_passes(encode, texts, spec["batch_size"])
    result |= train(net, encode, texts, labels, spec)
    result |= infer(net, encode, texts, spec["infer_examples"], spec["eval_batch_size"])
    return result | {"torch_threads": torch.get_num_threads()}
