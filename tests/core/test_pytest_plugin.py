"""The pytest plugin, run in real pytest sessions (pytester)."""

from __future__ import annotations

import pytest

# pytest-django (installed for the Django plugin's tests) would set up Django in these runs.
ISOLATED = ("-p", "no:django")

APP = """
from polydatum import DataManager, Service


class Greeter(Service):
    def hello(self):
        return f"hello {self._ctx.meta.user}"

    def db(self):
        return self._ctx.db


dm = DataManager()
dm.register_services(greeter=Greeter())
dm.register_resources(db=lambda ctx: (yield "real db"))
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with a DataManager in myapp.py and the ini option pointing at it."""
    pytester.makepyfile(myapp=APP)
    pytester.makeini("[pytest]\npolydatum_data_manager = myapp:dm\n")
    pytester.syspathinsert()
    return pytester


def test_dal_fixture_opens_a_context_with_marker_meta(project: pytest.Pytester) -> None:
    """The dal fixture gives a DAL in an open context with meta from the datum_meta marker."""
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.mark.datum_meta(user="ann")
        def test_hello(dal, datum_context):
            assert dal.greeter.hello() == "hello ann"
            assert datum_context.meta.user == "ann"
        """
    )
    project.runpytest(*ISOLATED).assert_outcomes(passed=1)


def test_missing_ini_option_says_what_to_set(pytester: pytest.Pytester) -> None:
    """Without the ini option, using dal fails with a message naming the option and the fixture."""
    pytester.makepyfile(test_it="def test_x(dal):\n    pass\n")
    result = pytester.runpytest(*ISOLATED)
    result.stdout.fnmatch_lines(["*Set the polydatum_data_manager ini option*datum_manager*"])
    assert result.ret != 0


def test_bad_path_is_reported(pytester: pytest.Pytester) -> None:
    """An ini option naming something that does not import fails with a clear message."""
    pytester.makeini("[pytest]\npolydatum_data_manager = nowhere.at:all\n")
    pytester.makepyfile(test_it="def test_x(dal):\n    pass\n")
    result = pytester.runpytest(*ISOLATED)
    result.stdout.fnmatch_lines(["*polydatum_data_manager = 'nowhere.at:all' does not import*"])
    assert result.ret != 0


def test_path_to_something_else_names_its_type(pytester: pytest.Pytester) -> None:
    """An ini option naming an int says it "is an int", not a DataManager."""
    pytester.makepyfile(myconf="dm = 3\n", test_it="def test_x(dal):\n    pass\n")
    pytester.makeini("[pytest]\npolydatum_data_manager = myconf:dm\n")
    pytester.syspathinsert()
    result = pytester.runpytest(*ISOLATED)
    result.stdout.fnmatch_lines(
        ["*polydatum_data_manager = 'myconf:dm' is an int, not a polydatum*"]
    )
    assert result.ret != 0


def test_override_is_restored_after_a_failing_test(project: pytest.Pytester) -> None:
    """An override made by a test that fails is gone for the next test."""
    project.makepyfile(
        test_it="""
        from polydatum import Service

        class Fake(Service):
            def hello(self):
                return "fake"

        def test_a_fails_with_override(datum_override, dal):
            datum_override.service("greeter", Fake())
            datum_override.resource("db", lambda ctx: (yield "fake db"))
            assert dal.greeter.hello() == "fake"
            assert dal.greeter.db() == "fake db"
            raise AssertionError("this test fails on purpose")

        def test_b_sees_the_original(dal):
            assert dal.greeter.hello() == "hello None"
            assert dal.greeter.db() == "real db"
        """
    )
    project.runpytest(*ISOLATED).assert_outcomes(passed=1, failed=1)


def test_tracker_fixture_reports_a_leak(project: pytest.Pytester) -> None:
    """datum_tracker.assert_no_leaks() fails a test that leaves a context open, naming the leak."""
    project.makepyfile(
        test_it="""
        def test_leaky(datum_manager, datum_tracker):
            ctx = datum_manager.context().__enter__()
            ctx.db
            try:
                datum_tracker.assert_no_leaks()
            finally:
                ctx.__exit__(None, None, None)
        """
    )
    result = project.runpytest(*ISOLATED)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*resource 'db': set up 1 time(s), torn down 0; 1 still open*"])


def test_async_dal_fixture(project: pytest.Pytester) -> None:
    """adal gives a DAL in an `async with` context for anyio tests."""
    project.makepyfile(
        test_it="""
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        @pytest.mark.datum_meta(user="bob")
        async def test_hello(adal):
            assert adal.greeter.hello() == "hello bob"
        """
    )
    project.runpytest(*ISOLATED).assert_outcomes(passed=1)


def test_datum_manager_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    """A project may override datum_manager instead of setting the ini option."""
    pytester.makepyfile(myapp=APP)
    pytester.syspathinsert()
    pytester.makeconftest(
        """
        import pytest
        import myapp

        @pytest.fixture
        def datum_manager():
            return myapp.dm
        """
    )
    pytester.makepyfile(test_it="def test_x(dal):\n    assert dal.greeter.db() == 'real db'\n")
    pytester.runpytest(*ISOLATED).assert_outcomes(passed=1)


def test_override_made_after_the_tracker_started_is_undone(project: pytest.Pytester) -> None:
    """An override made in the body of a test also using datum_tracker leaves nothing behind."""
    project.makepyfile(
        test_it="""
        import myapp

        ORIGINAL = myapp.dm.get_resource("db")

        def test_a(datum_override, datum_tracker, dal):
            datum_override.resource("db", lambda ctx: (yield "fake db"))
            assert dal.greeter.db() == "fake db"

        def test_b_sees_the_original(datum_manager, dal):
            assert datum_manager.get_resource("db") is ORIGINAL
            assert dal.greeter.db() == "real db"
        """
    )
    project.runpytest(*ISOLATED).assert_outcomes(passed=2)
