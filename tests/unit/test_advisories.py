"""env/advisories.toml: which torch a known advisory affects, the line that
fixes it, what info, test and doctor say, and a broken file refused in one
message naming the key."""

import pytest

from envkit.catalog import advisories
from envkit.checks import testrun
from envkit.core.errors import UsageError
from envkit.core.reports import TestReport
from envkit.core.settings import Settings
from envkit.core.validation import validate
from envkit.status import doctor, info
from tests.helpers.reports import report_data


def ids(torch):
    return [advisory.id for advisory in advisories.affecting(torch)]


def test_the_seeds_torch_has_the_three_critical_advisories_and_the_current_line_none():
    assert ids("2.4.1") == ["CVE-2024-48063", "CVE-2025-32434", "CVE-2026-24747"]
    assert ids("2.4.1+cu121") == ids("2.4.1")  # as verify_install measures it
    assert ids("2.5.1") == ["CVE-2025-32434", "CVE-2026-24747"]
    assert ids("2.9.1") == ["CVE-2026-24747"]
    assert ids("2.10.0") == [] and ids("2.15.0+cu132") == []


def test_the_note_names_the_newest_line_that_fixes_them_and_how_to_select_it():
    note = advisories.advisory_note("2.4.1+cu121")
    assert note.startswith("torch 2.4.1 has known advisories: CVE-2024-48063 (critical, fixed in 2.5.0), ")
    assert note.endswith("the current line (torch 2.15.0, `invoke build --cuda 13.2`) fixes them")
    assert advisories.advisory_note("2.15.0") == ""


def test_info_counts_each_variants_advisories_and_says_which_line_fixes_them():
    def state(name, torch, found=()):
        return info.VariantState(name, "env/pip/x.txt", "locked", "torch-env:x", "", "", "", "", "", "", torch, found)

    seed = state("cu121-pip", "2.4.1", ("CVE-2024-48063", "CVE-2025-32434"))
    current = state("cu132-pip", "2.15.0")
    header, *rows, note = info.table([seed, current]).splitlines()
    assert header.split()[-1] == "advisories"
    assert rows[0].endswith("  2") and rows[1].endswith("none known")
    assert note == advisories.advisory_note("2.4.1")


def test_test_report_says_the_measured_torchs_advisories_below_the_verdict():
    report = validate(TestReport, report_data(), "test", "")
    *_, said, verdict, _, _, _ = testrun.report_table(report).splitlines()  # then the three tags
    assert said.startswith("advisories: torch 2.4.1 has known advisories: CVE-2024-48063")
    assert "PASSED" in verdict
    measured = {**report_data()["measured"], "torch": "2.15.0+cu132"}
    current = validate(TestReport, report_data(measured=measured), "test", "")
    assert "advisories" not in testrun.report_table(current)


def test_doctor_warns_for_the_seeds_torch_and_points_at_audit():
    finding = doctor.check_advisories(doctor.Machine(None, Settings(), host_gpus=[]))
    assert finding.state == doctor.WARN and "torch 2.4.1 has known advisories" in finding.detail
    assert "`invoke audit`" in finding.fix


@pytest.fixture
def advisory_file(env_copy):
    return env_copy / "advisories.toml"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('id = "CVE-2025-32434"', 'id = "CVE-2024-48063"', "advisory[1]: CVE-2024-48063 is listed twice"),
        ('aliases = ["GHSA-53q9-r3pm-6pq6"]', 'aliases = ["GHSA-9v5x-r4g7-gqw3"]', "GHSA-9v5x-r4g7-gqw3 is listed"),
        ('fixed_in = "2.6.0"', 'fixed_in = "2.5.0"', "advisory[1].fixed_in: 2.5.0 is inside affected '<2.6.0'"),
        ('affected = "<2.6.0"', 'affected = "before 2.6"', "advisory[1].affected: 'before 2.6' is not"),
        ('affected = "<2.6.0"', 'affected = ""', "advisory[1].affected: is empty"),
        ('fixed_in = "2.6.0"', 'fixed_in = "soon"', "'soon' is not a release number"),
        ('severity = "critical"', 'severity = "bad"', "advisory[0].severity: 'bad' is not one of low"),
        ('summary = "torch.load', 'summary = "   "\nx = "', "advisory[1].x: unknown key"),
        (
            'summary = "torch.load(weights_only=True) can still run code from a crafted checkpoint"',
            'summary = " "',
            "advisory[1].summary: is blank",
        ),
        (
            'source = "https://github.com/advisories/GHSA-53',
            'source = "http://github.com/advisories/GHSA-53',
            "is not an https:// address",
        ),
        ('id = "CVE-2025-32434"', 'id = "CVE 2025"', "'CVE 2025' is not a CVE-YYYY-NNNN"),
        ('package = "torch"\naffected = "<2.6.0"', 'affected = "<2.6.0"', "advisory[1].package: missing"),
    ],
)
def test_a_broken_advisory_file_is_refused_naming_the_key(advisory_file, old, new, message):
    text = advisory_file.read_text()
    assert old in text, old
    advisory_file.write_text(text.replace(old, new, 1))
    with pytest.raises(UsageError) as refusal:
        advisories.advisories()
    assert str(refusal.value).startswith("env/advisories.toml: ")
    assert message in str(refusal.value) and len(str(refusal.value).splitlines()) <= 2


def test_an_advisory_file_saved_as_utf16_is_refused_not_a_traceback(advisory_file):
    advisory_file.write_bytes(advisory_file.read_text().encode("utf-16"))
    with pytest.raises(
        UsageError, match=r"env/advisories.toml: not UTF-8 text \(it starts with a UTF-16 byte-order mark"
    ):
        advisories.advisories()
