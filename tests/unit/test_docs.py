"""The docs' generated parts against the code they come from: every page is
as `invoke docs` would write it now (as `invoke bake --check` holds
docker-bake.json), each says what the code says, and the README stays the
short page a newcomer finishes, with CI's two set-up commands in it."""

import copy
import dataclasses
import re
import shutil
from dataclasses import dataclass

import pytest

import tasks
from envkit import ROOT
from envkit.checks.registry import CHECKS
from envkit.core.errors import UsageError
from envkit.core.settings import Settings
from envkit.docs.fields import field_comments, field_rows
from envkit.docs.reference import cell, prose, tasks_page
from envkit.docs.site import README, TABLES_BEGIN, stale_pages, write_pages

MAIN_JOB = (
    "bash .ci/setup && .venv/bin/invoke base build --cuda 12.1 --base-image torch-env-base:bookworm "
    "--ca-cert /etc/ssl/certs/ca-certificates.crt test --cuda 12.1"
)
TESTS = "bash .ci/setup && .venv/bin/pytest"


def test_every_generated_page_and_the_readme_tables_are_as_the_code_gives_them():
    assert stale_pages(tasks.ns) == [], "run `invoke docs` and commit what it writes"


def test_invoke_docs_check_passes_here(run_invoke):
    checked = run_invoke("docs", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "up to date" in checked.stdout


@pytest.fixture
def copied(tmp_path):
    docs, readme = tmp_path / "docs", tmp_path / "README.md"
    shutil.copytree(ROOT / "docs", docs)
    shutil.copy(README, readme)
    return docs, readme


def test_a_page_or_table_out_of_date_is_named_then_rewritten(copied):
    docs, readme = copied
    tasks_page = docs / "reference" / "tasks.md"
    tasks_page.write_text(tasks_page.read_text().replace("## `invoke lab`", "## `invoke notebook`"))
    readme.write_text(readme.read_text().replace("| `cu121-pip` |", "| `cu122-pip` |"))
    assert stale_pages(tasks.ns, docs, readme) == ["docs/reference/tasks.md", str(readme)]
    assert write_pages(tasks.ns, docs, readme) == ["docs/reference/tasks.md", str(readme)]
    assert stale_pages(tasks.ns, docs, readme) == []
    assert readme.read_text() == README.read_text() and "invoke lab" in tasks_page.read_text()


def test_a_page_invoke_docs_did_not_write_is_left_alone_and_nothing_is_written(copied):
    docs, readme = copied
    mine = docs / "reference" / "checks.md"
    mine.write_text("# My own notes on the checks\n")
    stale = docs / "reference" / "configuration.md"  # one of its own, out of date, listed before it
    stale.write_text(stale.read_text() + "an old line\n")
    with pytest.raises(UsageError, match="was not written by `invoke docs`; move it away first"):
        write_pages(tasks.ns, docs, readme)
    assert mine.read_text() == "# My own notes on the checks\n"
    assert stale.read_text().endswith("an old line\n")


def test_a_readme_without_its_table_markers_is_refused_before_any_page_is_written(copied):
    docs, readme = copied
    readme.write_text(readme.read_text().replace(TABLES_BEGIN, ""))
    (docs / "reference" / "tasks.md").unlink()
    with pytest.raises(UsageError, match="the lines that hold its generated tables are missing"):
        write_pages(tasks.ns, docs, readme)
    assert not (docs / "reference" / "tasks.md").exists()


def test_the_tasks_page_has_every_task_with_every_flag_and_its_help():
    page = (ROOT / "docs" / "reference" / "tasks.md").read_text()
    assert tasks_page(tasks.ns) == page  # twice in one process: Invoke uses up each task's help as it parses
    for context in copy.deepcopy(tasks.ns).to_contexts():
        assert f"## `invoke {context.name}`" in page
        section = page.split(f"## `invoke {context.name}`", 1)[1].split("\n## ", 1)[0]
        for flag, help_text in context.help_tuples():
            assert f"| `{cell(flag)}` | {cell(help_text or '')} |" in section


def test_the_configuration_page_has_every_setting_its_variable_and_default():
    page = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    for field in dataclasses.fields(Settings):
        assert f"| `envkit.{field.name}` | `INVOKE_ENVKIT_{field.name.upper()}` |" in page
    assert (
        "| `envkit.base_mirror` | `INVOKE_ENVKIT_BASE_MIRROR` | `--mirror` | `http://deb.debian.org/debian` |" in page
    )


def test_the_checks_page_lists_the_registry_in_order():
    page = (ROOT / "docs" / "reference" / "checks.md").read_text()
    listed = re.findall(r"^\| `([a-z_:*]+)` \| (every|dev only) \|", page, flags=re.M)
    assert listed == [
        (f"{c.name}:*" if c.parts else c.name, "every" if c.images == "every" else "dev only") for c in CHECKS
    ]


@dataclass
class Commented:
    """A section."""

    # Above it,
    # on two lines.
    first: str = "a"  # and on its line
    second: tuple[str, ...] = ()

    def method(self) -> None:
        # inside a method: nobody's field
        return None


def test_a_field_s_comment_is_the_lines_above_it_and_the_one_on_its_line():
    assert field_comments(Commented) == {"first": "Above it, on two lines. and on its line"}
    rows = field_rows(Commented)
    assert [(row.key, row.kind, row.default) for row in rows] == [
        ("first", "string", "`a`"),
        ("second", "list of strings", "empty"),
    ]


def test_placeholders_outside_code_are_shown_and_pipes_stay_in_their_cell():
    assert (
        prose("tagged <name>:<variant>, `docker run <image>`")
        == "tagged &lt;name&gt;:&lt;variant&gt;, `docker run <image>`"
    )
    assert cell("a | b\n  c") == "a \\| b c"


def test_the_readme_is_a_short_page_with_ci_s_two_set_up_commands():
    text = README.read_text()
    assert 150 <= len(text.splitlines()) <= 250
    assert f"\n{MAIN_JOB}\n" in text and f"\n{TESTS}\n" in text
    assert TESTS.split(" && ")[1] in (ROOT / ".ci" / "run").read_text()  # what .ci/run calls after its setup


def test_the_readme_has_one_line_per_task_in_the_collection_s_order():
    section = README.read_text().split("## Tasks\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^- `([a-z-]+)`: ", section, flags=re.M) == list(tasks.ns.task_names)
