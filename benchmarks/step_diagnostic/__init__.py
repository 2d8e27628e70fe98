"""Step-level diagnostic: training, tokenization and inference throughput of three pipelines, side by side.

Run it as ``python benchmarks/train_throughput.py [--quick] [--variants a,b,b_jit,c]``. In one
run, on the same machine, encoder, data and batch size:

(a) per-example pipeline (per_example_pipeline.py): tf.data with one tf.py_function per
    example calling classifier_data_lib.convert_single_example (FullTokenizer), every
    example padded to max_seq_length, shuffle(1000), batch, tfbert's model.build_classifier
    over hub.KerasLayer, Adam and four metrics.
(b) tfbert's pipeline (tfbert_pipeline.py): packers.make_packer(config.tokenizer, ...) and
    input_pipeline.make_dataset(..., padding=config.padding), model.build_classifier and
    model.compile_classifier with every other config key at its default.
(b') the same with jit_compile flipped.
(c) Hugging Face + PyTorch loop (pytorch_loop.py): BertForSequenceClassification from the
    same checkpoint (num_labels=1 + BCEWithLogitsLoss, the sigmoid head's equivalent), the
    fast WordPiece tokenizer from the same vocab.txt, random batches each padded to its
    longest text, AdamW and a linear schedule with warm-up.

Each variant runs in its own child process, so peak memory (the child's VmHWM) is its own.
Figures, all in examples per second:

train      timed over --steps training steps after --warmup steps (compilation, tracing and
           pipeline start-up happen in the warm-up; the time they took is shown separately);
tokenize   the whole data set tokenized and packed, no model: (a)'s dataset iterated once,
           (b)'s training dataset iterated, (c)'s fast tokenizer called per batch of
           --batch-size as its training loop does; (b) and (c) take about a second a pass,
           so they report the median of 3 passes;
infer      --infer-examples texts through the eval pipeline with --eval-batch-size
           (model.predict for (a) and (b), torch.inference_mode for (c)), tokenization
           included; (b) takes them shortest first, as tfbert.train's final evaluation does;
predict    (b) only: the same texts through the run's serving export as tfbert.predict and
           tfbert.evaluate run it (tokenization in the SavedModel, texts sorted by length).

The output is figures and ratios of (b) to (a) and (c); it judges nothing. It leaves out
process start-up, validation, evaluation and saving: benchmarks/whole_job.py times the job.

Modules: corpus (the sentences), timing (measurements shared by the variants), harness
(child processes, the table, the command line), and one module per variant.
"""
