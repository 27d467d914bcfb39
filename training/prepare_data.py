#!/usr/bin/env python3
"""Builds TermScore's training, dev and test files from ../shared/data.

Writes JSONL files of {"text", "labels"} into .cache/data/ (never committed: the
shared data's licences and attribution are in each folder's PROVENANCE.md).

- CUAD (CC BY 4.0): cuad_paragraphs.jsonl, paragraph-level, with the contract-level
  split given there (sha1 of the file name). The 35 clause categories TermScore uses are
  kept; the 6 metadata categories (document_name, parties, dates, notice period) are
  dropped, so paragraphs that only carry those become negatives. Training keeps every
  paragraph with a label and a seeded sample of unlabelled ones; dev and test are kept
  whole so that thresholds and scores see the real class balance.
- CLAUDETTE (CC BY 4.0): unfair_tos_en.jsonl, sentence-level; choice_of_law is
  renamed governing_law and privacy_included dropped. The given test fold is the test
  set; 5 of the 40 training documents (chosen by a hash of the document name) are dev.
- The project's annotations (data/annotations/): 15% of each training file is held
  out as dev; the test files, written separately, are joined into one test file.
- ACORD (CC BY 4.0): clauses rated 3 stars or more for an indemnification query are
  positives for `indemnification`, the rest of ACORD are negatives; the clauses whose
  every paired query is a test query form the test set.

Usage: python3 training/prepare_data.py [--shared ../shared] [--neg 12000] [--seed 7]
"""
import argparse
import hashlib
import json
import random
import re
from pathlib import Path

CUAD_LABELS = """license_grant irrevocable_or_perpetual_license ip_ownership_assignment
joint_ip_ownership non_transferable_license affiliate_license_licensee affiliate_license_licensor
unlimited_all_you_can_eat_license revenue_profit_sharing rofr_rofo_rofn cap_on_liability
uncapped_liability liquidated_damages insurance warranty_duration audit_rights anti_assignment
change_of_control termination_for_convenience post_termination_services minimum_commitment
volume_restriction price_restrictions exclusivity non_compete competitive_restriction_exception
no_solicit_of_customers no_solicit_of_employees non_disparagement most_favored_nation
covenant_not_to_sue third_party_beneficiary source_code_escrow governing_law renewal_term""".split()
# The project's own labels, which no public data set annotates. Unlabelled CUAD and
# CLAUDETTE rows are declared negatives for them (key "scope"), so the classifier sees
# ordinary contract text as "none of these" and not only the hand-written near-misses.
NEW_LABELS = """license_broad_purpose license_limited_purpose derivative_works work_made_for_hire
ip_retained_by_creator data_ownership_broad moral_rights_waiver ai_training_permitted
ai_training_prohibited third_party_ai_prohibited""".split()
CLAUDETTE_MAP = {
    "limitation_of_liability": "limitation_of_liability",
    "unilateral_termination": "unilateral_termination",
    "unilateral_change": "unilateral_change",
    "content_removal": "content_removal",
    "contract_by_using": "contract_by_using",
    "jurisdiction": "jurisdiction",
    "arbitration": "arbitration",
    "choice_of_law": "governing_law",
}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


# Nobody checked the public rows for the project's labels, so an unlabelled row is taken
# as a negative for a new label only when it has none of that label's cue words: a
# terms-of-service line granting a "perpetual, sublicensable licence to use" your posts
# may well be a broad licence, and calling it a negative would teach the model otherwise.
# The cues are wide on purpose; a row they catch is simply left out of that label.
_LICENCE = r"licen[cs]|grant|right to use|any purpose|any media|hereafter|perpetu|irrevocab"
_AI = r"machine.learning|artificial intelligence|\bai\b|\btrain|\bmodels?\b|data ?sets?|algorithm|neural|generative"
NEW_LABEL_CUES = {
    "license_broad_purpose": _LICENCE,
    "license_limited_purpose": _LICENCE + r"|solely|only for|purpose",
    "derivative_works": r"derivative|adapt|modif|translat|\bedit|alter|remix",
    "work_made_for_hire": r"for hire|work made|commission",
    "ip_retained_by_creator": r"retain|pre-?existing|background|reserve|portfolio|\bowns?\b|ownership",
    "data_ownership_broad": r"\bdata\b|work product|working files|know-how|\bowns?\b|ownership|property of",
    "moral_rights_waiver": r"moral|droit|attribution|integrity|paternity",
    "ai_training_permitted": _AI,
    "ai_training_prohibited": _AI,
    "third_party_ai_prohibited": _AI + r"|upload|third.party (tool|platform|service)",
}
_CUES = {label: re.compile(p, re.IGNORECASE) for label, p in NEW_LABEL_CUES.items()}


def background_scope(text):
    """The new labels an unlabelled public row is a safe negative for."""
    return [label for label in NEW_LABELS if not _CUES[label].search(text)]


def write(out_dir, name, rows, background=False):
    path = out_dir / name
    with open(path, "w", encoding="utf-8") as f:
        for text, labels, *extra in rows:
            row = {"text": text, "labels": sorted(set(labels))}
            if extra and extra[0]:
                # A line of the project's annotations that names the labels it is a
                # negative for (e.g. a file of near-misses only).
                row["scope"] = extra[0]
            elif background and not labels:
                scope = background_scope(text)
                if scope:
                    row["scope"] = scope
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    pos = sum(1 for r in rows if r[1])
    print(f"{path}: {len(rows)} rows, {pos} with labels")


def cuad(shared, out_dir, neg, seed):
    keep = set(CUAD_LABELS)
    splits = {"train": [], "dev": [], "test": []}
    for row in read_jsonl(shared / "data/cuad/cuad_paragraphs.jsonl"):
        labels = [l for l in row["labels"] if l in keep]
        splits[row["split"]].append((row["text"], labels))
    rng = random.Random(seed)
    train = splits["train"]
    positives = [r for r in train if r[1]]
    negatives = [r for r in train if not r[1]]
    rng.shuffle(negatives)
    train = positives + negatives[:neg]
    rng.shuffle(train)
    write(out_dir, "cuad.train.jsonl", train, background=True)
    write(out_dir, "cuad.dev.jsonl", splits["dev"], background=True)
    write(out_dir, "cuad.test.jsonl", splits["test"])


def claudette(shared, out_dir):
    splits = {"train": [], "dev": [], "test": []}
    for row in read_jsonl(shared / "data/unfair_tos_claudette_multilingual_en/unfair_tos_en.jsonl"):
        labels = [CLAUDETTE_MAP[l] for l in row["labels"] if l in CLAUDETTE_MAP]
        split = row["split"]
        if split == "train":
            doc = row["source"].split(":", 1)[1].split("#", 1)[0]
            if int(hashlib.sha1(doc.encode()).hexdigest(), 16) % 4 == 0:
                split = "dev"
        splits[split].append((row["text"], labels))
    for name, rows in splits.items():
        write(out_dir, f"claudette.{name}.jsonl", rows, background=name != "test")


def acord(shared, out_dir):
    train, test = [], []
    for row in read_jsonl(shared / "data/acord/acord_clauses.jsonl"):
        labels = ["indemnification"] if "indemnification" in row["labels"] else []
        paired = set(row.get("splits_of_paired_queries") or [row["split"]])
        (test if paired == {"test"} else train).append((row["text"], labels))
    write(out_dir, "acord.train.jsonl", train)
    write(out_dir, "acord.test.jsonl", test)


def annotations(root, out_dir, seed):
    """The project's own annotations: 15% of each training file (seeded) becomes dev;
    the separately written test files are joined into one test file. Each file's split
    is seeded by its own name, so adding a file leaves the others' splits as they were."""
    ann = root / "data" / "annotations"
    test_rows = []
    for train in sorted(ann.glob("*.train.jsonl")):
        name = train.name[: -len(".train.jsonl")]
        rows = [(r["text"], r["labels"], r.get("scope")) for r in read_jsonl(train)]
        random.Random(f"{seed}:{name}").shuffle(rows)
        n_dev = max(1, round(len(rows) * 0.15))
        write(out_dir, f"{name}.dev.jsonl", rows[:n_dev])
        write(out_dir, f"{name}.train.jsonl", rows[n_dev:])
        test = ann / f"{name}.test.jsonl"
        if test.exists():
            test_rows += [(r["text"], r["labels"]) for r in read_jsonl(test)]
    write(out_dir, "annotations.test.jsonl", test_rows)


def main():
    ap = argparse.ArgumentParser()
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--shared", default=str(root.parent / "shared"))
    ap.add_argument("--out", default=str(root / ".cache" / "data"))
    ap.add_argument("--neg", type=int, default=8000, help="unlabelled CUAD training paragraphs kept")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    shared = Path(args.shared)
    cuad(shared, out_dir, args.neg, args.seed)
    claudette(shared, out_dir)
    acord(shared, out_dir)
    annotations(root, out_dir, args.seed)


if __name__ == "__main__":
    main()
