"""The example notebook (python/examples/tour.ipynb: a study, a sweep, lr-find, cycler files, compare, the plots)
runs headlessly without an error: with nbclient where it is installed (Debian's python3-nbclient and
python3-ipykernel, which scripts/install-deps.sh installs) in a kernel of the test's own venv, else each code cell is run in order with exec in one namespace, the value of a cell's last
expression rendered as a notebook would (its _repr_html_) — the test says which it did. Also the notebook
display of Run, Sweep and Structure, and the plot helpers' message without matplotlib."""
import ast
import json
import os
import sys

import pytest

import batteryml

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOK = os.path.join(HERE, "..", "examples", "tour.ipynb")


def _nbclient(tmp_path, monkeypatch):
    """nbclient and a kernel of this interpreter (the venv the package is installed in, as a user registers
    one with `python -m ipykernel install --user --name NAME`: here a kernel spec in a folder of
    JUPYTER_PATH), or None without nbclient or ipykernel."""
    try:
        import nbclient
        import nbformat
        import ipykernel  # noqa: F401
    except ImportError:
        return None
    spec = tmp_path / "jupyter" / "kernels" / "batteryml-venv"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "batteryml (this venv)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger notes on frozen modules
    return nbclient, nbformat


def _exec_cells(nb, capsys):
    ns = {"__name__": "__main__"}
    shown = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        tree = ast.parse(src, filename="cell %d" % i)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, "cell %d" % i, "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "cell %d" % i, "eval"), ns)
            if value is not None:
                html = getattr(value, "_repr_html_", None)
                shown.append(html() if html is not None else repr(value))
    return ns, shown


def test_the_notebook_runs(tmp_path, monkeypatch, capsys):
    with open(NOTEBOOK, encoding="utf-8") as f:
        nb = json.load(f)
    monkeypatch.chdir(tmp_path)
    tools = _nbclient(tmp_path, monkeypatch)
    if tools is not None:
        nbclient, nbformat = tools
        node = nbformat.reads(json.dumps(nb), as_version=4)
        nbclient.NotebookClient(node, timeout=600, kernel_name="batteryml-venv").execute()
        errors = [o for c in node.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, errors
        with capsys.disabled():
            print("\ntest_notebook: executed with nbclient")
        return
    ns, shown = _exec_cells(nb, capsys)
    with capsys.disabled():
        print("\ntest_notebook: nbclient (or a python3 kernel) is not installed: the notebook's code cells were run "
              "in order with exec")
    assert isinstance(ns["run"], batteryml.Run) and ns["lr"].suggestion > 0
    assert list(ns["sweep"].table["status"]) == ["ok", "ok", "ok"]
    assert len(ns["summary"].cells) == 5
    html = [h for h in shown if h.startswith("<div><p><b>batteryml run")]
    assert html and "<table" in html[0] and "data:image/png;base64," in html[0]  # the run's figures inline


def test_plot_helpers_without_matplotlib_say_how_to_install(tmp_path, configs):
    r = batteryml.run(["model=ridge", "figures=false", "output_dir=%s" % tmp_path], config_dir=configs, log=False)
    try:
        import matplotlib
    except ImportError:
        with pytest.raises(ImportError, match="python3-matplotlib"):
            batteryml.plot.predictions(r, "soh")
        return
    matplotlib.use("Agg")
    ax = batteryml.plot.predictions(r, "soh")
    assert ax.get_xlabel() == "true soh"
    with pytest.raises(batteryml.Error, match="no target"):
        batteryml.plot.predictions(r, "nosuchtarget")


def test_metrics_frame_is_tidy(tmp_path, configs):
    r = batteryml.run(["model=ridge", "split=loco", "figures=false", "output_dir=%s" % tmp_path], config_dir=configs,
                      log=False)
    m = r.metrics_frame()
    assert list(m.columns) == ["scope", "group", "target", "metric", "value"] and str(m["value"].dtype) == "float64"
    assert set(m["scope"]) == {"overall", "per_temperature", "per_cell", "fold"}
    rmse = m[(m.scope == "overall") & (m.target == "soh") & (m.metric == "rmse")]["value"]
    assert list(rmse) == [r.metrics["overall"]["soh"]["rmse"]]
    html = r._repr_html_()
    assert r.dir in html and "rmse" in html
