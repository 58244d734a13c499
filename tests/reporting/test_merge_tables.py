"""Merging per-run CSVs of several commands gives the table one command over all the runs writes."""

from __future__ import annotations

import pandas as pd
import pytest

from metal_pipeline.cli import merge_tables
from metal_pipeline.reporting import table3, table4
from metal_pipeline.reporting.merge import MergeError, merged_tables, read_runs

CONFIGS = ("squares", "squares_rows", "rows_cols")
METHODS = ("default", "paper", "l2_ae")


def _metrics(class_name: str, config: str, masking: str, values: dict[str, float]) -> pd.DataFrame:
    rows = [(class_name, config, masking, "all", m, v) for m, v in values.items()]
    return pd.DataFrame(rows, columns=["class", "configuration", "masking", "defect", "metric", "value"])


def _grid_inputs(seeds, class_name="bottle", recipe="paper", name=lambda c, s: f"{c}-s{s}"):
    """Table 3 node inputs: every configuration x seed, with metrics that differ per run (thirds: not
    exact in binary, so the CSV round trip is exercised)."""
    inputs = {}
    for i, config in enumerate(CONFIGS):
        for seed in seeds:
            value = 0.5 + i / 10 + seed / 3
            inputs[f"{config}__s{seed}__metrics"] = _metrics(
                class_name, config, "paper", {"pauroc_0.3": value, "pauroc_0.3_mcclish": value / 2,
                                              "pixel_auroc": 0.9, "image_auroc": value / 3})
            inputs[f"{config}__s{seed}__summary"] = {"seed": seed, "recipe": recipe, "run_name": name(config, seed),
                                                     "reused": False, "best_epoch": 10, "stopped_epoch": 12,
                                                     "wall_seconds": 1.5}
    return inputs


def _write(tmp_path, name, runs: pd.DataFrame):
    path = tmp_path / name
    runs.to_csv(path, index=False)
    return path


def test_table3_merged_from_two_commands_equals_the_table_of_one_command_over_all_runs(tmp_path):
    _, whole, whole_markdown, _ = table3.table3_tables(_grid_inputs([0, 1, 2]))
    first = _write(tmp_path, "a.csv", table3.runs_frame(_grid_inputs([0])))
    later = _write(tmp_path, "b.csv", table3.runs_frame(_grid_inputs([1, 2])))
    runs = read_runs([later, first])  # any order: rows come back in the table's order
    table, markdown, figure = merged_tables(runs)
    assert markdown == whole_markdown
    pd.testing.assert_frame_equal(table, whole, check_exact=False, rtol=1e-12)
    assert runs["configuration"].tolist() == [c for c in CONFIGS for _ in range(3)]
    assert "MeTAL (paper) [1]" in markdown and figure.axes  # bottle's published row, as the pipeline shows it


def test_table4_rows_merge_too(tmp_path):
    def inputs(seeds):
        out = {}
        for i, method in enumerate(METHODS):
            for seed in seeds:
                out[f"{method}__s{seed}__metrics"] = _metrics("head_ct", "squares_rows", "paper",
                                                              {"image_auroc": 0.6 + i / 10 + seed / 7})
                out[f"{method}__s{seed}__summary"] = {"seed": seed, "recipe": "paper", "run_name": f"{method}-{seed}"}
        return out

    _, whole, whole_markdown, _ = table4.table4_tables("head_ct", inputs([0, 1, 2]))
    paths = [_write(tmp_path, f"{s}.csv", table4.runs_frame(inputs([s]))) for s in (2, 0, 1)]
    table, markdown, _ = merged_tables(read_runs(paths))
    assert markdown == whole_markdown
    assert "0.863 ± 0.040" in markdown
    pd.testing.assert_frame_equal(table, whole, check_exact=False, rtol=1e-12)


def test_a_run_in_two_files_counts_once_if_its_metrics_agree(tmp_path):
    a = _write(tmp_path, "a.csv", table3.runs_frame(_grid_inputs([0, 1])))
    b = _write(tmp_path, "b.csv", table3.runs_frame(_grid_inputs([1, 2])))  # seed 1 reused by the later command
    table, _, _ = merged_tables(read_runs([a, b]))
    assert table["n_seeds"].tolist() == [3, 3, 3]

    changed = table3.runs_frame(_grid_inputs([1]))
    changed.loc[0, "pauroc_0.3"] += 0.01
    c = _write(tmp_path, "c.csv", changed)
    with pytest.raises(MergeError, match="squares-s1 has different metrics in .*a.csv.*c.csv"):
        read_runs([a, c])


def test_two_different_runs_of_one_cell_and_seed_are_refused(tmp_path):
    a = _write(tmp_path, "a.csv", table3.runs_frame(_grid_inputs([0])))
    other = _write(tmp_path, "other.csv", table3.runs_frame(_grid_inputs([0], name=lambda c, s: f"{c}-s{s}-lr2")))
    with pytest.raises(MergeError, match="2 different runs for one cell and seed .*configuration=squares.*"
                                         "squares-s0 in .*a.csv.*squares-s0-lr2 in .*other.csv"):
        read_runs([a, other])


@pytest.mark.parametrize(("second", "message"), [
    ({"class_name": "head_ct"}, "several classes"),
    ({"recipe": "default"}, "several recipes"),
])
def test_rows_of_different_tables_are_refused(tmp_path, second, message):
    a = _write(tmp_path, "a.csv", table3.runs_frame(_grid_inputs([0])))
    b = _write(tmp_path, "b.csv", table3.runs_frame(_grid_inputs([1], **second)))
    with pytest.raises(MergeError, match=message):
        read_runs([a, b])


def test_table3_and_table4_rows_are_not_mixed_and_a_summary_table_is_named(tmp_path):
    a = _write(tmp_path, "a.csv", table3.runs_frame(_grid_inputs([0])))
    t4 = table4.runs_frame({"default__s0__metrics": _metrics("bottle", "squares_rows", "strict", {"image_auroc": 0.9}),
                            "default__s0__summary": {"seed": 0, "recipe": "default", "run_name": "d"}})
    with pytest.raises(MergeError, match="mix Table 3/5 rows"):
        read_runs([a, _write(tmp_path, "t4.csv", t4)])
    _, table, _, _ = table3.table3_tables(_grid_inputs([0]))
    with pytest.raises(MergeError, match="summary.csv has no column.*'run_name'.*not the per-run CSV"):
        read_runs([_write(tmp_path, "summary.csv", table)])


def test_cli_writes_the_table_its_rows_and_figure(tmp_path, capsys):
    a = _write(tmp_path, "a.csv", table3.runs_frame(_grid_inputs([0])))
    b = _write(tmp_path, "b.csv", table3.runs_frame(_grid_inputs([1])))
    out = tmp_path / "results" / "table3_bottle"
    assert merge_tables.main([str(a), str(b), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.parent.iterdir())
    assert written == ["table3_bottle.md", "table3_bottle.png", "table3_bottle_runs.csv", "table3_bottle_table.csv"]
    assert "| squares | paper | 0, 1 |" in (out.parent / "table3_bottle.md").read_text()
    assert len(pd.read_csv(out.parent / "table3_bottle_runs.csv")) == 6

    assert merge_tables.main([str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err


def test_cli_runs_only_writes_just_the_runs(tmp_path, capsys):
    a = _write(tmp_path, "a.csv", table3.runs_frame(_grid_inputs([0])))
    b = _write(tmp_path, "b.csv", table3.runs_frame(_grid_inputs([1])))
    out = tmp_path / "results" / "seeds"
    assert merge_tables.main([str(a), str(b), "--out", str(out), "--runs-only"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["seeds_runs.csv"]
    assert "|" not in capsys.readouterr().out  # no table printed
    gathered = pd.read_csv(out.parent / "seeds_runs.csv")
    assert len(gathered) == 6 and sorted(gathered["seed"].unique()) == [0, 1]
    assert gathered.equals(read_runs([a, b]).reset_index(drop=True))

