"""Template files are checked when loaded: what names a sheet, row, column, parameter or kind the template does not
have is refused, and the message gives the line to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from budgetflow.cli import app
from checks.template import TemplateError, default_template, default_templates, load_template
from tests.test_cli import runner

BUNDLED = Path(__file__).parents[1] / "checks" / "templates" / "spec-v1.yaml"


def _line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def _refused(tmp_path: Path, original: str, changed: str) -> tuple[str, int]:
    """The loader's message for the bundled template with one fragment changed, and the line it is on."""
    text = BUNDLED.read_text(encoding="utf-8")
    assert text.count(original) == 1, original
    edited = text.replace(original, changed)
    path = tmp_path / "province.yaml"
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(TemplateError) as refused:
        load_template(path)
    return str(refused.value), _line_of(edited, changed)


@pytest.mark.parametrize(
    ("original", "changed", "said"),
    [
        ("parts: [inc_general, inc_fund,", "parts: [inc_general, inc_fnd,", "unknown row 'inc_fnd' of sheet summary"),
        ("value: exp_total.actual", "value: exp_total.actul", "unknown column 'actul' of sheet summary"),
        ("limit: exp_total.budget_full", "limit: exp_totl.budget_full", "unknown row 'exp_totl' of sheet summary"),
        ("other_table: summary", "other_table: summry", "unknown sheet 'summry'"),
        ("table: result\n    method: total", "table: results\n    method: total", "unknown sheet 'results'"),
        ("stated: rate", "stated: rates", "unknown column 'rates' of sheet projects"),
        ("only_when_parts_filled: true", "only_when_filled: true", "has no parameter 'only_when_filled'"),
        ("kind: grade", "kind: grades", "rules.27.kind"),
        ("label_header: 项目名称", "label_heder: 项目名称", "label_heder: Extra inputs are not permitted"),
        ("label_header: 三级指标", "label_header: 四级指标", "label_header names none of its columns"),
        (
            "kind: list\n    required: true\n    label_header: 项目名称",
            "kind: table\n    required: true\n    label_header: 项目名称",
            "sheets.projects.kind",
        ),
    ],
)
def test_a_template_that_names_what_it_lacks_is_refused_with_the_line(
    tmp_path: Path, original: str, changed: str, said: str
) -> None:
    message, line = _refused(tmp_path, original, changed)
    assert said in message
    assert f"province.yaml, line {line}:" in message


def test_every_problem_is_listed_each_with_its_own_line(tmp_path: Path) -> None:
    text = BUNDLED.read_text(encoding="utf-8")
    edited = text.replace("other_table: summary", "other_table: summry").replace("stated: rate", "stated: rates")
    path = tmp_path / "two.yaml"
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(TemplateError) as refused:
        load_template(path)
    rates, summry = _line_of(edited, "stated: rates"), _line_of(edited, "other_table: summry")
    assert str(refused.value).splitlines() == [
        f"{path}, line {rates}: rule rate/project-execution: stated names unknown column 'rates' of sheet projects",
        f"{path}, line {summry}: rule cross-sheet/projects: other_table names unknown sheet 'summry'",
    ]


def test_a_file_that_is_not_yaml_or_not_there_is_refused_plainly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nrules: [\n  - id: a\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"broken.yaml, line \d+: not YAML"):
        load_template(broken)
    with pytest.raises(TemplateError, match="cannot be read"):
        load_template(tmp_path / "missing.yaml")
    with pytest.raises(TemplateError, match="not bundled"):
        load_template("spec-v9")


def test_the_bundled_template_loads_and_a_copy_of_it_too(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    copy.write_text(BUNDLED.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_template(copy).rules == default_template().rules


def test_validate_refuses_a_broken_template_before_reading_any_file(tmp_path: Path, sample_inbox: Path) -> None:
    text = BUNDLED.read_text(encoding="utf-8").replace("other_table: summary", "other_table: summry")
    path = tmp_path / "province.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", "--template", str(path), str(sample_inbox)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "模板无法使用" in result.stderr
    assert f"line {_line_of(text, 'other_table: summry')}: rule cross-sheet/projects" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


NATIONAL = Path(__file__).parents[1] / "checks" / "templates" / "national-2023.yaml"


@pytest.mark.parametrize(
    ("original", "changed", "said"),
    [
        (
            "carry_in_fund: {label: 政府性基金预算财政拨款, after: carry_in}",
            "carry_in_fund: {label: 政府性基金预算财政拨款, after: carry_on}",
            "comes after unknown row 'carry_on'",
        ),
        ("    right: [t5.total.total]", "    right: [t5.total.totl]", "unknown column 'totl' of sheet t5"),
        ("    right: [t8.total.total]", "    right: [t88.total.total]", "unknown sheet 't88'"),
        ("  - id: hierarchy/t9\n    kind: hierarchy", "  - id: hierarchy/t9\n    kind: hierarchies", ".kind: Input"),
        ("    codes: {split: [类, 款, 项], name: 科目名称}\n", "", "it needs `codes`"),
        ("    transposed: true", "    transposed: true\n    block: 0", "block counts from 1"),
        ("    right: [t9.total.total]", "    right: t9.total.total", "right is a list"),
        (
            "  - id: hierarchy/t9\n    kind: hierarchy\n    table: t9",
            "  - id: hierarchy/t9\n    kind: hierarchy\n    table: t7",
            "checks a codes sheet",
        ),
        (
            "    left: [t5.total.basic]",
            "    left: [t6_public.total.amount]",
            "its first left cell is on its own sheet t5",
        ),
    ],
)
def test_the_national_template_is_checked_the_same_way(tmp_path: Path, original: str, changed: str, said: str) -> None:
    text = NATIONAL.read_text(encoding="utf-8")
    assert text.count(original) == 1, original
    edited = text.replace(original, changed)
    path = tmp_path / "national.yaml"
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(TemplateError) as refused:
        load_template(path)
    assert said in str(refused.value)
    assert "national.yaml, line " in str(refused.value)


def test_every_bundled_template_loads() -> None:
    assert {template.name for template in default_templates().templates} == {"spec-v1", "national-2023"}
