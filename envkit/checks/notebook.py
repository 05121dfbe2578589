"""The checks a dev image adds to the runtime ones (envkit/checks/registry.py):
JupyterLab runs, and a notebook made from examples/first_program.py executes
on the image's own kernel (nbclient, as a notebook in JupyterLab or an editor
would) and prints the line that says the model learned."""

from __future__ import annotations

import json

from envkit.checks.check import Context, Outcome, from_exec
from envkit.checks.container import ProbeContainer
from envkit.checks.probes import EXAMPLES

LEARNED = "learned y = "
DONE = "ok: loss fell"
# Runs with the image's python: one cell per top-level statement of the
# example, less its `if __name__ == "__main__"` guard (a kernel's __name__ is
# __main__ too, and sys.exit there is an error), then a cell that calls main()
# and asserts it succeeded. Prints the notebook's stream outputs as JSON.
_RUN_NOTEBOOK = f"""
import ast, json, nbclient, nbformat
source = open("{EXAMPLES}/first_program.py").read()
lines = source.splitlines(keepends=True)
module = ast.parse(source)
cells = []
for node in module.body:
    guard = isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    if guard or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        continue  # the guard, and the module's docstring (a markdown cell below)
    start = node.lineno - 1 - len(getattr(node, "decorator_list", []))
    cells.append(nbformat.v4.new_code_cell("".join(lines[start:node.end_lineno]).rstrip()))
doc = ast.get_docstring(module) or ""
notebook = nbformat.v4.new_notebook(cells=[
    nbformat.v4.new_markdown_cell(doc), *cells, nbformat.v4.new_code_cell("assert main() == 0"),
])
notebook.metadata["kernelspec"] = {{"name": "python3", "display_name": "Python 3", "language": "python"}}
nbformat.validate(notebook)
nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
print(json.dumps({{"cells": len(notebook.cells), "stdout": text}}))
"""


def jupyterlab(box: ProbeContainer, ctx: Context) -> Outcome:
    run = box.exec(["jupyter", "lab", "--version"], timeout=120)
    return from_exec(run, f"JupyterLab {run.stdout.strip()}")


def notebook(box: ProbeContainer, ctx: Context) -> Outcome:
    run = box.exec(["python", "-c", _RUN_NOTEBOOK])
    if not run.ok:
        return from_exec(run)
    try:
        result = json.loads(run.stdout.strip().splitlines()[-1])
        said = str(result["stdout"]).splitlines()
    except (json.JSONDecodeError, IndexError, KeyError, TypeError):
        return Outcome(False, f"no result from the notebook run: {run.tail()}", run.seconds)
    learned = next((line for line in said if line.startswith(LEARNED)), "")
    passed = bool(learned) and any(line.startswith(DONE) for line in said)
    detail = f"{result['cells']} cells on the python3 kernel: {learned}" if passed else f"printed: {said[-3:]}"
    return Outcome(passed, detail, run.seconds)
