#!/usr/bin/env python3
"""TF-IDF + logistic-regression baseline for TermScore's clause labelling tasks.

The transformer classifier has to beat this baseline on the same splits, so the
protocol below follows the one `termscore eval` uses and the numbers compare directly.

Protocol
- Input: JSONL files, one {"text": str, "labels": [str, ...]} object per line. A task
  without a dev file (--dev omitted) gets a seeded 15% of its train file as dev; the
  rest is trained on.
- Labels of the task: every label that occurs in the (remaining) train examples.
- Features: TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2,
  lowercase=True), fitted on the train examples only.
- Model: one binary LogisticRegression per label (one-vs-rest, liblinear,
  class_weight="balanced", fixed random_state). C is chosen from {1, 4, 16} by dev
  macro-F1, where each label's F1 is taken at its own tuned threshold and the mean runs
  over the labels with dev positives.
- Thresholds: for each label the dev probabilities are sorted and every cut between
  two distinct values is tried; the cut with the highest F1 (the first, i.e. highest,
  on ties) sets the threshold halfway between the two values. A label without dev
  positives keeps 0.5. A label is predicted when its probability is >= its threshold.
- Test report: over the labels that occur in the test file. A test label the model
  never saw in training is never predicted and scores 0. Per label: precision, recall,
  F1, support (gold positives); micro-F1 pools tp/fp/fn over those labels; macro-F1 is
  their unweighted mean. Precision or recall with a zero denominator is 0.

Usage:
  python3 training/baseline_tfidf.py --name cuad --train A --dev B --test C \\
      --out training/results/baseline_cuad.json

The JSON report holds micro_f1, macro_f1, per_label, c, seconds, train_examples and
some context (dev scores per C, thresholds, file paths). A table goes to stdout;
progress messages go to stderr.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

C_GRID = (1.0, 4.0, 16.0)
DEV_FRACTION = 0.15
RANDOM_STATE = 0


class InputError(Exception):
    """A problem with an input file; the message names the file."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_examples(path):
    """Reads a JSONL file of {"text", "labels"} objects into (texts, label sets)."""
    texts, labels = [], []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read `{path}`: {e.strerror.lower()}") from None
    with f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"`{path}` line {n}: invalid json: {e.msg.lower()}") from None
            if not isinstance(obj, dict):
                raise InputError(f"`{path}` line {n}: expected a json object")
            text = obj.get("text")
            labs = obj.get("labels", [])
            if not isinstance(text, str):
                raise InputError(f"`{path}` line {n}: \"text\" must be a string")
            if not isinstance(labs, list) or not all(isinstance(x, str) for x in labs):
                raise InputError(f"`{path}` line {n}: \"labels\" must be a list of strings")
            texts.append(text)
            labels.append(frozenset(labs))
    if not texts:
        raise InputError(f"`{path}` has no examples")
    return texts, labels


def carve_dev(texts, labels, fraction, seed):
    """Splits off a seeded `fraction` of the examples as dev; returns (train, dev)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    n_dev = int(round(fraction * len(texts)))
    dev_idx, train_idx = sorted(order[:n_dev]), sorted(order[n_dev:])
    pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
    return pick(train_idx), pick(dev_idx)


def f1_of(p, r):
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def best_threshold(probs, gold, fallback=0.5, ceiling=1.0):
    """Threshold maximising F1 of `probs >= t` against boolean `gold`, with its F1.

    Only cuts whose lower side is under `ceiling` are tried, and a cut is never set above
    it (as `termscore train` tunes its thresholds, at no more than 0.5)."""
    positives = int(gold.sum())
    if positives == 0:
        return fallback, 0.0
    order = np.argsort(-probs, kind="stable")
    p_sorted, g_sorted = probs[order], gold[order]
    tp = np.cumsum(g_sorted)
    fp = np.cumsum(~g_sorted)
    # Cut only after the last of a run of equal probabilities.
    nxt = np.append(p_sorted[1:], -np.inf)
    cuts = np.nonzero(p_sorted != nxt)[0]
    if ceiling < 1.0:
        cuts = cuts[np.append(p_sorted[1:], 0.0)[cuts] < ceiling]
        if len(cuts) == 0:
            return min(fallback, ceiling), 0.0
    prec = tp[cuts] / (tp[cuts] + fp[cuts])
    rec = tp[cuts] / positives
    denom = prec + rec
    f1 = np.where(denom > 0, 2 * prec * rec / np.where(denom > 0, denom, 1), 0.0)
    k = int(np.argmax(f1))  # first maximum: the highest threshold among ties
    i = cuts[k]
    lower = p_sorted[i + 1] if i + 1 < len(p_sorted) else 0.0
    return float(min((p_sorted[i] + lower) / 2, ceiling)), float(f1[k])


def label_matrix(label_sets, labels):
    index = {l: j for j, l in enumerate(labels)}
    y = np.zeros((len(label_sets), len(labels)), dtype=bool)
    for i, ls in enumerate(label_sets):
        for l in ls:
            j = index.get(l)
            if j is not None:
                y[i, j] = True
    return y


def fit_predict(x_train, y_train, x_eval_list, c):
    """Trains one classifier per label column; returns eval probabilities per matrix."""
    outs = [np.zeros((x.shape[0], y_train.shape[1])) for x in x_eval_list]
    for j in range(y_train.shape[1]):
        y = y_train[:, j]
        if y.all():  # every train example has the label: nothing to separate
            for out in outs:
                out[:, j] = 1.0
            continue
        model = LogisticRegression(
            C=c, solver="liblinear", class_weight="balanced", random_state=RANDOM_STATE
        )
        model.fit(x_train, y)
        for out, x in zip(outs, x_eval_list):
            out[:, j] = model.predict_proba(x)[:, 1]
    return outs


def tune(probs, y_dev, ceiling=1.0):
    """Per-label thresholds and the dev macro-F1 over labels with dev positives."""
    thresholds, f1s = [], []
    for j in range(y_dev.shape[1]):
        t, f = best_threshold(probs[:, j], y_dev[:, j], ceiling=ceiling)
        thresholds.append(t)
        if y_dev[:, j].any():
            f1s.append(f)
    return thresholds, (float(np.mean(f1s)) if f1s else 0.0)


def evaluate(test_labels, gold_sets, model_labels, probs, thresholds):
    """The test report over `test_labels` (labels that occur in the test file)."""
    col = {l: j for j, l in enumerate(model_labels)}
    per_label = {}
    tot_tp = tot_fp = tot_fn = 0
    for l in test_labels:
        gold = np.array([l in g for g in gold_sets])
        j = col.get(l)
        pred = probs[:, j] >= thresholds[j] if j is not None else np.zeros_like(gold)
        tp = int((gold & pred).sum())
        fp = int((~gold & pred).sum())
        fn = int((gold & ~pred).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        per_label[l] = {"precision": p, "recall": r, "f1": f1_of(p, r), "support": tp + fn}
        tot_tp, tot_fp, tot_fn = tot_tp + tp, tot_fp + fp, tot_fn + fn
    mp = tot_tp / (tot_tp + tot_fp) if tot_tp + tot_fp else 0.0
    mr = tot_tp / (tot_tp + tot_fn) if tot_tp + tot_fn else 0.0
    macro = float(np.mean([s["f1"] for s in per_label.values()])) if per_label else 0.0
    return f1_of(mp, mr), macro, per_label


def print_table(name, report):
    thresholds = report["thresholds"]
    print(f"{name}: macro-F1 {report['macro_f1']:.4f}  micro-F1 {report['micro_f1']:.4f}  "
          f"C={report['c']:g}  train={report['train_examples']} dev={report['dev_examples']} "
          f"test={report['test_examples']}")
    width = max([len("label")] + [len(l) for l in report["per_label"]])
    print(f"{'label':<{width}}  {'supp':>5}  {'prec':>6}  {'rec':>6}  {'f1':>6}  {'thr':>6}")
    for l, s in report["per_label"].items():
        t = thresholds.get(l)
        t_txt = f"{t:6.3f}" if t is not None else "   n/a"
        print(f"{l:<{width}}  {s['support']:>5}  {s['precision']:6.3f}  {s['recall']:6.3f}  "
              f"{s['f1']:6.3f}  {t_txt}")


def run(args):
    start = time.monotonic()
    train_texts, train_sets = read_examples(args.train)
    if args.dev:
        dev_texts, dev_sets = read_examples(args.dev)
        dev_source = str(args.dev)
    else:
        (train_texts, train_sets), (dev_texts, dev_sets) = carve_dev(
            train_texts, train_sets, DEV_FRACTION, args.seed
        )
        dev_source = f"seeded {DEV_FRACTION:.0%} of {args.train} (seed {args.seed})"
        if not dev_texts:
            raise InputError(f"`{args.train}` is too small to carve a dev split")
    test_texts, test_sets = read_examples(args.test)

    labels = sorted(set().union(*train_sets))
    if not labels:
        raise InputError(f"`{args.train}` has no labelled examples")
    test_labels = sorted(set().union(*test_sets))
    log(f"{args.name}: {len(train_texts)} train, {len(dev_texts)} dev, {len(test_texts)} test, "
        f"{len(labels)} train labels, {len(test_labels)} test labels")

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True)
    x_train = vectorizer.fit_transform(train_texts)
    x_dev = vectorizer.transform(dev_texts)
    x_test = vectorizer.transform(test_texts)
    y_train = label_matrix(train_sets, labels)
    y_dev = label_matrix(dev_sets, labels)
    log(f"{args.name}: {x_train.shape[1]} features")

    best = None
    dev_by_c = {}
    for c in C_GRID:
        dev_probs, test_probs = fit_predict(x_train, y_train, [x_dev, x_test], c)
        thresholds, dev_f1 = tune(dev_probs, y_dev, args.max_threshold)
        dev_by_c[f"{c:g}"] = dev_f1
        log(f"{args.name}: C={c:g} dev macro-F1 {dev_f1:.4f}")
        if best is None or dev_f1 > best[0]:
            best = (dev_f1, c, thresholds, test_probs)
    dev_f1, c, thresholds, test_probs = best

    micro, macro, per_label = evaluate(test_labels, test_sets, labels, test_probs, thresholds)
    unseen = [l for l in test_labels if l not in set(labels)]
    report = {
        "task": args.name,
        "micro_f1": micro,
        "macro_f1": macro,
        "per_label": per_label,
        "c": c,
        "max_threshold": args.max_threshold,
        "seconds": round(time.monotonic() - start, 2),
        "train_examples": len(train_texts),
        "dev_examples": len(dev_texts),
        "test_examples": len(test_texts),
        "dev_macro_f1": dev_f1,
        "dev_macro_f1_by_c": dev_by_c,
        "thresholds": {l: t for l, t in zip(labels, thresholds)},
        "test_labels_unseen_in_train": unseen,
        "features": int(x_train.shape[1]),
        "files": {"train": str(args.train), "dev": dev_source, "test": str(args.test)},
    }
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True, help="task name used in the report")
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--dev", type=Path, help="dev file; omitted: carve 15%% of --train")
    ap.add_argument("--test", required=True, type=Path)
    ap.add_argument("--out", type=Path, help="where to write the JSON report")
    ap.add_argument("--seed", type=int, default=7, help="seed of the carved dev split")
    ap.add_argument("--max-threshold", type=float, default=1.0,
                    help="highest threshold tuning may choose (0.5: as termscore train)")
    args = ap.parse_args()
    try:
        report = run(args)
    except InputError as e:
        log(f"error: {e}")
        return 2
    print_table(args.name, report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, sort_keys=False)
            f.write("\n")
        log(f"{args.name}: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
