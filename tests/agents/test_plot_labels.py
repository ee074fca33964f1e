"""Plot labels never overlap, even for points on top of each other (the embedded bench's case)."""

import json
from pathlib import Path

import pytest
from matplotlib.text import Text

from lemmaflow.agents.bench import BenchReport, plot_report, pyplot
from lemmaflow.agents.plot_labels import overlapping_pairs, place_labels

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("log", [False, True])
def test_crowded_points_get_disjoint_labels_inside_the_axes(log):
    plt = pyplot("test")
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    xs = [1000 + 3 * i for i in range(14)] + [5000, 5001]
    pts = [(x, 0.0) for x in xs]
    ax.plot(xs, [0.0] * len(xs), "o")
    if log:
        ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(["pipelines"], loc="upper left")
    fig.tight_layout()
    texts = place_labels(ax, pts, [f"pipeline_{i}" for i in range(len(pts))])
    assert [t.get_text() for t in texts] == [f"pipeline_{i}" for i in range(len(pts))]
    # an unplaced annotate at one offset overlaps: the check can fail
    naive = [ax.annotate(f"n{i}", p, textcoords="offset points", xytext=(6, 6)) for i, p in enumerate(pts[:3])]
    assert overlapping_pairs(ax, naive)
    for t in naive:
        t.remove()
    assert overlapping_pairs(ax, texts) == []
    r = fig.canvas.get_renderer()
    box = ax.get_window_extent(r)
    legend = ax.get_legend().get_window_extent(r)
    for t in texts:
        t.update_positions(r)
        b = Text.get_window_extent(t, r)  # the text, without its leader line
        assert box.x0 <= b.x0 and b.x1 <= box.x1 and box.y0 <= b.y0 and b.y1 <= box.y1
        assert b.x1 <= legend.x0 or b.x0 >= legend.x1 or b.y1 <= legend.y0 or b.y0 >= legend.y1
    plt.close(fig)


def test_the_embedded_bench_plot_renders_from_its_json(tmp_path):
    report = BenchReport.model_validate(json.loads((ROOT / "benchmarks/embedded_bench/bench.json").read_text()))
    out = plot_report(report, tmp_path / "bench.png")
    assert out.stat().st_size > 10_000
