"""Tracing a shared hvac run's JUnit report back to its modules, on a real pytest run's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hvac_suite.results import module_prefix, outcomes, problems

pytest_plugins = ["pytester"]

MODULES = ("pkg/test_good.py", "pkg/test_bad.py", "pkg/test_idle.py")


@pytest.fixture
def junit_xml(pytester: pytest.Pytester) -> Path:
    """One run of three modules: one passes (plus a strict xfail), one fails a test, one only skips."""
    pytester.makepyfile(
        **{
            "pkg/test_good": """
                import pytest
                class TestGood:
                    def test_one(self): pass
                    def test_two(self): pass
                @pytest.mark.xfail(strict=True)
                def test_known_gap(): assert False
            """,
            "pkg/test_bad": """
                def test_ok(): pass
                def test_broken(): assert False
            """,
            "pkg/test_idle": """
                import pytest
                @pytest.mark.skip(reason="not here")
                def test_skipped(): pass
            """,
        }
    )
    path = pytester.path / "junit.xml"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--junitxml={path}", *MODULES)
    result.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1)
    return path


def test_module_prefix_is_the_dotted_path() -> None:
    assert (
        module_prefix("tests/integration_tests/v1/test_approle.py")
        == "tests.integration_tests.v1.test_approle"
    )


def test_outcomes_are_counted_per_module(junit_xml: Path) -> None:
    by_module = outcomes(junit_xml, MODULES)
    assert by_module["pkg/test_good.py"].passed == 2
    assert by_module["pkg/test_good.py"].failed == []
    assert by_module["pkg/test_bad.py"].passed == 1
    assert by_module["pkg/test_bad.py"].failed == ["pkg.test_bad::test_broken"]
    assert by_module["pkg/test_idle.py"].passed == 0


def test_problems_name_the_failing_and_the_idle_module(junit_xml: Path) -> None:
    found = problems(outcomes(junit_xml, MODULES))
    assert found == ["pkg/test_bad.py: failed pkg.test_bad::test_broken", "pkg/test_idle.py: no test passed"]


def test_a_collection_error_is_charged_to_its_module_and_stops_the_others(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        **{"pkg/test_good": "def test_one(): pass", "pkg/test_broken": "import nowhere_at_all"}
    )
    path = pytester.path / "junit.xml"
    pytester.runpytest(
        "-p", "no:cacheprovider", f"--junitxml={path}", "pkg/test_good.py", "pkg/test_broken.py"
    )
    found = problems(outcomes(path, ("pkg/test_good.py", "pkg/test_broken.py")))
    # pytest stops a session at a collection error, so the good module ran nothing either.
    assert found == ["pkg/test_good.py: no test passed", "pkg/test_broken.py: failed pkg.test_broken"]
