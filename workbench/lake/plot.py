"""Drawing the registry: features as nodes, functions as directed hyperedges from inputs to outputs."""

from __future__ import annotations

from workbench.lake._registry import Registry


def lineage_layers(registry: Registry) -> tuple[dict[str, int], dict[str, int]]:
    """Column of each feature and function in a left-to-right drawing: raw features in column 0, a
    function one column right of its furthest input, its outputs one column right of the function."""
    feature_col = {name: 0 for name in registry.features}
    function_col = {}
    for fname in registry.topological_functions():
        spec = registry.function(fname)
        col = max(feature_col[i] for i in spec.inputs) + 1
        function_col[fname] = col
        for out in spec.outputs:
            feature_col[out] = col + 1
    return feature_col, function_col


def draw_lineage(registry: Registry, ax=None, short_names: bool = True):
    """Draw the registry with matplotlib; returns the Axes.

    A function is a hyperedge: one box with arrows from every input feature and to every output feature.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.5))
    feature_col, function_col = lineage_layers(registry)
    short = (lambda n: n.rsplit("/", 1)[-1]) if short_names else (lambda n: n)
    pos = {}
    for columns, kind in ((feature_col, "feature"), (function_col, "function")):
        by_col: dict[int, list[str]] = {}
        for name, col in columns.items():
            by_col.setdefault(col, []).append(name)
        for col, names in by_col.items():
            for i, name in enumerate(sorted(names)):
                pos[(kind, name)] = (col * 3.0 if kind == "feature" else col * 3.0 - 1.5,
                                     (len(names) - 1) / 2 - i)
    for name in registry.features:
        x, y = pos[("feature", name)]
        ax.scatter([x], [y], s=300, color="#4c72b0", zorder=3)
        ax.annotate(short(name), (x, y), xytext=(0, -16), textcoords="offset points", ha="center", va="top",
                    fontsize=8)
    for fname, spec in registry.functions.items():
        x, y = pos[("function", fname)]
        ax.text(x, y, f"{short(fname)}\n[{spec.kind}]", ha="center", va="center", fontsize=8, zorder=4,
                bbox={"boxstyle": "round", "facecolor": "#f2c14e", "edgecolor": "#8a6d1d"})
        for inp in spec.inputs:
            ax.add_patch(FancyArrowPatch(pos[("feature", inp)], (x, y), arrowstyle="-|>", mutation_scale=12,
                                         color="#555555", shrinkA=9, shrinkB=28, zorder=2))
        for out in spec.outputs:
            ax.add_patch(FancyArrowPatch((x, y), pos[("feature", out)], arrowstyle="-|>", mutation_scale=12,
                                         color="#c44e52", shrinkA=28, shrinkB=9, zorder=2))
    xs = [p[0] for p in pos.values()] or [0]
    ys = [p[1] for p in pos.values()] or [0]
    ax.set_xlim(min(xs) - 1, max(xs) + 1)
    ax.set_ylim(min(ys) - 1, max(ys) + 0.8)
    ax.axis("off")
    ax.set_title("registry: features (dots) and functions (boxes) as hyperedges inputs -> outputs")
    return ax
