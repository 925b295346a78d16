"""The deprecation guard of tests/conftest.py fails revs' deprecated calls, and only those."""

import logging
import warnings

import pytest
from conftest import REVS_SOURCE, DeprecatedCallFromRevs, deprecations_from_revs_fail


def _run_as(filename, source, **names):
    exec(compile(source, filename, "exec"), {"warnings": warnings, **names})


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])
def test_a_deprecation_raised_under_revs_code_fails(category):
    with deprecations_from_revs_fail(), pytest.raises(DeprecatedCallFromRevs, match="old API"):
        _run_as(REVS_SOURCE + "somewhere.py", "warnings.warn('old API', category)",
                category=category)


def test_a_deprecation_raised_elsewhere_is_left_to_pytest():
    with deprecations_from_revs_fail(), pytest.warns(FutureWarning, match="old API"):
        _run_as("/not/revs/library.py", "warnings.warn('old API', FutureWarning)")


def test_other_warnings_under_revs_code_pass():
    with deprecations_from_revs_fail(), pytest.warns(UserWarning, match="nothing to unlearn"):
        _run_as(REVS_SOURCE + "somewhere.py", "warnings.warn('nothing to unlearn', UserWarning)")


def test_a_transformers_deprecation_log_under_revs_code_fails():
    logger = logging.getLogger("transformers.models.fake")
    with deprecations_from_revs_fail(), pytest.raises(DeprecatedCallFromRevs, match="Use `cache`"):
        _run_as(REVS_SOURCE + "somewhere.py",
                "logger.warning('`past_key_values` is deprecated. Use `cache` instead.')",
                logger=logger)
