"""The labelled corpus of failure outputs and how well signatures cluster it."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from test_observer.signatures.derive import derive

CORPUS = Path(__file__).parents[2] / "data" / "failures"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    fmt: str
    text: str


def samples() -> list[Sample]:
    found = []
    for path in sorted(CORPUS.glob("*/*/*.txt")):
        label = path.name.split("--")[0]
        found.append(Sample(path, label, path.parent.name, path.read_text()))
    return found


@dataclass(frozen=True)
class Quality:
    purity: float
    recall: float
    samples: int
    labels: int
    clusters: int


def quality(corpus: list[Sample]) -> Quality:
    """Purity: the share of samples whose cluster's majority label is their own. Recall: the
    share of samples in their label's largest cluster (a cause split in two loses the smaller
    part)."""
    clusters: dict[str, Counter[str]] = defaultdict(Counter)
    by_label: dict[str, Counter[str]] = defaultdict(Counter)
    for sample in corpus:
        key = derive(sample.text).hash
        clusters[key][sample.label] += 1
        by_label[sample.label][key] += 1
    total = len(corpus)
    return Quality(
        purity=sum(max(c.values()) for c in clusters.values()) / total,
        recall=sum(max(c.values()) for c in by_label.values()) / total,
        samples=total,
        labels=len(by_label),
        clusters=len(clusters),
    )


if __name__ == "__main__":
    corpus = samples()
    print(quality(corpus))
    by_label: dict[str, Counter[str]] = defaultdict(Counter)
    texts = {}
    for sample in corpus:
        s = derive(sample.text)
        by_label[sample.label][s.hash] += 1
        texts[s.hash] = s.text
    owners: dict[str, set[str]] = defaultdict(set)
    for label, counter in by_label.items():
        for key in counter:
            owners[key].add(label)
    for label, counter in sorted(by_label.items()):
        if len(counter) > 1 or any(len(owners[k]) > 1 for k in counter):
            print("==", label)
            for key, n in counter.most_common():
                print("  ", n, sorted(owners[key]), repr(texts[key]))
