"""Point labels that never overlap: greedy placement in display space, with leader lines.

matplotlib's ``annotate`` puts every label at the same offset, so labels of nearby
points (a bench's pipelines at similar token counts) pile up unreadably. Here each
label is tried at growing offsets above and below its point, right then left of it,
and takes the first place where its box overlaps no label placed before, no point
marker, and stays inside the axes; a label moved away from its point gets a thin
leader line. Placement is deterministic (points are labelled left to right).

Example::

    from lemmaflow.agents.bench import pyplot
    from lemmaflow.agents.plot_labels import place_labels

    plt = pyplot("example")
    fig, ax = plt.subplots()
    ax.plot([1, 1.01, 1.02], [0, 0, 0], "o")
    texts = place_labels(ax, [(1, 0), (1.01, 0), (1.02, 0)], ["sc@4", "fobar", "beam"])
    fig.savefig("labels.png")
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["place_labels", "overlapping_pairs"]


def _text_box(t, renderer):
    """The text's own box: an Annotation's extent would include its leader line."""
    from matplotlib.text import Text

    if hasattr(t, "update_positions"):
        t.update_positions(renderer)  # an Annotation computes its offset position at draw time
    return Text.get_window_extent(t, renderer)


def _boxes_overlap(a, b, pad: float = 3.0) -> bool:
    return not (a.x1 + pad <= b.x0 or b.x1 + pad <= a.x0 or a.y1 + pad <= b.y0 or b.y1 + pad <= a.y0)


def place_labels(ax, points: Sequence[tuple[float, float]], labels: Sequence[str], *, fontsize: float = 8,
                 max_steps: int = 40) -> list:
    """Add one text per point so that no two texts overlap; returns the text artists (in input order).

    Call it last, after scales, limits, legend and ``tight_layout``: placement is in display space.
    """
    fig = ax.figure
    fig.canvas.draw()  # fixes the layout so display coordinates are final
    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    markers = [ax.transData.transform(p) for p in points]
    legend = ax.get_legend()
    placed: list = [legend.get_window_extent(renderer)] if legend is not None else []
    texts: list = [None] * len(points)
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    for i in order:
        x, y = points[i]
        t = ax.annotate(labels[i], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=fontsize,
                        ha="left", va="bottom")
        h_pt = fontsize * 1.35
        candidates = [(5, 5)]
        for k in range(1, max_steps + 1):
            for dy in (k * h_pt + 5, -k * h_pt + 5):
                candidates += [(5, dy), (-5, dy)]
        candidates += [(-5, 5)]
        for dx, dy in candidates:
            t.set_position((dx, dy))
            t.set_ha("left" if dx >= 0 else "right")
            box = _text_box(t, renderer)
            inside = (box.x0 >= axes_box.x0 and box.x1 <= axes_box.x1 and box.y0 >= axes_box.y0
                      and box.y1 <= axes_box.y1)
            hits_label = any(_boxes_overlap(box, b) for b in placed)
            hits_marker = any(box.x0 - 3 <= mx <= box.x1 + 3 and box.y0 - 3 <= my <= box.y1 + 3
                              for j, (mx, my) in enumerate(markers) if j != i)
            if inside and not hits_label and not hits_marker:
                break
        if (dx, dy) != (5, 5):  # moved away from its point: draw a leader line
            t.arrow_patch = None
            t.remove()
            t = ax.annotate(labels[i], (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                            ha="left" if dx >= 0 else "right", va="bottom",
                            arrowprops=dict(arrowstyle="-", color="0.55", lw=0.6, shrinkA=0, shrinkB=3))
        placed.append(_text_box(t, renderer))
        texts[i] = t
    return texts


def overlapping_pairs(ax, texts) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap once drawn (tests and checks)."""
    ax.figure.canvas.draw()
    r = ax.figure.canvas.get_renderer()
    boxes = [(t.get_text(), _text_box(t, r)) for t in texts]
    return [(a, b) for k, (a, ba) in enumerate(boxes) for b, bb in boxes[k + 1:] if _boxes_overlap(ba, bb, pad=0.0)]
