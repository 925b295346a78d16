"""The book's figures: each helper returns a titled, labelled matplotlib figure."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from revs.report import plots  # noqa: E402

FRAME = pd.DataFrame({"method": ["a", "b", "a", "b"], "dataset": ["x", "x", "y", "y"],
                      "score": [0.1, 0.9, 0.4, 0.6], "other": [1.0, 0.0, 0.5, 0.2]})


@pytest.mark.parametrize("draw", [
    lambda: plots.bars(FRAME, x="method", y="score", hue="dataset", title="T", xlabel="X",
                       ylabel="Y"),
    lambda: plots.lines(FRAME, x="other", y="score", hue="method", title="T", xlabel="X",
                        ylabel="Y"),
    lambda: plots.scatter(FRAME, x="other", y="score", hue="method", style="dataset",
                          title="T", xlabel="X", ylabel="Y", limits=(0, 1)),
])
def test_single_panel_figures_carry_title_and_axis_labels(draw):
    figure = draw()
    axes = figure.axes[0]
    assert (axes.get_title(), axes.get_xlabel(), axes.get_ylabel()) == ("T", "X", "Y")


def test_scatter_limits_keep_every_point_inside():
    figure = plots.scatter(FRAME, x="other", y="score", hue="method", title="T", xlabel="X",
                           ylabel="Y", limits=(0, 1))
    low, high = figure.axes[0].get_xlim()
    assert low < 0 and high > 1


def test_panel_bars_titles_the_figure_and_each_panel():
    figure = plots.panel_bars(FRAME, x="method", y="score", hue="dataset", panel="dataset",
                              title="T", xlabel="X", ylabel="Y", columns=1)
    assert figure._suptitle.get_text() == "T"
    assert [ax.get_title() for ax in figure.axes[:2]] == ["x", "y"]


def test_bar_labels_read_as_scores_and_long_tick_labels_turn():
    frame = pd.DataFrame({"method": [f"a-long-method-name-{i}" for i in range(8)],
                          "score": [0.0, 0.00967, 0.5, 1.0, 0.25, 0.0, 0.125, 0.75]})
    figure = plots.bars(frame, x="method", y="score", title="T", xlabel="X", ylabel="Y")
    axes = figure.axes[0]
    labels = [text.get_text() for text in axes.texts]
    assert labels[:4] == ["0", "0.01", "0.50", "1.00"]
    assert {label.get_rotation() for label in axes.get_xticklabels()} == {25.0}
    short = plots.bars(FRAME, x="method", y="score", title="T", xlabel="X", ylabel="Y")
    assert {label.get_rotation() for label in short.axes[0].get_xticklabels()} == {0.0}
    shares = plots.bars(frame.head(3), x="method", y="score", title="T", xlabel="X", ylabel="Y",
                        percent=True)
    assert [text.get_text() for text in shares.axes[0].texts] == ["0%", "1%", "50%"]


def test_lines_over_counts_tick_whole_numbers_only():
    frame = pd.DataFrame({"step": [0, 1, 2, 0, 1, 2], "kept": [1.0, 0.5, 0.0, 1.0, 0.8, 0.6],
                          "dataset": ["x"] * 3 + ["y"] * 3})
    figure = plots.lines(frame, x="step", y="kept", hue="dataset", title="T", xlabel="X",
                         ylabel="Y")
    ticks = figure.axes[0].get_xticks()
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)
