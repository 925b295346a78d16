"""Seaborn figures for the book, drawn from tidy tables; nothing here runs a model.

Every function returns the matplotlib Figure, titled and with labelled axes, so a notebook cell
that ends with the call shows it and the book can caption and cross-reference it.
"""

from __future__ import annotations

__all__ = ["bars", "histogram", "lines", "panel_bars", "panel_lines", "picked_scatter",
           "style"]


def style() -> None:
    """The book's look: seaborn's whitegrid theme, tables with three decimals."""
    import pandas as pd
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", font_scale=1.0)
    pd.set_option("display.precision", 3)


def bars(frame, *, x: str, y: str, hue: str | None = None, title: str, xlabel: str, ylabel: str,
         percent: bool = False, size: tuple[float, float] = (7.0, 3.6)):
    """A grouped bar chart of ``frame[y]`` by ``frame[x]`` (and ``hue``), values written on bars.

    ``percent`` shows shares in [0, 1] as percentages on a 0–100 % axis.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = frame.copy()
    if percent:
        data[y] = data[y] * 100
    figure, ax = plt.subplots(figsize=size)
    sns.barplot(data=data, x=x, y=y, hue=hue, ax=ax, errorbar=None)
    crowded = data[x].nunique() > 12
    if crowded:  # e.g. one bar per layer: every fifth label, no values on the bars
        for i, label in enumerate(ax.get_xticklabels()):
            label.set_visible(i % 5 == 0)
    else:
        # Scores in [0, 1] read best with two decimals ("%.3g" would print 0.00967), and a
        # short zero keeps the labels of neighbouring empty bars from running into each other.
        fmt = "{:.0f}%" if percent else "{:.2f}" if data[y].abs().max() <= 1 else "{:.3g}"
        zero = "0%" if percent else "0"
        for container in ax.containers:
            ax.bar_label(container, fmt=lambda v: zero if v == 0 else fmt.format(v), padding=2,
                         fontsize=8)
        longest = max(len(label.get_text()) for label in ax.get_xticklabels())
        if longest * data[x].nunique() * 0.075 > 0.8 * size[0]:  # ~0.075 inch per character
            ax.tick_params(axis="x", labelrotation=25)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
    if percent:
        ax.set_ylim(0, 110)
    else:
        ax.margins(y=0.12)  # room for the labels of the tallest bars below the title
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel + (" (%)" if percent else ""))
    if hue is not None:
        ax.legend(title=hue, frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    figure.tight_layout()
    plt.close(figure)  # shown once, by the cell's return value
    return figure


def lines(frame, *, x: str, y: str, hue: str | None = None, title: str, xlabel: str,
          ylabel: str, log: bool = False, band: tuple[float, float] | None = None,
          band_label: str = "target band", size: tuple[float, float] = (7.0, 3.6)):
    """``frame[y]`` against ``frame[x]``, one line (with markers) per ``hue`` value.

    ``log`` puts ``y`` on a symmetric log axis, which keeps 0 (a rank of top-1) visible;
    ``band`` shades a range of ``y`` (e.g. the rank band an edit aims for).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    figure, ax = plt.subplots(figsize=size)
    if band is not None:
        ax.axhspan(*band, color="0.9", label=band_label, zorder=0)
    sns.lineplot(data=frame, x=x, y=y, hue=hue, style=hue, markers=True, dashes=False, ax=ax)
    if frame[x].dtype.kind in "iu":  # counts and layers: no ticks between whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log:
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(bottom=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if hue is not None:
        ax.legend(title=None, frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    figure.tight_layout()
    plt.close(figure)
    return figure


def histogram(frame, *, x: str, title: str, xlabel: str, ylabel: str = "count",
              log: bool = False, bins: int = 40, size: tuple[float, float] = (7.0, 3.2)):
    """Distribution of ``frame[x]`` (``log``: logarithmic bins over ``x + 1``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = frame.assign(**{x: frame[x] + 1}) if log else frame
    figure, ax = plt.subplots(figsize=size)
    sns.histplot(data=data, x=x, bins=bins, log_scale=log, ax=ax)
    ax.set(title=title, xlabel=xlabel + (" + 1" if log else ""), ylabel=ylabel)
    figure.tight_layout()
    plt.close(figure)
    return figure


def scatter(frame, *, x: str, y: str, hue: str, style: str | None = None, title: str,
            xlabel: str, ylabel: str, limits: tuple[float, float] | None = None,
            size: tuple[float, float] = (7.0, 4.2)):
    """One marker per row of ``frame`` at (``x``, ``y``), coloured by ``hue``, shaped by ``style``.

    ``limits`` fixes both axes (e.g. ``(0, 1)`` for scores, with a small margin).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    figure, ax = plt.subplots(figsize=size)
    sns.scatterplot(data=frame, x=x, y=y, hue=hue, style=style, s=70, ax=ax)
    if limits is not None:
        margin = 0.04 * (limits[1] - limits[0])
        ax.set(xlim=(limits[0] - margin, limits[1] + margin),
               ylim=(limits[0] - margin, limits[1] + margin))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(frameon=False, bbox_to_anchor=(1.01, 1), loc="upper left")
    figure.tight_layout()
    plt.close(figure)
    return figure


def picked_scatter(background, picked, *, x: str, y: str, panel: str, title: str, xlabel: str,
                   ylabel: str, log_y: bool = False, columns: int = 2,
                   size: tuple[float, float] = (8.0, 6.0)):
    """Rows of ``background`` in grey with ``picked``'s rows on top, one panel per ``panel`` value.

    E.g. every neuron of a layer, and in colour those that one selection rule picks.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = list(dict.fromkeys(picked[panel]))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=size, sharex=True, sharey=True,
                                squeeze=False)
    colours = sns.color_palette(n_colors=len(names))
    for ax, name, colour in zip(axes.flat, names, colours, strict=False):
        ax.scatter(background[x], background[y], s=4, color="0.8", label="all")
        mine = picked[picked[panel] == name]
        ax.scatter(mine[x], mine[y], s=14, color=colour, label="picked")
        ax.set_title(name, fontsize=10)
        if log_y:
            ax.set_yscale("symlog", linthresh=1)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    figure.supxlabel(xlabel)
    figure.supylabel(ylabel)
    figure.suptitle(title)
    figure.tight_layout()
    plt.close(figure)
    return figure


def panel_lines(frame, *, x: str, y: str, hue: str, panel: str, title: str, xlabel: str,
                ylabel: str, columns: int = 2, height: float = 2.6, aspect: float = 1.5):
    """:func:`lines` in one panel per value of ``frame[panel]`` (shared axes, one legend)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    grid = sns.relplot(data=frame, x=x, y=y, hue=hue, style=hue, col=panel, col_wrap=columns,
                       kind="line", markers=True, dashes=False, height=height, aspect=aspect,
                       facet_kws={"sharey": True})
    grid.set_titles("{col_name}")
    grid.set_axis_labels(xlabel, ylabel)
    grid.figure.suptitle(title)
    # room for the title (0.75 inch above the panels, whatever their rows); legend outside
    grid.figure.subplots_adjust(top=1 - 0.75 / grid.figure.get_figheight())
    plt.close(grid.figure)
    return grid.figure


def panel_bars(frame, *, x: str, y: str, hue: str, panel: str, title: str, xlabel: str,
               ylabel: str, columns: int = 2, height: float = 2.8, aspect: float = 1.4):
    """:func:`bars` in one panel per value of ``frame[panel]`` (own x values, shared y axis)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    grid = sns.catplot(data=frame, x=x, y=y, hue=hue, col=panel, col_wrap=columns, kind="bar",
                       errorbar=None, height=height, aspect=aspect, sharex=False)
    grid.set_titles("{col_name}")
    grid.set_axis_labels(xlabel, ylabel)
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", labelrotation=20)
    grid.figure.suptitle(title)
    grid.figure.subplots_adjust(top=0.88, hspace=0.6)
    plt.close(grid.figure)
    return grid.figure
